// Package controller sets Outrigger's reconcilers up with a manager: one per mutable workload kind
// (internal/controller/workload), which injects, updates and removes sidecars, and one per profile kind
// (internal/controller/profile), which keeps the finalizer and the status, over the shared cache indexes.
package controller

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/admission/policy"
	"github.com/outrigger-dev/outrigger/internal/catalog"
	admissioncontroller "github.com/outrigger-dev/outrigger/internal/controller/admission"
	"github.com/outrigger-dev/outrigger/internal/controller/failure"
	"github.com/outrigger-dev/outrigger/internal/controller/index"
	"github.com/outrigger-dev/outrigger/internal/controller/profile"
	workloadcontroller "github.com/outrigger-dev/outrigger/internal/controller/workload"
	"github.com/outrigger-dev/outrigger/internal/kindconfig"
	"github.com/outrigger-dev/outrigger/internal/revision/history"
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
	// Protected are the namespaces ClusterSidecarProfiles never reach: kube-system, Outrigger's own and --excluded-namespaces.
	Protected selection.Protected
	// Configured are the kinds the manager's configuration adds to the built-in ones (kindconfig.Load).
	Configured []kindconfig.Kind
	// RevisionNamespace is where ClusterSidecarProfiles keep their revisions: Outrigger's own namespace.
	RevisionNamespace string
	// Policies, when set, has the profiles compiled into MutatingAdmissionPolicies (admission mode policy).
	Policies *PolicyOptions
}

// PolicyOptions configure admission by MutatingAdmissionPolicies.
type PolicyOptions struct {
	policy.Options
	// Owner is the ValidatingWebhookConfiguration that owns the policies (see admission.Reconciler.Owner).
	Owner string
}

// Known are the kinds a profile may list: the built-in ones, then the configured ones.
func (o Options) Known() workload.Kinds {
	return workload.All.With(kindconfig.Workloads(o.Configured)...)
}

// DefaultWorkloadWorkers is the default number of workloads of each kind reconciled at once. One worker waits
// on the apiserver for most of each reconcile (its write), so a new profile selecting thousands of workloads
// converges only as fast as several writes in flight allow; see docs/benchmarks.md for the measurement.
const DefaultWorkloadWorkers = 8

// Setup registers the indexes and every reconciler with the manager, for the kinds the apiserver serves; the
// kinds whose CRD is not installed (an Argo Rollout) are set up when it arrives (see kindWatcher). A configured
// kind whose CRD's schema has no pod template where the configuration says is not served, and the log says
// which entry and why. The manager's cache must hold pods as podcache.ByObject says. It returns the kinds
// served, which grows as CRDs arrive.
func Setup(ctx context.Context, mgr ctrl.Manager, o Options) (*workload.Set, error) {
	served, pending, err := splitServed(mgr.GetRESTMapper(), o.Known())
	if err != nil {
		return nil, err
	}
	s := &setup{mgr: mgr, o: o, served: workload.NewSet(), crds: mgr.GetAPIReader(),
		cat: catalog.Catalog{Reader: mgr.GetClient(), Protected: o.Protected, RevisionNamespace: o.RevisionNamespace}, failures: failure.NewStore()}
	for _, newProfile := range []func() selection.Profile{
		func() selection.Profile { return &v1alpha1.SidecarProfile{} },
		func() selection.Profile { return &v1alpha1.ClusterSidecarProfile{} },
	} {
		s.profiles = append(s.profiles, &profile.Reconciler{Client: mgr.GetClient(), NewProfile: newProfile, Kinds: s.served,
			Catalog: s.cat, Failures: s.failures, Now: metav1.Now, NativeSidecarsUnsupported: o.NativeSidecarsUnsupported,
			Revisions: history.Store{Client: mgr.GetClient(), Namespace: o.RevisionNamespace}, Events: mgr.GetEventRecorder("outrigger")})
	}
	logger := log.FromContext(ctx)
	for _, kind := range served {
		if err := s.checkConfigured(ctx, kind); err != nil {
			// Refused until its CRD changes: the kind watcher checks it again then.
			s.refuse(ctx, kind, err)
			pending = append(pending, kind)
			continue
		}
		if err := s.serveKind(ctx, kind); err != nil {
			return nil, err
		}
	}
	if o.Policies != nil {
		notAdmitted := admissioncontroller.NewNotAdmitted()
		s.policies = &admissioncontroller.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Catalog: s.cat,
			Kinds: s.served, Known: o.Known(), Options: o.Policies.Options, Owner: o.Policies.Owner,
			NotAdmitted: notAdmitted, Events: mgr.GetEventRecorder("outrigger"), ProfilesChanged: s.recheckProfiles}
		if err := s.policies.SetupWithManager(mgr); err != nil {
			return nil, err
		}
		for _, r := range s.profiles {
			r.Placed, r.NotAdmitted = admissioncontroller.Placed(mgr.GetClient()), notAdmitted.For
		}
	}
	for _, r := range s.profiles {
		if err := r.SetupWithManager(mgr); err != nil {
			return nil, err
		}
	}
	if len(pending) == 0 {
		return s.served, nil
	}
	for _, kind := range pending {
		if _, refused := s.served.Refusal(kind.Name); refused {
			continue
		}
		logger.Info("the apiserver does not serve a workload kind: it is served once its CRD is installed",
			"kind", kind.GVK.String(), "crd", crdName(kind), "entry", s.entry(kind))
	}
	return s.served, (&kindWatcher{pending: pending, mapper: mgr.GetRESTMapper(), serve: s.serveLate}).SetupWithManager(mgr)
}

