// Command demo is the first thing to run in this repository. Where it can (Linux amd64, as root: CI and the
// development machines), it starts the project's single-node cluster (hack/e2e: containerd, a kubelet, the
// control plane), installs Outrigger on it, applies the samples in config/samples and shows, as it happens, the
// sample Deployment's pod running with its log-shipper sidecar, the lines the sidecar ships, the sample Job
// completing with its sidecar, and the profile Ready. Elsewhere it starts a local control plane (kube-apiserver and
// etcd, no node, so no pod runs), runs the manager against it and shows the Deployment with the sidecar Outrigger
// injected; it says in one line why it did not run the cluster.
//
// Run it from the repository root with `make demo` (which builds bin/manager and the Kubernetes binaries first),
// or `go run ./hack/demo` once they are built. --mode=cluster or --mode=controlplane (make demo DEMO=...) picks
// one instead of letting the demo choose. With --exit it stops everything it ran once it has shown it: the
// cluster (make e2e-down) or the control plane. Without it, the cluster stays up for you to look at (the demo says
// how, and that `make e2e-down` stops it), and the control plane until Ctrl-C.
//
// Every step is bounded in time: a pod that does not run with its sidecar, a log line that is not shipped, a Job
// that does not complete or a profile that does not turn Ready fails the demo with a non-zero exit and a message.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Paths are relative to the repository root, where `make demo` runs.
const (
	profileSample    = "config/samples/sidecars_v1alpha1_sidecarprofile.yaml"
	deploymentSample = "config/samples/deployment-myapp.yaml"
	jobSample        = "config/samples/job-myapp-batch.yaml"
	managerBinary    = "bin/manager"
	demoDir          = "bin/demo" // kubeconfig, manager log and kubectl's cache; git-ignored like all of bin/
)

func main() {
	exitEarly := flag.Bool("exit", false, "stop everything the demo ran once it has shown it, instead of leaving it up")
	mode := flag.String("mode", string(ModeAuto), "where to run: auto (the cluster where this machine can run it), "+
		"cluster (hack/e2e's single-node cluster: Linux amd64, root) or controlplane (kube-apiserver and etcd, no pods)")
	flag.Parse()

	// Caught rather than fatal, so that Ctrl-C at any point still stops what the demo started.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, Mode(*mode), *exitEarly)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "\ndemo failed:", err)
		os.Exit(1)
	}
}

// run picks the mode, says which and why, and runs the demo in it.
func run(ctx context.Context, requested Mode, exitEarly bool) error {
	if _, err := os.Stat(profileSample); err != nil {
		return fmt.Errorf("%s not found: run the demo from the repository root (make demo)", profileSample)
	}
	if err := os.MkdirAll(demoDir, 0o755); err != nil {
		return err
	}
	host := Host{}
	if requested != ModeControlPlane {
		host = ProbeHost(ctx)
	}
	mode, why, err := Choose(requested, host)
	if err != nil {
		return fmt.Errorf("%w (make demo DEMO=controlplane runs the demo without it)", err)
	}
	fmt.Println("==> Running on", why)
	if mode == ModeCluster {
		return runCluster(ctx, exitEarly)
	}
	return runControlPlane(ctx, exitEarly)
}
