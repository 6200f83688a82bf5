package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/outrigger-dev/outrigger/internal/controlplane"
)

// What the cluster demo applies and waits for, and how long each wait may take: generous for a 2-core machine
// that is busy, short enough that a demo that is stuck says so.
const (
	clusterKubeconfig = ".e2e/kubeconfig" // written by hack/e2e/up.sh
	deploymentName    = "myapp"
	jobName           = "myapp-batch"
	profileName       = "logshipper"
	sidecarName       = "logshipper"

	admissionTimeout = time.Minute     // the profile applied -> admission gives new workloads the sidecar
	podTimeout       = 3 * time.Minute // the Deployment applied -> its pod Running with the sidecar ready
	shippedTimeout   = time.Minute     // the pod running -> 3 of the app's lines in the sidecar's log
	jobTimeout       = 3 * time.Minute // the Job applied -> Complete
	readyTimeout     = 2 * time.Minute // the pod running and the Job complete -> the profile Ready True
	shippedLines     = 3
)

// runCluster does the demo on hack/e2e's single-node cluster: make e2e-up (which keeps a cluster that is up), the
// samples applied afresh, each thing shown as soon as it happens. With exitEarly, make e2e-down afterwards,
// whatever happened; otherwise the cluster stays up for the user, who is told how to reach and stop it.
func runCluster(ctx context.Context, exitEarly bool) (err error) {
	start := time.Now()
	kubeconfig, err := filepath.Abs(clusterKubeconfig)
	if err != nil {
		return err
	}
	defer func() {
		if exitEarly {
			fmt.Println("\n==> Stopping the cluster (--exit): make e2e-down")
			// Not ctx: after Ctrl-C the cluster must still go.
			if downErr := runMake(context.Background(), "e2e-down"); downErr != nil {
				err = errors.Join(err, fmt.Errorf("make e2e-down: %w: run it again", downErr))
			} else if err == nil {
				fmt.Printf("\n==> Done in %s; nothing left running\n", time.Since(start).Round(time.Second))
			}
		} else if err != nil {
			fmt.Fprintf(os.Stderr, "\nThe cluster stays up for a look: export KUBECONFIG=%s; `make e2e-down` stops it.\n", kubeconfig)
		}
	}()

	fmt.Println("==> Starting the single-node cluster and Outrigger on it: make e2e-up (hack/e2e/README.md)")
	upStart := time.Now()
	if err := runMake(ctx, "e2e-up"); err != nil {
		return fmt.Errorf("make e2e-up: %w (its output is above)", err)
	}
	fmt.Printf("    cluster and Outrigger up in %s\n", time.Since(upStart).Round(time.Second))
	assets, err := controlplane.Assets(".")
	if err != nil {
		return err
	}
	k := kubectl{path: filepath.Join(assets, "kubectl"), kubeconfig: kubeconfig}
	d := clusterDemo{k: k}
	if err := d.show(ctx); err != nil {
		d.diagnose()
		return err
	}
	if exitEarly {
		return nil // the deferred make e2e-down says when it is done
	}
	took := time.Since(start).Round(time.Second)
	kubectlPath := relative(filepath.Join(assets, "kubectl"))
	fmt.Printf(`
==> Done in %s. The cluster and Outrigger keep running; from this shell:
    export KUBECONFIG=%s
    %s get pods,jobs,sidecarprofiles
    %s logs deployment/%s -c %s -f
    make e2e-down    # stops the cluster and cleans up (images and certificates stay in .e2e/ for the next run)
`, took, kubeconfig, kubectlPath, kubectlPath, deploymentName, sidecarName)
	return nil
}

