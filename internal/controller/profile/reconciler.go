// Package profile holds the reconciler of one profile kind (SidecarProfile or ClusterSidecarProfile): it keeps
// the finalizer, observes every workload the profile selects or is recorded on, has internal/status compute the
// status, and writes it only when it changed. It never writes workloads; its watches map workloads, pods and
// namespaces to the profiles they concern.
package profile

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/advisor"
	"github.com/outrigger-dev/outrigger/internal/catalog"
	"github.com/outrigger-dev/outrigger/internal/controller/failure"
	"github.com/outrigger-dev/outrigger/internal/metrics"
	"github.com/outrigger-dev/outrigger/internal/revision/history"
	"github.com/outrigger-dev/outrigger/internal/selection"
	"github.com/outrigger-dev/outrigger/internal/status"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// The reconciler only patches profiles (its finalizer) and their status: no update, and no finalizers
// subresource (only ownerReferences with blockOwnerDeletion need it, and Outrigger sets none).
// +kubebuilder:rbac:groups=sidecars.outrigger.dev,resources=sidecarprofiles;clustersidecarprofiles,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=sidecars.outrigger.dev,resources=sidecarprofiles/status;clustersidecarprofiles/status,verbs=patch

// pendingRecheck is how soon a profile with writes still to make looks again: a write the apiserver refuses
// leaves nothing a watch would deliver, so only looking again tells the write happened or was refused.
const pendingRecheck = 5 * time.Second

// wavesRecheck is how often a rollout in waves is looked at while no event comes: a wave's gate opens, and its
// progress deadline passes, with time alone.
const wavesRecheck = 2 * time.Second

// staleRetry is how soon a profile whose finalizer patch met a newer object is looked at again.
const staleRetry = time.Second

// failureRecheck is how soon a profile whose workloads refused writes looks again: the refusal leaves no trace
// in the apiserver that a watch would deliver.
const failureRecheck = 30 * time.Second

// Reconciler keeps one profile kind's finalizer and status. It never writes workloads: it observes what
// the workload reconciler did, running the same engine on the same input to know what is left to do.
type Reconciler struct {
	client.Client
	// Placed reports whether an admission policy still places the profile (nil: admission by webhook). A
	// profile being deleted keeps its finalizer until none does, so no workload gets its sidecars after.
	Placed func(context.Context, selection.Profile) (bool, error)
	// NotAdmitted says why an admission policy that should place the profile does not, "" when every one does
	// (nil: admission by webhook).
	NotAdmitted func(selection.Profile) string
	// NewProfile returns an empty object of the profile kind this reconciler serves.
	NewProfile func() selection.Profile
	// Kinds are the workload kinds served now; WatchKind adds one while the manager runs.
	Kinds    *workload.Set
	Catalog  catalog.Catalog
	Failures *failure.Store
	// Revisions keeps the profile's revisions; Events records the rollout's events on the profile.
	Revisions history.Store
	Events    events.EventRecorder
	// Now is the clock for condition transition times.
	Now func() metav1.Time
	// NativeSidecarsUnsupported says why the cluster cannot run native sidecars ("" when it can), read once at
	// start (see NativeSidecarSupport).
	NativeSidecarsUnsupported string

	pacer         *statusPacer          // set by SetupWithManager
	controller    controller.Controller // set by SetupWithManager
	clusterScoped bool
	cache         cache.Cache
	kindsChanged  chan event.GenericEvent // set by SetupWithManager; see KindsChanged
}

