// Command demo is the first thing to run in this repository: it starts a local control plane (kube-apiserver and
// etcd, no nodes, so no pods run), runs the manager against it, applies the samples in config/samples and shows
// the Deployment with the log-shipper sidecar that Outrigger injected.
//
// Run it from the repository root with `make demo` (which builds bin/manager and the Kubernetes binaries first),
// or `go run ./hack/demo` once they are built. With --exit it stops everything as soon as the sidecar is there,
// instead of leaving the control plane up until Ctrl-C.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"
)

// Paths are relative to the repository root, where `make demo` runs.
const (
	defaultAssets    = "bin/k8s/v1.37.1" // what `make envtest-binaries` builds; KUBEBUILDER_ASSETS overrides it
	crdDir           = "config/crd/bases"
	webhookManifests = "config/webhook/manifests.yaml"
	profileSample    = "config/samples/sidecars_v1alpha1_sidecarprofile.yaml"
	deploymentSample = "config/samples/deployment-myapp.yaml"
	managerBinary    = "bin/manager"
	demoDir          = "bin/demo" // kubeconfig, manager log and kubectl's cache; git-ignored like all of bin/

	injectTimeout   = 60 * time.Second
	managerStopWait = 5 * time.Second
)

func main() {
	exitEarly := flag.Bool("exit", false, "stop everything once the sidecar is injected, instead of waiting for Ctrl-C")
	flag.Parse()

	// Caught rather than fatal, so that Ctrl-C at any point still stops the manager and the control plane.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, *exitEarly)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "\ndemo failed:", err)
		os.Exit(1)
	}
}

// run does the demo; each step it starts is stopped by a deferred call, in reverse order, whatever happens.
func run(ctx context.Context, exitEarly bool) (err error) {
	assets := cmp.Or(os.Getenv("KUBEBUILDER_ASSETS"), defaultAssets)
	if err := checkPrerequisites(assets); err != nil {
		return err
	}
	if err := os.MkdirAll(demoDir, 0o755); err != nil {
		return err
	}

	fmt.Println("==> Starting a local control plane (kube-apiserver and etcd) with Outrigger's CRDs")
	env, err := startControlPlane(assets)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stopControlPlane(env)) }()

	kubeconfig, err := writeKubeconfig(env)
	if err != nil {
		return err
	}
	k := kubectl{path: filepath.Join(assets, "kubectl"), kubeconfig: kubeconfig}

	fmt.Println("==> Starting the manager")
	mgr, err := startManager(kubeconfig, env.WebhookInstallOptions)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, mgr.stop()) }()
	// The profiles' validating webhook fails closed (failurePolicy Fail, docs/security.md): a profile applied before
	// the manager serves it would be refused.
	webhookAddr := net.JoinHostPort(env.WebhookInstallOptions.LocalServingHost, strconv.Itoa(env.WebhookInstallOptions.LocalServingPort))
	if err := waitForListener(webhookAddr, 60*time.Second); err != nil {
		return fmt.Errorf("the manager's webhook server did not start (see %s): %w", mgr.logPath, err)
	}

	// The profile first, as a platform team would have it in place before the app team deploys; once the manager
	// has seen it, its admission webhook gives the Deployment the sidecar as it is created.
	fmt.Println("==> Applying the samples")
	if err := k.run("apply", "-f", profileSample); err != nil {
		return err
	}
	if err := k.run("wait", "--for=jsonpath={.status.observedGeneration}=1", "--timeout=60s", "sidecarprofile/logshipper"); err != nil {
		return fmt.Errorf("the manager did not pick up the profile (see %s): %w", mgr.logPath, err)
	}
	if err := k.run("apply", "-f", deploymentSample); err != nil {
		return err
	}
	if err := waitForInjection(ctx, k, mgr); err != nil {
		return err
	}
	if err := show(k); err != nil {
		return err
	}

	if exitEarly {
		fmt.Println("\n==> Done (--exit): stopping the manager and the control plane")
		return nil
	}
	printHowToConnect(assets, kubeconfig, mgr.logPath)
	<-ctx.Done()
	fmt.Println("\n==> Stopping the manager and the control plane")
	return nil
}

