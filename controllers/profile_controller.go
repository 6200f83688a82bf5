package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/catalog"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/selection"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// The reconciler only patches profiles (its finalizer) and their status: no update, and no finalizers
// subresource (only ownerReferences with blockOwnerDeletion need it, and Outrigger sets none).
// +kubebuilder:rbac:groups=sidecars.outrigger.dev,resources=sidecarprofiles;clustersidecarprofiles,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=sidecars.outrigger.dev,resources=sidecarprofiles/status;clustersidecarprofiles/status,verbs=patch

// failureRecheck is how soon a profile whose workloads refused writes looks again: the refusal leaves no trace
// in the apiserver that a watch would deliver.
const failureRecheck = 30 * time.Second

// ProfileReconciler keeps one profile kind's finalizer and status. It never writes workloads: it observes what
// the WorkloadReconciler did, running the same engine on the same input to know what is left to do.
type ProfileReconciler struct {
	client.Client
	// NewProfile returns an empty object of the profile kind this reconciler serves.
	NewProfile func() selection.Profile
	Kinds      []workload.Kind
	Catalog    catalog.Catalog
	Failures   *Failures
	// Now is the clock for condition transition times.
	Now func() metav1.Time
	// NativeSidecarsUnsupported says why the cluster cannot run native sidecars ("" when it can), read once at
	// start (see NativeSidecarSupport).
	NativeSidecarsUnsupported string

	pacer *statusPacer // set by SetupWithManager
}

// Reconcile ensures the finalizer, computes the status, and removes the finalizer once no workload carries the
// profile's sidecars.
func (r *ProfileReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	p := r.NewProfile()
	if err := r.Get(ctx, req.NamespacedName, p); err != nil {
		if apierrors.IsNotFound(err) {
			r.pacer.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	deleting := !p.GetDeletionTimestamp().IsZero()
	if deleting && !controllerutil.ContainsFinalizer(p, v1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	if !deleting && !controllerutil.ContainsFinalizer(p, v1alpha1.Finalizer) {
		if err := r.patchFinalizer(ctx, p, controllerutil.AddFinalizer); err != nil {
			return ctrl.Result{}, err
		}
	}
	start := time.Now()
	in, err := r.observe(ctx, p)
	if err != nil {
		return ctrl.Result{}, err
	}
	r.pacer.record(req.NamespacedName, time.Since(start))
	if deleting && !carriesAny(in.Workloads) {
		return ctrl.Result{}, r.patchFinalizer(ctx, p, controllerutil.RemoveFinalizer)
	}
	if err := r.patchStatus(ctx, p, ComputeStatus(*p.ProfileStatus(), in)); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: recheck(in)}, nil
}

// recheck is how soon to look again although no watch event may come: refused writes leave no trace to watch,
// and a recent restart stops counting once RecentRestartWindow has passed. Zero: only events wake us.
func recheck(in StatusInput) time.Duration {
	next := RecheckAfter(in)
	if hasFailures(in.Workloads) && (next == 0 || failureRecheck < next) {
		next = failureRecheck
	}
	return next
}

// observe gathers, for every workload the profile selects or is recorded on, what it carries and what the engine
// would do with it.
func (r *ProfileReconciler) observe(ctx context.Context, p selection.Profile) (StatusInput, error) {
	in := StatusInput{
		Generation: p.GetGeneration(),
		Revision:   inject.Revision(p.ProfileSpec()),
		Deleting:   !p.GetDeletionTimestamp().IsZero(),
		Now:        r.Now(),

		NativeSidecarsUnsupported: r.NativeSidecarsUnsupported,
	}
	sel, specErr := selection.Parse(p)
	in.SpecError = specErr
	ref := selection.Ref(p)
	for _, kind := range r.Kinds {
		objs, err := workloadsOf(ctx, r.Client, kind, p)
		if err != nil {
			return in, fmt.Errorf("listing %ss: %w", kind.Name, err)
		}
		for _, obj := range objs {
			w, err := r.observeWorkload(ctx, kind, obj, observed{p, sel, specErr, ref, in.Revision})
			if err != nil {
				return in, err
			}
			in.Workloads = append(in.Workloads, w)
		}
	}
	return in, nil
}

// observed is the profile whose status is being computed, with what is derived from it once for all workloads.
type observed struct {
	p        selection.Profile
	sel      selection.Selectors
	specErr  error
	ref      inject.ProfileRef
	revision string
}

func (r *ProfileReconciler) observeWorkload(ctx context.Context, kind workload.Kind, obj client.Object, o observed) (WorkloadObservation, error) {
	p, sel, specErr, ref := o.p, o.sel, o.specErr, o.ref
	w := WorkloadObservation{Kind: kind.Name, Namespace: obj.GetNamespace(), Name: obj.GetName(), Immutable: kind.Immutable}
	w.Failure = r.Failures.Get(workloadID{Kind: kind.Name, NamespacedName: client.ObjectKeyFromObject(obj)})
	tmpl := kind.Template(obj)
	rec, err := inject.ReadRecord(tmpl)
	if err != nil {
		w.Selected, w.Failure = true, err.Error()
		return w, nil
	}
	if e, ok := rec.Entry(ref); ok {
		w.LiveRevision = e.Hash
	}
	if specErr == nil {
		var nsLabels map[string]string
		if nsLabels, err = r.Catalog.NamespaceLabels(ctx, obj.GetNamespace()); err != nil {
			return w, err
		}
		w.Selected = selection.Selects(p, sel, kind.Name, obj, nsLabels)
	}
	if !w.Selected {
		return w, nil
	}
	if w.LiveRevision != "" {
		w.Rollout = rolloutOf(obj)
		if w.Sidecars, err = sidecarsOf(ctx, r.Client, obj, ref); err != nil {
			return w, err
		}
	}
	if w.LiveRevision == o.revision {
		// The workload carries the current revision, so its sidecars claimed their names before anyone else's:
		// the engine can only answer Injected. Skipping it keeps a status computation over thousands of converged
		// workloads cheap.
		w.Outcome = inject.Injected
		return w, nil
	}
	input, err := r.Catalog.EngineInput(ctx, kind, obj, kind.Immutable)
	if err != nil {
		return w, err
	}
	res, err := inject.Inject(tmpl, input)
	if err != nil {
		w.Failure = err.Error()
		return w, nil
	}
	if pr, ok := res.Profile(ref); ok {
		w.Outcome, w.Conflicts = pr.Outcome, pr.Conflicts
	}
	return w, nil
}

// carriesAny reports whether a workload Outrigger can still clean up carries the profile. Jobs cannot change, so
// the finalizer does not wait for them.
func carriesAny(ws []WorkloadObservation) bool {
	for _, w := range ws {
		if w.LiveRevision != "" && !w.Immutable {
			return true
		}
	}
	return false
}

func hasFailures(ws []WorkloadObservation) bool {
	for _, w := range ws {
		if w.Failure != "" {
			return true
		}
	}
	return false
}

// patchFinalizer adds or removes the finalizer with a merge patch that fails on a concurrent change, so another
// controller's finalizer is never dropped.
func (r *ProfileReconciler) patchFinalizer(ctx context.Context, p selection.Profile, change func(client.Object, string) bool) error {
	base := p.DeepCopyObject().(client.Object)
	if !change(p, v1alpha1.Finalizer) {
		return nil
	}
	err := r.Patch(ctx, p, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}), client.FieldOwner(FieldOwner))
	return ignoreStale(err)
}

