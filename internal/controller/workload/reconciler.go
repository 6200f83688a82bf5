// Package workload holds the reconciler that brings existing workloads of one kind to what the profiles
// selecting them say: their sidecars injected, updated or removed, with the smallest patch, and nothing written
// when a workload is already right. It also watches profiles and namespaces, mapped to the workloads they can
// affect.
package workload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/catalog"
	"github.com/outrigger-dev/outrigger/internal/controller/failure"
	"github.com/outrigger-dev/outrigger/internal/controller/index"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/jsonpatch"
	"github.com/outrigger-dev/outrigger/internal/mutation"
	"github.com/outrigger-dev/outrigger/internal/selection"
	registry "github.com/outrigger-dev/outrigger/internal/workload"
)

// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets;daemonsets,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=batch,resources=cronjobs,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconciler brings the pod template of one kind of workload to what the profiles selecting it say:
// their sidecars injected, updated, or removed. It writes only when the engine says the template changes, and
// then only a patch of what changed.
type Reconciler struct {
	client.Client
	Kind     registry.Kind
	Catalog  catalog.Catalog
	Events   events.EventRecorder
	Failures *failure.Store
	// Workers is how many workloads are reconciled at once.
	Workers int
	// NormalEvents: record each write as a Normal event (see Options.NormalEvents).
	NormalEvents bool
}

// Reconcile injects, updates or removes sidecars on one workload.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := r.Kind.NewObject()
	id := failure.ID{Kind: r.Kind.Name, NamespacedName: req.NamespacedName}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			r.Failures.Clear(id) // a deleted workload needs no one's attention
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before, err := r.Kind.PodTemplate(obj)
	if err != nil {
		var none *registry.NoTemplateError
		if errors.As(err, &none) {
			return ctrl.Result{}, nil // nothing to inject; the status of the profiles selecting it says why
		}
		// The apiserver stored it, so its schema took it: only a change to the workload can make it readable.
		_ = r.fail(obj, id, v1alpha1.ReasonReadFailed, v1alpha1.EventReadFailed, err)
		return ctrl.Result{}, nil
	}
	profiles, err := r.Catalog.EngineInput(ctx, r.Kind, obj, catalog.Reconcile)
	if err != nil {
		return ctrl.Result{}, r.fail(obj, id, v1alpha1.ReasonReadFailed, v1alpha1.EventReadFailed, err)
	}
	res, err := inject.Inject(before, profiles, r.Kind.InjectOptions(obj)...)
	if err != nil {
		// An unreadable record cannot heal by retrying; status and an event tell a person.
		_ = r.fail(obj, id, v1alpha1.ReasonInvalidRecord, v1alpha1.EventInvalidRecord, err)
		return ctrl.Result{}, nil
	}
	r.reportConflicts(ctx, obj, res)
	if !res.Changed {
		r.Failures.Clear(id)
		return ctrl.Result{}, nil
	}
	// Before the patch, which writes the new template where before points.
	changes := changesOf(before, res)
	reason, note := describe(changes)
	if err := r.patch(ctx, obj, before, res.Template); err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			// The cache was behind: the newer object's watch event reconciles again; the requeue is a backstop.
			log.FromContext(ctx).V(1).Info("workload changed while injecting; retrying", "error", err.Error())
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
		err = r.fail(obj, id, v1alpha1.ReasonWriteFailed, v1alpha1.EventInjectionFailed, err)
		if apierrors.IsInvalid(err) {
			// Retrying the same patch cannot succeed; a change to the profile or the workload reconciles again.
			err = reconcile.TerminalError(err)
		}
		return ctrl.Result{}, err
	}
	r.Failures.Clear(id)
	if r.NormalEvents {
		r.recordWrite(ctx, obj, changes, reason, note)
	}
	log.FromContext(ctx).Info(note, "reason", reason)
	return ctrl.Result{}, nil
}

// recordWrite tells of a write in a Normal event on the workload and on each profile concerned.
func (r *Reconciler) recordWrite(ctx context.Context, obj client.Object, changes []change, reason, note string) {
	r.Events.Eventf(obj, nil, corev1.EventTypeNormal, reason, "Inject", "%s", note)
	for _, c := range changes {
		// A profile whose sidecars a write only carried along hears nothing of it.
		if c.reason == v1alpha1.EventRepaired && reason != v1alpha1.EventRepaired {
			continue
		}
		if p := r.profile(ctx, c.ref, obj.GetNamespace()); p != nil {
			r.Events.Eventf(p, obj, corev1.EventTypeNormal, c.reason, "Inject", "%s sidecars %s %s %s/%s",
				strings.ToLower(c.reason), preposition[c.reason], r.Kind.Name, obj.GetNamespace(), obj.GetName())
		}
	}
}