// checkPrerequisites fails early, with the command that fixes it, rather than deep inside envtest.
func checkPrerequisites(assets string) error {
	if _, err := os.Stat(profileSample); err != nil {
		return fmt.Errorf("%s not found: run the demo from the repository root (make demo)", profileSample)
	}
	for _, bin := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			return fmt.Errorf("%s not found: run `make envtest-binaries` to build kube-apiserver, etcd and kubectl "+
				"(make demo does it for you)", filepath.Join(assets, bin))
		}
	}
	if _, err := os.Stat(managerBinary); err != nil {
		return fmt.Errorf("%s not found: run `make build` (make demo does it for you)", managerBinary)
	}
	return nil
}

func startControlPlane(assets string) (*envtest.Environment, error) {
	// envtest logs through controller-runtime's logger; without one it complains after 30s. Its errors are
	// returned anyway.
	ctrllog.SetLogger(logr.Discard())
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{crdDir},
		ErrorIfCRDPathMissing: true,
		// The webhook configurations as shipped; envtest points them at a local port with its own serving
		// certificate, which the manager is given below.
		WebhookInstallOptions: envtest.WebhookInstallOptions{Paths: []string{webhookManifests}},
	}
	if _, err := env.Start(); err != nil {
		// Start can fail after etcd and the apiserver are up (installing the CRDs): stop what did start.
		_ = env.Stop()
		return nil, fmt.Errorf("starting the control plane: %w", err)
	}
	return env, nil
}

func stopControlPlane(env *envtest.Environment) error {
	if err := env.Stop(); err != nil {
		return fmt.Errorf("stopping the control plane: %w", err)
	}
	return nil
}

// writeKubeconfig gives the manager, and the person running the demo, a cluster-admin kubeconfig.
func writeKubeconfig(env *envtest.Environment) (string, error) {
	user, err := env.AddUser(envtest.User{Name: "demo-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", fmt.Errorf("creating the demo-admin user: %w", err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		return "", fmt.Errorf("creating the kubeconfig: %w", err)
	}
	path, err := filepath.Abs(filepath.Join(demoDir, "kubeconfig"))
	if err != nil {
		return "", err
	}
	// 0600: it holds a client key for a system:masters user.
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return "", fmt.Errorf("writing the kubeconfig: %w", err)
	}
	return path, nil
}

// manager is the running bin/manager subprocess.
type manager struct {
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{} // closed once the process has exited; then err holds its exit status
	err     error
}

func startManager(kubeconfig string, wh envtest.WebhookInstallOptions) (*manager, error) {
	logPath := filepath.Join(demoDir, "manager.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	// No health probe or metrics listeners: nothing scrapes or probes them here, and fixed ports could be taken.
	// The webhook serves with the certificate envtest made (external mode): the apiserver already trusts it.
	cmd := exec.Command(managerBinary, "--health-probe-bind-address=0", "--metrics-bind-address=0",
		"--webhook-cert-mode=external", "--webhook-cert-dir="+wh.LocalServingCertDir,
		"--webhook-host="+wh.LocalServingHost, fmt.Sprintf("--webhook-port=%d", wh.LocalServingPort))
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group, so that Ctrl-C in the terminal reaches only us and the manager gets one SIGTERM
	// from stop: controller-runtime exits at once, skipping its graceful shutdown, on a second signal.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", managerBinary, err)
	}
	m := &manager{cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		m.err = cmd.Wait()
		logFile.Close()
		close(m.exited)
	}()
	fmt.Printf("    pid %d, log in %s\n", cmd.Process.Pid, logPath)
	return m, nil
}

// stop asks the manager to shut down cleanly (SIGTERM) and kills it if it has not within managerStopWait.
func (m *manager) stop() error {
	select {
	case <-m.exited:
		return nil // already gone; waitForInjection reported why if it mattered
	default:
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
		return nil
	case <-time.After(managerStopWait):
		_ = m.cmd.Process.Kill()
		<-m.exited
		return fmt.Errorf("the manager did not stop within %s of SIGTERM and was killed; see %s",
			managerStopWait, m.logPath)
	}
}

// waitForInjection polls the Deployment until its pod template has the logshipper init container.
func waitForInjection(ctx context.Context, k kubectl, m *manager) error {
	fmt.Printf("==> Waiting up to %s for Outrigger to inject the logshipper sidecar into deployment/myapp\n",
		injectTimeout)
	deadline := time.After(injectTimeout)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		names, err := k.output("get", "deployment", "myapp", "-o", "jsonpath={.spec.template.spec.initContainers[*].name}")
		if err == nil && slices.Contains(strings.Fields(names), "logshipper") {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("interrupted")
		case <-m.exited:
			return fmt.Errorf("the manager exited (%v) before injecting the sidecar; last lines of %s:\n%s",
				m.err, m.logPath, tail(m.logPath, 20))
		case <-deadline:
			return fmt.Errorf("deployment/myapp has no logshipper init container after %s; last lines of %s:\n%s",
				injectTimeout, m.logPath, tail(m.logPath, 20))
		case <-tick.C:
		}
	}
}