// patchStatus writes the status only when it changed.
func (r *ProfileReconciler) patchStatus(ctx context.Context, p selection.Profile, st v1alpha1.SidecarProfileStatus) error {
	if equality.Semantic.DeepEqual(*p.ProfileStatus(), st) {
		return nil
	}
	base := p.DeepCopyObject().(client.Object)
	*p.ProfileStatus() = st
	return ignoreStale(r.Status().Patch(ctx, p, client.MergeFrom(base), client.FieldOwner(FieldOwner)))
}

// ignoreStale drops the errors of a write made from a cache that was behind (a conflict, or an object deleted
// meanwhile): the watch event of the newer object reconciles the profile again.
func ignoreStale(err error) error {
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// SetupWithManager watches the profile kind, the workloads (mapped to the profiles that select them or are
// recorded on them), Outrigger's pods (mapped to the profiles recorded on them), and, for cluster profiles,
// namespace label changes.
func (r *ProfileReconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.pacer = newStatusPacer()
	c := mgr.GetClient()
	proto := r.NewProfile()
	clusterScoped, name := isCluster(proto), "sidecarprofile"
	if clusterScoped {
		name = "clustersidecarprofile"
	}
	// Not on the profile's own status writes: each would compute the status again at once, and in a burst of
	// workload changes that loop, not the coalescing window, would set the pace.
	b := ctrl.NewControllerManagedBy(mgr).Named(name).For(proto, builder.WithPredicates(profileSpecOrDeletionChanged))
	for _, kind := range r.Kinds {
		// Only changes to what a workload carries, to its labels or to its rollout can change a profile's status.
		b = b.Watches(kind.NewObject(), coalesced{mapWorkloadToProfiles(c, kind, clusterScoped), r.pacer},
			builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}, rolloutChanged)))
	}
	// The cache holds only pods carrying Outrigger's label (podcache.ByObject), so this watches only those.
	b = b.Watches(&corev1.Pod{}, coalesced{mapPodToProfiles(clusterScoped), r.pacer},
		builder.WithPredicates(podChanged))
	if clusterScoped {
		b = b.Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(mapNamespaceToClusterProfiles(c)),
			builder.WithPredicates(predicate.LabelChangedPredicate{}))
	}
	return b.Complete(r)
}

func isCluster(p selection.Profile) bool {
	_, ok := p.(*v1alpha1.ClusterSidecarProfile)
	return ok
}