// Reconcile ensures the finalizer, computes the status, and removes the finalizer once no workload carries the
// profile's sidecars.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	p := r.NewProfile()
	if err := r.Get(ctx, req.NamespacedName, p); err != nil {
		if apierrors.IsNotFound(err) {
			r.pacer.forget(req.NamespacedName)
			metrics.ForgetProfile(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	deleting := !p.GetDeletionTimestamp().IsZero()
	if deleting && !controllerutil.ContainsFinalizer(p, v1alpha1.Finalizer) {
		metrics.ForgetProfile(req.NamespacedName)
		return ctrl.Result{}, nil
	}
	if !deleting && !controllerutil.ContainsFinalizer(p, v1alpha1.Finalizer) {
		if err := r.patchFinalizer(ctx, p, controllerutil.AddFinalizer); err != nil {
			return retryIfStale(ctx, err)
		}
	}
	start := time.Now()
	in, err := r.observe(ctx, p)
	if err != nil {
		return ctrl.Result{}, err
	}
	r.pacer.record(req.NamespacedName, time.Since(start))
	if deleting && !carriesAny(in.Workloads) {
		if placed, err := r.placed(ctx, p); err != nil || placed {
			return ctrl.Result{RequeueAfter: placedRecheck}, err
		}
		metrics.ForgetProfile(req.NamespacedName)
		return retryIfStale(ctx, r.patchFinalizer(ctx, p, controllerutil.RemoveFinalizer))
	}
	old := p.ProfileStatus().Rollout.DeepCopy()
	attention := p.ProfileStatus().NeedsAttention // patchStatus replaces the slice, never changes it
	st := status.Compute(*p.ProfileStatus(), in)
	if err := r.keepRevisions(ctx, p, in, st); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.patchStatus(ctx, p, st); err != nil {
		return ctrl.Result{}, err
	}
	metrics.SetProfile(req.NamespacedName, st)
	r.recordRolloutEvents(p, old, st.Rollout)
	r.recordAdvice(p, attention, in)
	return ctrl.Result{RequeueAfter: recheck(in, st)}, nil
}

// placedRecheck is how soon a profile being deleted looks again for the admission policies to drop it: the
// policy reconciler compiles them again on the same deletion event, in well under a second.
const placedRecheck = 500 * time.Millisecond

func (r *Reconciler) placed(ctx context.Context, p selection.Profile) (bool, error) {
	if r.Placed == nil {
		return false, nil
	}
	return r.Placed(ctx, p)
}

// recheck is how soon to look again although no watch event may come: refused writes leave no trace to watch
// (neither the first refusal of a write still pending, nor the next ones), and a recent restart stops counting
// once RecentRestartWindow has passed. Zero: only events wake us.
func recheck(in status.Input, st v1alpha1.SidecarProfileStatus) time.Duration {
	next := status.RecheckAfter(in)
	soonest := func(d time.Duration) {
		if next == 0 || d < next {
			next = d
		}
	}
	if hasFailures(in.Workloads) {
		soonest(failureRecheck)
	}
	if c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionReconciling); c != nil && c.Reason == v1alpha1.ReasonProgressing {
		soonest(pendingRecheck)
	}
	if r := st.Rollout; r != nil && r.CandidateRevision != "" && r.Halted == "" && !in.Strategy.Paused {
		soonest(wavesRecheck) // paused, nothing waits on the clock: a crash comes as a pod event
	}
	return next
}

// carriesAny reports whether a workload Outrigger can still clean up carries the profile. Jobs cannot change, so
// the finalizer does not wait for them.
func carriesAny(ws []status.WorkloadObservation) bool {
	for _, w := range ws {
		if w.LiveRevision != "" && !w.Immutable {
			return true
		}
	}
	return false
}

func hasFailures(ws []status.WorkloadObservation) bool {
	for _, w := range ws {
		if w.Failure.Reason != "" {
			return true
		}
	}
	return false
}

// patchFinalizer adds or removes the finalizer with a merge patch that fails on a concurrent change, so another
// controller's finalizer is never dropped.
func (r *Reconciler) patchFinalizer(ctx context.Context, p selection.Profile, change func(client.Object, string) bool) error {
	base := p.DeepCopyObject().(client.Object)
	if !change(p, v1alpha1.Finalizer) {
		return nil
	}
	return r.Patch(ctx, p, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}), client.FieldOwner(v1alpha1.FieldManager))
}

// retryIfStale answers a finalizer patch. A conflict means someone else changed the profile since the cache
// read it (another controller's finalizer went, a label was edited): look again soon, since the newer object's
// event may not pass the watch's predicate and nothing else would wake a profile that waits to be deleted.
func retryIfStale(ctx context.Context, err error) (ctrl.Result, error) {
	switch {
	case err == nil || apierrors.IsNotFound(err):
		return ctrl.Result{}, nil
	case apierrors.IsConflict(err):
		log.FromContext(ctx).V(1).Info("profile changed while patching its finalizer; retrying", "error", err.Error())
		return ctrl.Result{RequeueAfter: staleRetry}, nil
	}
	return ctrl.Result{}, err
}