// show prints what Outrigger did, under the kubectl commands that show it.
func show(k kubectl) error {
	// Only the pod template: the rest of the Deployment is as applied, and its last-applied-configuration
	// annotation would repeat the template as it was before the injection.
	fmt.Println("\n==> kubectl get deployment myapp -o yaml   (spec.template only)")
	tmpl, err := k.output("get", "deployment", "myapp", "-o", "jsonpath={.spec.template}")
	if err != nil {
		return err
	}
	out, err := yaml.JSONToYAML([]byte(tmpl))
	if err != nil {
		return fmt.Errorf("converting the pod template to YAML: %w", err)
	}
	fmt.Print(string(out))
	gen, err := k.output("get", "deployment", "myapp", "-o", "jsonpath={.metadata.generation}")
	if err != nil {
		return err
	}
	fmt.Printf("\n    generation %s: ", gen)
	if gen == "1" {
		fmt.Println("the admission webhook injected the sidecar as the Deployment was created, so its first rollout has it")
	} else {
		fmt.Println("the reconciler injected the sidecar after creation (the webhook was not reached)")
	}

	fmt.Println("\n==> kubectl get sidecarprofiles -o wide")
	if err := k.run("get", "sidecarprofiles", "-o", "wide"); err != nil {
		return err
	}
	fmt.Println("\n    READY stays False (Reconciling: RollingOut) here: this control plane has no kube-controller-manager and no")
	fmt.Println("    node, so the Deployment never rolls out. On a real cluster it turns True once the pods run the sidecar.")
	return nil
}

func printHowToConnect(assets, kubeconfig, logPath string) {
	// Relative to the repository root when it is inside: shorter to copy, and the Makefile passes an absolute
	// KUBEBUILDER_ASSETS.
	kubectlPath, _ := filepath.Abs(filepath.Join(assets, "kubectl"))
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, kubectlPath); err == nil && !strings.HasPrefix(rel, "..") {
			kubectlPath = rel
		}
	}
	fmt.Printf(`
==> The control plane and the manager keep running until you press Ctrl-C. From another terminal:
    export KUBECONFIG=%s
    %s get sidecarprofiles
    %s get deployment myapp -o yaml
The manager's log: %s
`, kubeconfig, kubectlPath, kubectlPath, logPath)
}

// kubectl runs the kubectl built next to kube-apiserver against the demo's control plane.
type kubectl struct {
	path, kubeconfig string
}

func (k kubectl) command(args ...string) *exec.Cmd {
	// Its own discovery cache, so that every run (a new apiserver port each time) does not add one to ~/.kube.
	global := []string{"--kubeconfig", k.kubeconfig, "--cache-dir", filepath.Join(demoDir, "kube-cache")}
	return exec.Command(k.path, append(global, args...)...)
}

// run runs kubectl with its output on ours.
func (k kubectl) run(args ...string) error {
	cmd := k.command(args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kubectl %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// output runs kubectl and returns its standard output; its standard error goes into the error.
func (k kubectl) output(args ...string) (string, error) {
	out, err := k.command(args...).Output()
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		return "", fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, ee.Stderr)
	}
	return string(out), err
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// waitForListener returns once something accepts TCP connections at addr.
func waitForListener(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return conn.Close()
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