// reportConflicts tells, on the workload and on each profile concerned, what clashes. Repeats while the conflict
// lasts are folded by the event recorder into one event series.
func (r *Reconciler) reportConflicts(ctx context.Context, obj client.Object, res inject.Result) {
	for _, pr := range res.Profiles {
		if pr.Outcome != inject.Conflicted {
			continue
		}
		msgs := make([]string, 0, len(pr.Conflicts))
		for _, c := range pr.Conflicts {
			msgs = append(msgs, c.Message())
		}
		what := strings.Join(msgs, "; ")
		p := r.profile(ctx, pr.Ref, obj.GetNamespace())
		if p != nil {
			r.Events.Eventf(p, obj, corev1.EventTypeWarning, v1alpha1.EventConflict, "Inject", "%s %s/%s: %s",
				r.Kind.Name, obj.GetNamespace(), obj.GetName(), what)
		}
		r.Events.Eventf(obj, p, corev1.EventTypeWarning, v1alpha1.EventConflict, "Inject", "sidecars of %s not injected: %s", pr.Ref, what)
	}
}

// profile reads a profile recorded on or selecting a workload of a namespace from the cache; nil when it is gone.
func (r *Reconciler) profile(ctx context.Context, ref inject.ProfileRef, namespace string) selection.Profile {
	p, ok := selection.NewProfile(ref.Kind)
	if !ok {
		return nil
	}
	key := client.ObjectKey{Namespace: namespace, Name: ref.Name}
	if ref.Kind == inject.KindClusterSidecarProfile {
		key.Namespace = ""
	}
	if err := r.Get(ctx, key, p); err != nil {
		return nil
	}
	return p
}

// patch writes the new pod template as a strategic merge patch, which names containers, volumes and mounts by
// their keys and so touches nothing else, with the resourceVersion the engine saw as a precondition: a
// concurrent writer makes it fail with a conflict rather than be overwritten.
//
// A kind read as unstructured objects (a custom resource) takes no strategic merge patch, and its typed template
// lacks the fields our k8s.io/api does not know: it gets the JSON patch the webhook answers with, which touches
// only what the engine changed, behind a test of the resourceVersion for the same precondition.
func (r *Reconciler) patch(ctx context.Context, obj client.Object, before, after *corev1.PodTemplateSpec) error {
	if _, ok := obj.(*unstructured.Unstructured); ok {
		ops, _, err := mutation.TemplatePatch(r.Kind.TemplatePath, before, after)
		if err != nil {
			return err
		}
		// The patched object then carries the resourceVersion the engine saw: the apiserver refuses it with a
		// conflict when the workload changed since (a failed "test" would be a 422, like an invalid patch).
		lock := jsonpatch.Operation{Op: "replace", Path: "/metadata/resourceVersion", Value: obj.GetResourceVersion()}
		body, err := json.Marshal(append([]jsonpatch.Operation{lock}, ops...))
		if err != nil {
			return err
		}
		return r.Patch(ctx, obj, client.RawPatch(types.JSONPatchType, body), client.FieldOwner(v1alpha1.FieldManager))
	}
	base := obj.DeepCopyObject().(client.Object)
	*r.Kind.Template(obj) = *after
	return r.Patch(ctx, obj, client.StrategicMergeFrom(base, client.MergeFromWithOptimisticLock{}), client.FieldOwner(v1alpha1.FieldManager))
}

// fail records a failure for status (with its status reason) and as a Warning event on the workload.
func (r *Reconciler) fail(obj client.Object, id failure.ID, reason, eventReason string, err error) error {
	r.Failures.Set(id, reason, err)
	r.Events.Eventf(obj, nil, corev1.EventTypeWarning, eventReason, "Inject", "%s", err.Error())
	return err
}

// change is what a write did for one profile: its event reason.
type change struct {
	ref    inject.ProfileRef
	reason string
}

// changeReasons are the reasons in the order a note names them; the first present is the event's reason.
var changeReasons = []string{v1alpha1.EventInjected, v1alpha1.EventUpdated, v1alpha1.EventRemoved, v1alpha1.EventRepaired}

// preposition makes "injected sidecars into", "removed sidecars from", "updated sidecars of".
var preposition = map[string]string{v1alpha1.EventInjected: "into", v1alpha1.EventUpdated: "of", v1alpha1.EventRemoved: "from", v1alpha1.EventRepaired: "of"}

