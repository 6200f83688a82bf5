// Command demo is the first thing to run in this repository: it starts a local control plane (kube-apiserver and
// etcd, no nodes, so no pods run), runs the manager against it, applies the samples in config/samples and shows
// the Deployment with the log-shipper sidecar that Outrigger injected.
//
// Run it from the repository root with `make demo` (which builds bin/manager and the Kubernetes binaries first),
// or `go run ./hack/demo` once they are built. With --exit it stops everything as soon as the sidecar is there,
// instead of leaving the control plane up until Ctrl-C.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/outrigger-dev/outrigger/internal/controlplane"
)

// Paths are relative to the repository root, where `make demo` runs.
const (
	profileSample    = "config/samples/sidecars_v1alpha1_sidecarprofile.yaml"
	deploymentSample = "config/samples/deployment-myapp.yaml"
	managerBinary    = "bin/manager"
	demoDir          = "bin/demo" // kubeconfig, manager log and kubectl's cache; git-ignored like all of bin/

	injectTimeout = 60 * time.Second
	readyTimeout  = 60 * time.Second
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
	if err := checkPrerequisites(); err != nil {
		return err
	}
	if err := os.MkdirAll(demoDir, 0o755); err != nil {
		return err
	}

	fmt.Println("==> Starting a local control plane (kube-apiserver and etcd) with Outrigger's CRDs")
	// The webhook configurations as shipped; envtest points them at a local port with its own serving
	// certificate, which the manager is given.
	env, err := controlplane.Start(".", controlplane.Options{CRDs: true, Webhooks: true})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, env.Stop()) }()

	kubeconfig, err := filepath.Abs(filepath.Join(demoDir, "kubeconfig"))
	if err != nil {
		return err
	}
	// A cluster-admin kubeconfig for the manager and for the person running the demo.
	if err := env.WriteAdminKubeconfig("demo-admin", kubeconfig); err != nil {
		return err
	}
	k := kubectl{path: filepath.Join(env.Assets, "kubectl"), kubeconfig: kubeconfig}

	fmt.Println("==> Starting the manager")
	logPath := filepath.Join(demoDir, "manager.log")
	_ = os.Remove(logPath)
	mgr, err := controlplane.StartManager(controlplane.ManagerOptions{Binary: managerBinary, Kubeconfig: kubeconfig,
		LogPath: logPath, Webhook: env.WebhookInstallOptions, Observable: true})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, mgr.Stop()) }()
	fmt.Printf("    pid %d, log in %s\n", mgr.Pid(), logPath)
	// The profiles' validating webhook fails closed (failurePolicy Fail, docs/security.md): a profile applied before
	// the manager serves it would be refused. Ready means the webhook server serves.
	readyCtx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := mgr.WaitReady(readyCtx); err != nil {
		return err
	}

	// The profile first, as a platform team would have it in place before the app team deploys; once the manager
	// has seen it, its admission webhook gives the Deployment the sidecar as it is created.
	fmt.Println("==> Applying the samples")
	if err := k.run("apply", "-f", profileSample); err != nil {
		return err
	}
	if err := k.run("wait", "--for=jsonpath={.status.observedGeneration}=1", "--timeout=60s", "sidecarprofile/logshipper"); err != nil {
		return fmt.Errorf("the manager did not pick up the profile (see %s): %w", logPath, err)
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
	printHowToConnect(env.Assets, kubeconfig, logPath)
	<-ctx.Done()
	fmt.Println("\n==> Stopping the manager and the control plane")
	return nil
}

// checkPrerequisites fails early, with the command that fixes it, rather than deep inside envtest. The
// Kubernetes binaries are checked by controlplane.Start.
func checkPrerequisites() error {
	if _, err := os.Stat(profileSample); err != nil {
		return fmt.Errorf("%s not found: run the demo from the repository root (make demo)", profileSample)
	}
	if _, err := os.Stat(managerBinary); err != nil {
		return fmt.Errorf("%s not found: run `make build` (make demo does it for you)", managerBinary)
	}
	return nil
}

// waitForInjection polls the Deployment until its pod template has the logshipper init container.
func waitForInjection(ctx context.Context, k kubectl, m *controlplane.Manager) error {
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
		case <-m.Exited():
			return fmt.Errorf("the manager exited (%v) before injecting the sidecar; last lines of %s:\n%s",
				m.ExitErr(), m.Options.LogPath, controlplane.Tail(m.Options.LogPath, 20))
		case <-deadline:
			return fmt.Errorf("deployment/myapp has no logshipper init container after %s; last lines of %s:\n%s",
				injectTimeout, m.Options.LogPath, controlplane.Tail(m.Options.LogPath, 20))
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

	// The status follows within a second or two (it is recomputed once per burst of changes).
	if _, err := k.output("wait", "--for=jsonpath={.status.injected}=1", "--timeout=30s", "sidecarprofile/logshipper"); err != nil {
		return fmt.Errorf("the profile's status does not count the injected Deployment: %w", err)
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