// runMake runs a target of the repository's Makefile with its output on ours. The variables make demo was given
// (E2E_OUTRIGGER=process...) reach it through MAKEFLAGS.
func runMake(ctx context.Context, target string) error {
	cmd := exec.CommandContext(ctx, "make", "--no-print-directory", target)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

// clusterDemo is one run of the demo on the cluster.
type clusterDemo struct {
	k kubectl
	// pod and jobPod are the pods shown, once found.
	pod, jobPod string
}

// show applies the samples and shows, in turn, the pod running with its sidecar, the lines it ships, the Job
// completing and the profile Ready; each bounded in time, each a failure when it does not happen.
func (d *clusterDemo) show(ctx context.Context) error {
	if err := d.removeEarlierRun(ctx); err != nil {
		return err
	}
	if err := d.apply(ctx); err != nil {
		return err
	}
	if err := d.podRunsWithSidecar(ctx); err != nil {
		return err
	}
	if err := d.linesShipped(ctx); err != nil {
		return err
	}
	if err := d.jobCompletes(ctx); err != nil {
		return err
	}
	return d.profileReady(ctx)
}

// removeEarlierRun deletes what an earlier demo left on a cluster that stayed up, so that this one shows it all
// happen again. The pods go with a grace period of 1 s: the samples' shells ignore SIGTERM, and would take 30.
func (d *clusterDemo) removeEarlierRun(ctx context.Context) error {
	left, err := d.k.output(ctx, "get", "job/"+jobName, "deployment/"+deploymentName, "sidecarprofile/"+profileName,
		"--ignore-not-found", "-o", "name")
	if err != nil || strings.TrimSpace(left) == "" {
		return err
	}
	fmt.Println("\n==> Removing what an earlier demo left:", strings.Join(strings.Fields(left), " "))
	steps := [][]string{
		// Orphaned, so that nothing recreates the pods deleted next; the ReplicaSets go with them.
		{"delete", "job/" + jobName, "deployment/" + deploymentName, "--ignore-not-found", "--cascade=orphan"},
		{"delete", "replicasets,pods", "-l", "app in (myapp, myapp-batch)", "--grace-period=1", "--timeout=60s"},
		{"delete", "sidecarprofile/" + profileName, "--ignore-not-found", "--timeout=60s"},
	}
	for _, args := range steps {
		if _, err := d.k.output(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

// apply applies the profile, waits until admission injects with it, then the Deployment and the Job.
func (d *clusterDemo) apply(ctx context.Context) error {
	fmt.Printf("\n==> Applying the samples: the profile first, then the Deployment and the Job (config/samples)\n")
	samples := map[string][]byte{}
	var replaced []string
	for _, path := range []string{profileSample, deploymentSample, jobSample} {
		y, images, err := ForCluster(path)
		if err != nil {
			return err
		}
		samples[path] = y
		replaced = append(replaced, images...)
	}
	slices.Sort(replaced)
	fmt.Printf("    (images %s run as %s: the cluster pulls nothing, hack/e2e/images.sh makes this one)\n",
		strings.Join(slices.Compact(replaced), ", "), clusterImage)
	if err := d.applyOne(ctx, samples[profileSample]); err != nil {
		return err
	}
	// The webhook (or, in policy mode, the apiserver's policy) injects once the manager has seen the profile: a
	// server-side dry run of each workload says when, without creating anything.
	for _, path := range []string{deploymentSample, jobSample} {
		if err := poll(ctx, admissionTimeout, "admission to give "+path+" the "+sidecarName+" sidecar", func() (bool, string, error) {
			names, err := d.k.outputWithInput(ctx, samples[path], "create", "--dry-run=server", "-f", "-", "-o",
				"jsonpath={.spec.template.spec.initContainers[*].name}")
			if err != nil {
				return false, err.Error(), nil
			}
			return slices.Contains(strings.Fields(names), sidecarName), "a dry-run create gives init containers [" + names + "]", nil
		}); err != nil {
			return err
		}
	}
	for _, path := range []string{deploymentSample, jobSample} {
		if err := d.applyOne(ctx, samples[path]); err != nil {
			return err
		}
	}
	// What the apiserver stored: the sidecar is in the workloads as created, a native sidecar.
	_, err := d.k.show(ctx, "get", "deployment/"+deploymentName, "job/"+jobName, "-o",
		`custom-columns=WORKLOAD:.metadata.name,GENERATION:.metadata.generation,INIT-CONTAINERS:.spec.template.spec.initContainers[*].name,RESTART-POLICY:.spec.template.spec.initContainers[*].restartPolicy,CONTAINERS:.spec.template.spec.containers[*].name`)
	if err == nil {
		// make e2e-up installs the webhook unless E2E_ADMISSION=policy (hack/e2e/README.md).
		by := "Outrigger's webhook"
		if os.Getenv("E2E_ADMISSION") == "policy" {
			by = "the admission policy Outrigger made of the profile"
		}
		fmt.Printf("    %s added the logshipper init container with restartPolicy Always (a native sidecar)\n", by)
		fmt.Println("    as each was created (generation 1): the Deployment's first pods and the Job's pod have it.")
	}
	return err
}

// applyOne applies one sample and prints what kubectl says.
func (d *clusterDemo) applyOne(ctx context.Context, y []byte) error {
	out, err := d.k.outputWithInput(ctx, y, "apply", "-f", "-")
	fmt.Print(indent(out))
	return err
}

// podRunsWithSidecar prints the Deployment's pods as they change until one runs with its app and its sidecar
// ready, then shows its containers.
func (d *clusterDemo) podRunsWithSidecar(ctx context.Context) error {
	fmt.Printf("\n==> Waiting up to %s for deployment/%s's pod to run with its sidecar\n", podTimeout, deploymentName)
	table := changes{}
	err := poll(ctx, podTimeout, "deployment/"+deploymentName+"'s pod Running, its app and "+sidecarName+" ready", func() (bool, string, error) {
		if err := table.print(ctx, d.k, "get", "pods", "-l", "app="+deploymentName); err != nil {
			return false, err.Error(), nil
		}
		pods, err := d.pods(ctx, "app="+deploymentName)
		if err != nil {
			return false, err.Error(), nil
		}
		for _, p := range pods {
			if p.DeletionTimestamp == nil && runningWithSidecar(&p) {
				d.pod = p.Name
				return true, "", nil
			}
		}
		return false, table.last, nil
	})
	if err != nil {
		return err
	}
	// Printed again when the last one printed was not yet ready (the poll saw the change first).
	if err := table.print(ctx, d.k, "get", "pods", "-l", "app="+deploymentName); err != nil {
		return err
	}
	_, err = d.k.show(ctx, "get", "pod", d.pod, "-o",
		`custom-columns=NATIVE-SIDECAR:.spec.initContainers[*].name,RESTART-POLICY:.spec.initContainers[*].restartPolicy,STARTED:.status.initContainerStatuses[*].started,READY:.status.initContainerStatuses[*].ready,APP:.spec.containers[*].name,APP-READY:.status.containerStatuses[*].ready`)
	if err == nil {
		fmt.Println("    READY 2/2: the app and the logshipper, which the kubelet started first and keeps running beside it.")
	}
	return err
}

// runningWithSidecar: the pod runs, its sidecar has started and is ready, and so are its app containers.
func runningWithSidecar(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning {
		return false
	}
	sidecar := false
	for _, s := range p.Status.InitContainerStatuses {
		if s.Name == sidecarName {
			sidecar = s.Ready && s.Started != nil && *s.Started
		}
	}
	for _, s := range p.Status.ContainerStatuses {
		if !s.Ready {
			return false
		}
	}
	return sidecar && len(p.Status.ContainerStatuses) > 0
}

// linesShipped waits until the sidecar's log has the app's lines, then shows it.
func (d *clusterDemo) linesShipped(ctx context.Context) error {
	fmt.Printf("\n==> Waiting up to %s for the log shipper to ship %d of the app's lines\n", shippedTimeout, shippedLines)
	err := poll(ctx, shippedTimeout, fmt.Sprintf("%d of the app's lines (\"logging\") in pod %s's %s log", shippedLines, d.pod, sidecarName), func() (bool, string, error) {
		out, err := d.k.output(ctx, "logs", d.pod, "-c", sidecarName)
		if err != nil {
			return false, err.Error(), nil
		}
		return count(out, "logging") >= shippedLines, fmt.Sprintf("its log so far:\n%s", indent(out)), nil
	})
	if err != nil {
		return err
	}
	if _, err := d.k.show(ctx, "logs", d.pod, "-c", sidecarName, "--tail=8"); err != nil {
		return err
	}
	fmt.Println("    The app writes \"logging\" to /opt/logs.txt every second; the sidecar tails that file (the emptyDir the")
	fmt.Println("    profile mounts in both) and ships each line: here, to its own output. Its first lines, from busybox's")
	fmt.Println("    tail, say that the file was not there yet: the sidecar starts before the app.")
	return nil
}

// jobCompletes prints the Job's pod as it changes until the Job is Complete, then shows the pod's containers and
// what its sidecar shipped.
func (d *clusterDemo) jobCompletes(ctx context.Context) error {
	fmt.Printf("\n==> Waiting up to %s for job/%s to complete, with its sidecar\n", jobTimeout, jobName)
	selector := batchv1.JobNameLabel + "=" + jobName
	table := changes{}
	err := poll(ctx, jobTimeout, "job/"+jobName+" Complete", func() (bool, string, error) {
		if err := table.print(ctx, d.k, "get", "pods", "-l", selector); err != nil {
			return false, err.Error(), nil
		}
		out, err := d.k.output(ctx, "get", "job", jobName, "-o", "json")
		if err != nil {
			return false, err.Error(), nil
		}
		var job batchv1.Job
		if err := json.Unmarshal([]byte(out), &job); err != nil {
			return false, "", err
		}
		for _, c := range job.Status.Conditions {
			if c.Status != corev1.ConditionTrue {
				continue
			}
			switch c.Type {
			case batchv1.JobComplete:
				return true, "", nil
			case batchv1.JobFailed:
				return false, "", fmt.Errorf("job/%s failed: %s: %s", jobName, c.Reason, c.Message)
			}
		}
		return false, table.last, nil
	})
	if err != nil {
		return err
	}
	if err := table.print(ctx, d.k, "get", "pods", "-l", selector); err != nil {
		return err
	}
	pods, err := d.pods(ctx, selector)
	if err != nil || len(pods) == 0 {
		return fmt.Errorf("the pod of job/%s: %v", jobName, err)
	}
	d.jobPod = pods[0].Name
	if _, err := d.k.show(ctx, "get", "job", jobName); err != nil {
		return err
	}
	if _, err := d.k.show(ctx, "get", "pod", d.jobPod, "-o",
		`custom-columns=NATIVE-SIDECAR:.spec.initContainers[*].name,RESTART-POLICY:.spec.initContainers[*].restartPolicy,SIDECAR-EXIT-CODE:.status.initContainerStatuses[*].state.terminated.exitCode,APP:.spec.containers[*].name,APP-EXIT-CODE:.status.containerStatuses[*].state.terminated.exitCode,PHASE:.status.phase`); err != nil {
		return err
	}
	fmt.Println("    The app exited 0, then the kubelet stopped the sidecar, and the Job completed: a native sidecar does not")
	fmt.Println("    keep a Job running, and its exit code does not fail the pod. Here it is 137: the sample shipper, busybox's")
	fmt.Println("    tail, ignores SIGTERM (it is PID 1 in its container), so the kubelet killed it once the pod's grace period")
	fmt.Println("    (30 s) was over. A real shipper flushes and exits on SIGTERM.")
	out, err := d.k.show(ctx, "logs", d.jobPod, "-c", sidecarName)
	if err != nil {
		return err
	}
	if count(out, "batch step") == 0 {
		return fmt.Errorf("pod %s's %s shipped none of the Job's lines (\"batch step ...\")", d.jobPod, sidecarName)
	}
	return nil
}

// profileReady waits until the profile is Ready and shows it.
func (d *clusterDemo) profileReady(ctx context.Context) error {
	fmt.Printf("\n==> Waiting up to %s for sidecarprofile/%s to be Ready\n", readyTimeout, profileName)
	err := poll(ctx, readyTimeout, "sidecarprofile/"+profileName+" Ready True", func() (bool, string, error) {
		out, err := d.k.output(ctx, "get", "sidecarprofile", profileName, "-o",
			`jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].reason}: {.status.conditions[?(@.type=="Ready")].message}`)
		if err != nil {
			return false, err.Error(), nil
		}
		return strings.HasPrefix(out, "True "), "Ready " + out, nil
	})
	if err != nil {
		return err
	}
	if _, err := d.k.show(ctx, "get", "sidecarprofile", "-o", "wide"); err != nil {
		return err
	}
	fmt.Println("    Ready True: every workload the profile selects has the sidecar, rolled out, healthy.")
	return nil
}

// pods lists the pods of a label selector.
func (d *clusterDemo) pods(ctx context.Context, selector string) ([]corev1.Pod, error) {
	out, err := d.k.output(ctx, "get", "pods", "-l", selector, "-o", "json")
	if err != nil {
		return nil, err
	}
	var list corev1.PodList
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return nil, fmt.Errorf("kubectl get pods -l %s: %w", selector, err)
	}
	return list.Items, nil
}

// diagnose prints, after a failure, what there is to see: the workloads, their pods, recent events and the end of
// Outrigger's log. Best effort, and bounded: the cluster may be what failed.
func (d *clusterDemo) diagnose() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fmt.Fprintln(os.Stderr, "\n==> What the cluster shows (namespace default)")
	for _, args := range [][]string{
		{"get", "sidecarprofiles,deployments,jobs,pods", "-o", "wide"},
		{"get", "events", "--sort-by=.lastTimestamp"},
		{"-n", "outrigger-system", "logs", "deployment/outrigger-controller-manager", "--tail=10"},
	} {
		out, err := d.k.output(ctx, args...)
		if err != nil {
			out = err.Error()
		}
		lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
		lines = lines[max(0, len(lines)-20):]
		for i, l := range lines {
			if len(l) > 240 { // the manager's JSON lines, with stack traces
				lines[i] = l[:240] + " ..."
			}
		}
		fmt.Fprintf(os.Stderr, "\n$ kubectl %s\n%s", strings.Join(quoted(args), " "), indent(strings.Join(lines, "\n")))
	}
}

// changes prints a kubectl table each time it changes, beyond its AGE column: its header once, then the rows,
// in columns that stay aligned from one print to the next (kubectl aligns each output on its own).
type changes struct {
	widths []int  // of the columns printed so far
	last   string // the rows last printed, without their age
}

func (c *changes) print(ctx context.Context, k kubectl, args ...string) error {
	out, err := k.output(ctx, args...)
	if err != nil {
		return err
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) < 2 {
		return nil // "No resources found" goes to stderr: nothing yet
	}
	var rows []string
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		rows = append(rows, strings.Join(f[:len(f)-1], " "))
	}
	now := strings.Join(rows, "\n")
	if now == c.last {
		return nil
	}
	header := c.widths == nil
	c.fit(lines)
	if header {
		fmt.Printf("\n$ kubectl %s   (printed as it changes)\n", strings.Join(quoted(args), " "))
		c.printRow(lines[0])
	}
	for _, l := range lines[1:] {
		c.printRow(l)
	}
	c.last = now
	return nil
}

// fit widens the columns to the fields of lines, the first of which is the header: each field and three spaces,
// at least 10, and 20 for STATUS, whose values (Init:0/1, PodInitializing, Completed) change the most.
func (c *changes) fit(lines []string) {
	head := strings.Fields(lines[0])
	if c.widths == nil {
		for _, h := range head {
			w := max(len(h)+3, 10)
			if h == "STATUS" {
				w = 20
			}
			c.widths = append(c.widths, w)
		}
	}
	for _, l := range lines {
		if f := strings.Fields(l); len(f) == len(c.widths) {
			for i, x := range f {
				c.widths[i] = max(c.widths[i], len(x)+3)
			}
		}
	}
}

// printRow prints one line of a kubectl table in the columns of the lines printed before; a line whose fields
// are not one a column (RESTARTS "1 (5s ago)") is printed as it is.
func (c *changes) printRow(line string) {
	f := strings.Fields(line)
	if len(f) != len(c.widths) {
		fmt.Print(indent(line))
		return
	}
	var b strings.Builder
	for i, x := range f {
		if i < len(f)-1 {
			x += strings.Repeat(" ", max(c.widths[i]-len(x), 1))
		}
		b.WriteString(x)
	}
	fmt.Print(indent(b.String()))
}

// poll calls cond every second until it is done, fails or timeout passes; the failure names what was awaited and
// the last detail cond gave.
func poll(ctx context.Context, timeout time.Duration, what string, cond func() (done bool, detail string, err error)) error {
	deadline := time.After(timeout)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		done, detail, err := cond()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("interrupted while waiting for %s", what)
		case <-deadline:
			return fmt.Errorf("%s: not within %s; last seen: %s", what, timeout, strings.TrimSpace(detail))
		case <-tick.C:
		}
	}
}

// count counts the lines of s that contain sub.
func count(s, sub string) int {
	n := 0
	for l := range strings.Lines(s) {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}

// relative returns path relative to the working directory (the repository root) when it is inside it: shorter to
// copy, and the Makefile passes an absolute KUBEBUILDER_ASSETS.
func relative(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, abs); err == nil && !strings.HasPrefix(rel, "..") {
			return rel
		}
	}
	return abs
}
