// Package controller sets Outrigger's reconcilers up with a manager: one per mutable workload kind
// (internal/controller/workload), which injects, updates and removes sidecars, and one per profile kind
// (internal/controller/profile), which keeps the finalizer and the status, over the shared cache indexes.
package controller

import (
	"cmp"
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/catalog"
	"github.com/outrigger-dev/outrigger/internal/controller/failure"
	"github.com/outrigger-dev/outrigger/internal/controller/index"
	"github.com/outrigger-dev/outrigger/internal/controller/profile"
	workloadcontroller "github.com/outrigger-dev/outrigger/internal/controller/workload"
	"github.com/outrigger-dev/outrigger/internal/selection"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// Options are what Setup is told of the cluster.
type Options struct {
	// NativeSidecarsUnsupported says why the cluster cannot run native sidecars, "" when it can: what
	// NativeSidecarSupport found at start, or a test's answer.
	NativeSidecarsUnsupported string
	// WorkloadWorkers is how many workloads of each kind are reconciled at once; 0 means DefaultWorkloadWorkers.
	WorkloadWorkers int
	// NormalEvents records a Normal event on the workload, and on each profile concerned, for every write
	// (Injected, Updated, Removed, Repaired). Off, only Warnings are recorded (conflicts, refused writes).
	// Each event is one more write to the apiserver: with thousands of workloads, as many event objects as
	// writes, and convergence about 1.4x slower on our benchmark (docs/benchmarks.md). Kyverno leaves its
	// success events off by default for the same reason.
	NormalEvents bool
	// Protected are the namespaces ClusterSidecarProfiles never reach: kube-system and Outrigger's own.
	Protected selection.Protected
}

// DefaultWorkloadWorkers is the default number of workloads of each kind reconciled at once. One worker waits
// on the apiserver for most of each reconcile (its write), so a new profile selecting thousands of workloads
// converges only as fast as several writes in flight allow; see docs/benchmarks.md for the measurement.
const DefaultWorkloadWorkers = 8

// Setup registers the indexes and every reconciler with the manager. The manager's cache must hold pods as
// podcache.ByObject says.
func Setup(ctx context.Context, mgr ctrl.Manager, o Options) error {
	if err := index.Setup(ctx, mgr, workload.All); err != nil {
		return err
	}
	cat := catalog.Catalog{Reader: mgr.GetClient(), Protected: o.Protected}
	failures := failure.NewStore()
	for _, kind := range workload.All {
		if kind.Immutable {
			continue // reported by the profile reconcilers, never written
		}
		r := &workloadcontroller.Reconciler{Client: mgr.GetClient(), Kind: kind, Catalog: cat,
			Events: mgr.GetEventRecorder("outrigger"), Failures: failures, Workers: cmp.Or(o.WorkloadWorkers, DefaultWorkloadWorkers), NormalEvents: o.NormalEvents}
		if err := r.SetupWithManager(mgr); err != nil {
			return err
		}
	}
	for _, newProfile := range []func() selection.Profile{
		func() selection.Profile { return &v1alpha1.SidecarProfile{} },
		func() selection.Profile { return &v1alpha1.ClusterSidecarProfile{} },
	} {
		r := &profile.Reconciler{Client: mgr.GetClient(), NewProfile: newProfile, Kinds: workload.All, Catalog: cat,
			Failures: failures, Now: metav1.Now, NativeSidecarsUnsupported: o.NativeSidecarsUnsupported}
		if err := r.SetupWithManager(mgr); err != nil {
			return err
		}
	}
	return nil
}

// NativeSidecarSupport asks the apiserver its version and returns why the cluster cannot run native sidecars,
// or "" when it can (see profile.NativeSidecarSupport).
func NativeSidecarSupport(cfg *rest.Config) string { return profile.NativeSidecarSupport(cfg) }