// entry names the configuration entry of a configured kind, "" for a built-in one.
func (s *setup) entry(kind workload.Kind) string {
	for _, c := range s.o.Configured {
		if c.GVK == kind.GVK {
			return c.Entry
		}
	}
	return ""
}

// checkConfigured checks a configured kind against its CRD's schema (kindconfig.CheckSchema); a built-in kind,
// or one an aggregated apiserver serves (no CRD to read), passes.
func (s *setup) checkConfigured(ctx context.Context, kind workload.Kind) error {
	i := slices.IndexFunc(s.o.Configured, func(c kindconfig.Kind) bool { return c.GVK == kind.GVK })
	if i < 0 {
		return nil
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := s.crds.Get(ctx, client.ObjectKey{Name: crdName(kind)}, crd); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("%s: reading the CRD %s: %w", s.o.Configured[i].Entry, crdName(kind), err)
	}
	if err := kindconfig.CheckSchema(crd, s.o.Configured[i]); err != nil {
		return fmt.Errorf("%s: %w; the other kinds are served", s.o.Configured[i].Entry, err)
	}
	return nil
}

// setup is what serving one more kind needs.
type setup struct {
	mgr      ctrl.Manager
	o        Options
	cat      catalog.Catalog
	failures *failure.Store
	served   *workload.Set
	profiles []*profile.Reconciler
	policies *admissioncontroller.Reconciler // nil unless admission is by policy
	// crds reads a configured kind's CRD, uncached: once per kind, at start or when it arrives.
	crds client.Reader
}

// serveKind registers a kind's indexes and its workload reconciler (none for a kind that cannot change), and
// adds it to the kinds the profile reconcilers observe.
func (s *setup) serveKind(ctx context.Context, kind workload.Kind) error {
	if err := index.Setup(ctx, s.mgr, []workload.Kind{kind}); err != nil {
		return err
	}
	s.served.Add(kind)
	if kind.Immutable {
		return nil // reported by the profile reconcilers, never written
	}
	r := &workloadcontroller.Reconciler{Client: s.mgr.GetClient(), Kind: kind, Catalog: s.cat, Events: s.mgr.GetEventRecorder("outrigger"),
		Failures: s.failures, Workers: cmp.Or(s.o.WorkloadWorkers, DefaultWorkloadWorkers), NormalEvents: s.o.NormalEvents}
	return r.SetupWithManager(s.mgr)
}

// refuse logs why a configured kind is not served (once for each reason) and keeps it for the status of the
// profiles that list it.
func (s *setup) refuse(ctx context.Context, kind workload.Kind, err error) {
	if why, ok := s.served.Refusal(kind.Name); ok && why == err.Error() {
		return
	}
	log.FromContext(ctx).Error(err, "not serving a configured workload kind", "kind", kind.GVK.String())
	s.served.Refuse(kind.Name, err.Error())
	s.kindsChanged()
}

// kindsChanged has every profile's status computed again (no-op before the profile reconcilers are set up).
func (s *setup) kindsChanged() {
	s.recheckProfiles()
	if s.policies != nil {
		s.policies.KindsChanged()
	}
}

// recheckProfiles computes every profile's status again: whether the admission policies place it changed, which
// no watch delivers (KindsChanged looks at every profile).
func (s *setup) recheckProfiles() {
	for _, r := range s.profiles {
		r.KindsChanged()
	}
}

// errRefused is serveLate's answer for a kind its CRD does not fit: nothing to retry until the CRD changes.
var errRefused = errors.New("the kind's CRD does not fit its configuration")

// serveLate serves a kind whose CRD arrived (or changed) while the manager runs: the profile reconcilers, already
// running, start watching it too.
func (s *setup) serveLate(ctx context.Context, kind workload.Kind) error {
	if err := s.checkConfigured(ctx, kind); err != nil {
		s.refuse(ctx, kind, err)
		return fmt.Errorf("%w: %w", errRefused, err)
	}
	if err := s.serveKind(ctx, kind); err != nil {
		return err
	}
	for _, r := range s.profiles {
		if err := r.WatchKind(kind); err != nil {
			return err
		}
	}
	s.kindsChanged()
	return nil
}

// NativeSidecarSupport asks the apiserver its version and returns why the cluster cannot run native sidecars,
// or "" when it can (see profile.NativeSidecarSupport).
func NativeSidecarSupport(cfg *rest.Config) string { return profile.NativeSidecarSupport(cfg) }