// changesOf lists, per profile, what a write from before to res did.
func changesOf(before *corev1.PodTemplateSpec, res inject.Result) []change {
	old, _ := inject.ReadRecord(before)
	var out []change
	for _, p := range res.Profiles {
		e, was := old.Entry(p.Ref)
		switch {
		case p.RecordedRevision == "":
		case !was:
			out = append(out, change{p.Ref, v1alpha1.EventInjected})
		case e.Hash != p.RecordedRevision:
			out = append(out, change{p.Ref, v1alpha1.EventUpdated})
		default:
			out = append(out, change{p.Ref, v1alpha1.EventRepaired})
		}
	}
	for _, e := range old.Profiles {
		if p, ok := res.Profile(e.ProfileRef); !ok || p.RecordedRevision == "" {
			out = append(out, change{e.ProfileRef, v1alpha1.EventRemoved})
		}
	}
	return out
}

// describe says in one line what a write did, for the event and the log.
func describe(changes []change) (reason, note string) {
	var parts []string
	for _, why := range changeReasons {
		if why == v1alpha1.EventRepaired && reason != "" {
			continue // sidecars a write only carried along were not repaired
		}
		var refs []string
		for _, c := range changes {
			if c.reason == why {
				refs = append(refs, c.ref.String())
			}
		}
		if len(refs) > 0 {
			parts = append(parts, fmt.Sprintf("%s sidecars of %s", strings.ToLower(why), strings.Join(refs, ", ")))
			if reason == "" {
				reason = why
			}
		}
	}
	if reason == "" {
		reason = v1alpha1.EventRepaired
	}
	return reason, strings.Join(parts, "; ")
}

// profileSpecOrDeletionChanged passes the profile events that can change what workloads carry: a new spec
// (generation), the start of deletion, or a rollout that moved (a wave opened, a halt, a new stable revision).
// Other status writes, the most frequent, pass not.
var profileSpecOrDeletionChanged = predicate.Or(predicate.GenerationChangedPredicate{}, predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectOld.GetDeletionTimestamp().IsZero() != e.ObjectNew.GetDeletionTimestamp().IsZero() ||
			rolloutMoved(e.ObjectOld, e.ObjectNew)
	},
})

// rolloutMoved reports whether a profile's rollout changed what a workload gets (revision.Target's inputs).
func rolloutMoved(old, now client.Object) bool {
	po, ok1 := old.(selection.Profile)
	pn, ok2 := now.(selection.Profile)
	if !ok1 || !ok2 {
		return false
	}
	a, b := po.ProfileStatus().Rollout, pn.ProfileStatus().Rollout
	if a == nil || b == nil {
		return a != b
	}
	return a.StableRevision != b.StableRevision || a.CandidateRevision != b.CandidateRevision ||
		a.Wave != b.Wave || a.Rank != b.Rank || (a.Halted == "") != (b.Halted == "")
}

// SetupWithManager watches the workloads of the kind, the profiles (mapped to the workloads they can affect,
// through the index), and namespace label changes (which change what cluster profiles select).
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	c := mgr.GetClient()
	return ctrl.NewControllerManagedBy(mgr).
		Named(strings.ToLower(string(r.Kind.Name))).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.Workers}).
		For(r.Kind.NewObject()).
		Watches(&v1alpha1.SidecarProfile{}, handler.EnqueueRequestsFromMapFunc(mapProfileToWorkloads(c, r.Kind, r.Catalog.Protected)),
			builder.WithPredicates(profileSpecOrDeletionChanged)).
		Watches(&v1alpha1.ClusterSidecarProfile{}, handler.EnqueueRequestsFromMapFunc(mapProfileToWorkloads(c, r.Kind, r.Catalog.Protected)),
			builder.WithPredicates(profileSpecOrDeletionChanged)).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(mapNamespaceToWorkloads(c, r.Kind)),
			builder.WithPredicates(predicate.LabelChangedPredicate{})).
		Complete(r)
}

// mapProfileToWorkloads enqueues the workloads of the kind a profile event can affect.
func mapProfileToWorkloads(c client.Reader, kind registry.Kind, protected selection.Protected) handler.MapFunc {
	return func(ctx context.Context, obj client.Object) []reconcile.Request {
		objs, err := index.WorkloadsOf(ctx, c, kind, obj.(selection.Profile), protected)
		if err != nil {
			log.FromContext(ctx).Error(err, "listing the workloads of a profile", "profile", obj.GetName())
			return nil
		}
		return index.Requests(objs)
	}
}

// mapNamespaceToWorkloads enqueues every workload of the kind in a namespace whose labels changed: cluster
// profiles may now select them or not.
func mapNamespaceToWorkloads(c client.Reader, kind registry.Kind) handler.MapFunc {
	return func(ctx context.Context, obj client.Object) []reconcile.Request {
		list := kind.NewList()
		if err := c.List(ctx, list, client.InNamespace(obj.GetName())); err != nil {
			log.FromContext(ctx).Error(err, "listing workloads", "namespace", obj.GetName())
			return nil
		}
		return index.Requests(kind.Items(list))
	}
}