// patchStatus writes the status only when it changed.
func (r *Reconciler) patchStatus(ctx context.Context, p selection.Profile, st v1alpha1.SidecarProfileStatus) error {
	if equality.Semantic.DeepEqual(*p.ProfileStatus(), st) {
		return nil
	}
	base := p.DeepCopyObject().(client.Object)
	*p.ProfileStatus() = st
	return ignoreStale(r.Status().Patch(ctx, p, client.MergeFrom(base), client.FieldOwner(v1alpha1.FieldManager)))
}

// ignoreStale drops the errors of a status write made from a cache that was behind (a conflict, or an object
// deleted meanwhile): the watch event of the newer object reconciles the profile again.
func ignoreStale(err error) error {
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// SetupWithManager watches the profile kind, the workloads (mapped to the profiles that select them or are
// recorded on them), Outrigger's pods (mapped to the profiles recorded on them), and, for cluster profiles,
// namespace label changes.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.pacer = newStatusPacer()
	c := mgr.GetClient()
	proto := r.NewProfile()
	clusterScoped, name := isCluster(proto), "sidecarprofile"
	if clusterScoped {
		name = "clustersidecarprofile"
	}
	// Not on the profile's own status writes: each would compute the status again at once, and in a burst of
	// workload changes that loop, not the coalescing window, would set the pace.
	r.clusterScoped, r.cache = clusterScoped, mgr.GetCache()
	b := ctrl.NewControllerManagedBy(mgr).Named(name).For(proto, builder.WithPredicates(specOrDeletionChanged))
	for _, kind := range r.Kinds.List() {
		b = b.WatchesRawSource(r.workloadSource(kind))
	}
	// The cache holds only pods carrying Outrigger's label (podcache.ByObject), so this watches only those.
	b = b.Watches(&corev1.Pod{}, coalesced{mapPodToProfiles(clusterScoped), r.pacer},
		builder.WithPredicates(podChanged))
	for _, obj := range advisor.Watched() { // a quota, limit range or autoscaler changes the advice in its namespace
		b = b.Watches(obj, handler.EnqueueRequestsFromMapFunc(mapToProfilesInScope(r.Catalog, clusterScoped)), builder.WithPredicates(advisor.Changed))
	}
	if clusterScoped {
		b = b.Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(mapToEveryProfile(c, true)),
			builder.WithPredicates(predicate.LabelChangedPredicate{}))
	}
	r.kindsChanged = make(chan event.GenericEvent, 1)
	b = b.WatchesRawSource(source.Channel(r.kindsChanged, handler.EnqueueRequestsFromMapFunc(mapToEveryProfile(c, clusterScoped))))
	var err error
	r.controller, err = b.Build(r)
	return err
}

// workloadSource watches the workloads of a kind. Only changes to what a workload carries, to its labels or to
// its rollout can change a profile's status.
func (r *Reconciler) workloadSource(kind workload.Kind) source.Source {
	return source.Kind(r.cache, kind.NewObject(), handler.EventHandler(coalesced{mapWorkloadToProfiles(r.Catalog, kind, r.clusterScoped), r.pacer}),
		predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}, rolloutChanged(kind)))
}

// KindsChanged looks at every profile again: the manager refused a kind or served one late, which changes the
// status of the profiles that list it even when no workload event comes. Calls that come while one is queued
// are one.
func (r *Reconciler) KindsChanged() {
	select {
	case r.kindsChanged <- event.GenericEvent{Object: r.NewProfile()}:
	default:
	}
}

// WatchKind starts watching a kind whose CRD arrived while the manager runs, and observes its workloads from
// then on. The workload's reconciler for the kind is set up separately.
func (r *Reconciler) WatchKind(kind workload.Kind) error {
	r.Kinds.Add(kind)
	return r.controller.Watch(r.workloadSource(kind))
}

func isCluster(p selection.Profile) bool {
	_, ok := p.(*v1alpha1.ClusterSidecarProfile)
	return ok
}
