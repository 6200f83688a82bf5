// Package cli checks that the outrigger CLI (internal/offline, what `outrigger inject` and `explain` run) and a
// real cluster agree on the profiles of test/profilecases: the CLI refuses exactly what the apiserver and
// Outrigger's validating webhook refuse, with their messages; it reports the workloads whose profile's status
// needs attention; and on profiles that leave defaulted fields out it writes the injection annotation, revision
// included, that the mutating webhook stores.
//
// The cluster is kube-apiserver and etcd from internal/controlplane with Outrigger's CRDs and webhook
// configurations, and Outrigger's manager (webhooks and reconcilers) in the test process.
package cli

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/discovery"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/controlplane"
	"github.com/outrigger-dev/outrigger/internal/manager"
)

var (
	scheme = runtime.NewScheme()
	k8s    client.Client // reads straight from the apiserver
	// sameWording is whether the cluster runs the Kubernetes whose validation libraries the CLI is built with:
	// only then do the two word a refusal alike (see clusterMessages).
	sameWording bool
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
	root, err := controlplane.Root()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	env, err := controlplane.Start(root, controlplane.Options{CRDs: true, Webhooks: true})
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\nBuild the binaries with `make envtest-binaries` (make test does it for you).\n", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	if k8s, err = env.Client(scheme); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	if sameWording, err = runsKubernetesVersion(env); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mgr, err := controlplane.StartInProcessManager(ctx, env, nil, manager.Options{Webhook: manager.WebhookOptions{Enabled: true}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: manager:", err)
		return 1
	}
	defer func() { _ = mgr.Stop() }()
	ready, stop := context.WithTimeout(ctx, time.Minute)
	defer stop()
	if err := mgr.WaitReady(ready); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: manager:", err)
		return 1
	}
	return m.Run()
}

// runsKubernetesVersion says whether the cluster is controlplane.KubernetesVersion, the release go.mod's
// Kubernetes libraries are of; `make test-oldest` runs this package on an older one.
func runsKubernetesVersion(env *controlplane.Env) (bool, error) {
	disco, err := discovery.NewDiscoveryClientForConfig(env.Config)
	if err != nil {
		return false, err
	}
	v, err := disco.ServerVersion()
	if err != nil {
		return false, fmt.Errorf("server version: %w", err)
	}
	return v.GitVersion == controlplane.KubernetesVersion, nil
}
