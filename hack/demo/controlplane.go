package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/outrigger-dev/outrigger/internal/controlplane"
)

// How long the control-plane demo waits for the manager to serve and for it to inject the Deployment.
const (
	injectTimeout       = 60 * time.Second
	managerReadyTimeout = 60 * time.Second
)

// runControlPlane does the demo on a local control plane; each step it starts is stopped by a deferred call, in reverse order, whatever happens.
func runControlPlane(ctx context.Context, exitEarly bool) (err error) {
	if _, err := os.Stat(managerBinary); err != nil {
		return fmt.Errorf("%s not found: run `make build` (make demo does it for you)", managerBinary)
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
	readyCtx, cancel := context.WithTimeout(ctx, managerReadyTimeout)
	defer cancel()
	if err := mgr.WaitReady(readyCtx); err != nil {
		return err
	}

	// The profile first, as a platform team would have it in place before the app team deploys; once the manager
	// has seen it, its admission webhook gives the Deployment the sidecar as it is created.
	fmt.Println("==> Applying the samples")
	if err := k.run(ctx, "apply", "-f", profileSample); err != nil {
		return err
	}
	if err := k.run(ctx, "wait", "--for=jsonpath={.status.observedGeneration}=1", "--timeout=60s", "sidecarprofile/logshipper"); err != nil {
		return fmt.Errorf("the manager did not pick up the profile (see %s): %w", logPath, err)
	}
	if err := k.run(ctx, "apply", "-f", deploymentSample); err != nil {
		return err
	}
	if err := waitForInjection(ctx, k, mgr); err != nil {
		return err
	}
	if err := showControlPlane(ctx, k); err != nil {
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

// waitForInjection polls the Deployment until its pod template has the logshipper init container.
func waitForInjection(ctx context.Context, k kubectl, m *controlplane.Manager) error {
	fmt.Printf("==> Waiting up to %s for Outrigger to inject the logshipper sidecar into deployment/myapp\n",
		injectTimeout)
	deadline := time.After(injectTimeout)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		names, err := k.output(ctx, "get", "deployment", "myapp", "-o", "jsonpath={.spec.template.spec.initContainers[*].name}")
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

// showControlPlane prints what Outrigger did, under the kubectl commands that show it.
func showControlPlane(ctx context.Context, k kubectl) error {
	// Only the pod template: the rest of the Deployment is as applied, and its last-applied-configuration
	// annotation would repeat the template as it was before the injection.
	fmt.Println("\n==> kubectl get deployment myapp -o yaml   (spec.template only)")
	tmpl, err := k.output(ctx, "get", "deployment", "myapp", "-o", "jsonpath={.spec.template}")
	if err != nil {
		return err
	}
	out, err := yaml.JSONToYAML([]byte(tmpl))
	if err != nil {
		return fmt.Errorf("converting the pod template to YAML: %w", err)
	}
	fmt.Print(string(out))
	gen, err := k.output(ctx, "get", "deployment", "myapp", "-o", "jsonpath={.metadata.generation}")
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
	if _, err := k.output(ctx, "wait", "--for=jsonpath={.status.injected}=1", "--timeout=30s", "sidecarprofile/logshipper"); err != nil {
		return fmt.Errorf("the profile's status does not count the injected Deployment: %w", err)
	}
	fmt.Println("\n==> kubectl get sidecarprofiles -o wide")
	if err := k.run(ctx, "get", "sidecarprofiles", "-o", "wide"); err != nil {
		return err
	}
	fmt.Println("\n    READY stays False (Reconciling: RollingOut) here: this control plane has no kube-controller-manager and no")
	fmt.Println("    node, so the Deployment never rolls out. On a real cluster it turns True once the pods run the sidecar:")
	fmt.Println("    `make demo DEMO=cluster` shows it on a single-node cluster (Linux amd64, as root).")
	return nil
}

func printHowToConnect(assets, kubeconfig, logPath string) {
	kubectlPath := relative(filepath.Join(assets, "kubectl"))
	fmt.Printf(`
==> The control plane and the manager keep running until you press Ctrl-C. From another terminal:
    export KUBECONFIG=%s
    %s get sidecarprofiles
    %s get deployment myapp -o yaml
The manager's log: %s
`, kubeconfig, kubectlPath, kubectlPath, logPath)
}
