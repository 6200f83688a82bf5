// Package index registers the manager cache's indexes over workloads and answers the questions both
// reconcilers ask of the cache with them: which workloads can a profile affect, which pods are a workload's.
package index

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/selection"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// injectedProfiles indexes workloads by the profiles recorded on their pod template (selection.Key form), so
// that a profile finds the workloads it must clean up even once it no longer selects them.
const injectedProfiles = "outrigger.injectedProfiles"

// controllerUID indexes the objects of kinds that make pods for another kind (a CronJob's Jobs) by the UID of
// their controller, so that the other kind's status finds its pods.
const controllerUID = "outrigger.controllerUID"

// Setup registers the indexes on every kind.
func Setup(ctx context.Context, mgr ctrl.Manager, kinds []workload.Kind) error {
	for _, kind := range kinds {
		if err := mgr.GetFieldIndexer().IndexField(ctx, kind.NewObject(), injectedProfiles, InjectedProfileKeys(kind)); err != nil {
			return err
		}
	}
	for _, owner := range kinds {
		through, ok := workload.ByName(owner.PodsThrough)
		if !ok {
			continue
		}
		if err := mgr.GetFieldIndexer().IndexField(ctx, through.NewObject(), controllerUID, controlledBy(owner)); err != nil {
			return err
		}
	}
	return nil
}

// controlledBy indexes an object by the UID of its controller, when that is of the owner kind.
func controlledBy(owner workload.Kind) client.IndexerFunc {
	return func(obj client.Object) []string {
		if ref := metav1.GetControllerOf(obj); ref != nil && ref.Kind == owner.GVK.Kind && ref.APIVersion == owner.GVK.GroupVersion().String() {
			return []string{string(ref.UID)}
		}
		return nil
	}
}

// InjectedProfileKeys returns the keys of the profiles recorded on a workload of the kind.
func InjectedProfileKeys(kind workload.Kind) client.IndexerFunc {
	return func(obj client.Object) []string {
		tmpl, err := kind.PodTemplate(obj)
		if err != nil {
			return nil
		}
		rec, err := inject.ReadRecord(tmpl)
		if err != nil {
			return nil
		}
		keys := make([]string, 0, len(rec.Profiles))
		for _, ref := range rec.Refs() {
			keys = append(keys, selection.Key(ref, obj.GetNamespace()))
		}
		return keys
	}
}

// ProfileKey is the index key of a profile object.
func ProfileKey(p selection.Profile) string {
	return selection.Key(selection.Ref(p), p.GetNamespace())
}

// WorkloadsOf lists the workloads of a kind that a profile selects now or that carry its injection: the only
// workloads a change to the profile can affect. They are the cache's own objects, not copies: read-only.
// protected are the namespaces ClusterSidecarProfiles never reach.
func WorkloadsOf(ctx context.Context, c client.Reader, kind workload.Kind, p selection.Profile, protected selection.Protected) ([]client.Object, error) {
	seen := map[types.NamespacedName]client.Object{}
	recorded := kind.NewList()
	if err := c.List(ctx, recorded, client.MatchingFields{injectedProfiles: ProfileKey(p)}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	for _, o := range kind.Items(recorded) {
		seen[client.ObjectKeyFromObject(o)] = o
	}
	sel, err := selection.Parse(p, protected)
	if err != nil || !p.GetDeletionTimestamp().IsZero() || !p.ProfileSpec().SelectsKind(kind.Name) {
		return values(seen), nil
	}
	namespaces, err := namespacesOf(ctx, c, p, sel)
	if err != nil {
		return nil, err
	}
	for _, ns := range namespaces {
		list := kind.NewList()
		if err := c.List(ctx, list, client.InNamespace(ns.Name), client.MatchingLabelsSelector{Selector: sel.Workloads}, client.UnsafeDisableDeepCopy); err != nil {
			return nil, err
		}
		for _, o := range kind.Items(list) {
			if selection.Selects(p, sel, kind.Name, o, ns.Labels) {
				seen[client.ObjectKeyFromObject(o)] = o
			}
		}
	}
	return values(seen), nil
}

// namespacesOf returns the namespaces a profile looks into: its own, or those its namespaceSelector selects.
func namespacesOf(ctx context.Context, c client.Reader, p selection.Profile, sel selection.Selectors) ([]corev1.Namespace, error) {
	if sel.Namespaces == nil {
		var ns corev1.Namespace
		if err := c.Get(ctx, types.NamespacedName{Name: p.GetNamespace()}, &ns); err != nil {
			return nil, client.IgnoreNotFound(err)
		}
		return []corev1.Namespace{ns}, nil
	}
	var list corev1.NamespaceList
	if err := c.List(ctx, &list, client.MatchingLabelsSelector{Selector: sel.Namespaces}); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// PodsOf lists a workload's pods from the cache (only Outrigger's, trimmed: see podcache): those its own
// selector matches, as its controller finds them, or those of the objects it controls (a CronJob's Jobs).
func PodsOf(ctx context.Context, c client.Reader, kind workload.Kind, obj client.Object) ([]corev1.Pod, error) {
	if kind.PodSelector != nil {
		return podsMatching(ctx, c, obj.GetNamespace(), kind.PodSelector(obj))
	}
	through, ok := workload.ByName(kind.PodsThrough)
	if !ok {
		return nil, nil
	}
	owned := through.NewList()
	if err := c.List(ctx, owned, client.InNamespace(obj.GetNamespace()), client.MatchingFields{controllerUID: string(obj.GetUID())}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing the %ss of %s %s/%s: %w", through.Name, kind.Name, obj.GetNamespace(), obj.GetName(), err)
	}
	var pods []corev1.Pod
	for _, o := range through.Items(owned) {
		more, err := PodsOf(ctx, c, through, o)
		if err != nil {
			return nil, err
		}
		pods = append(pods, more...)
	}
	return pods, nil
}

func podsMatching(ctx context.Context, c client.Reader, namespace string, ls *metav1.LabelSelector) ([]corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(ls)
	// An empty selector would take every pod of the namespace for the workload's: no controller does that.
	if ls == nil || err != nil || sel.Empty() {
		return nil, nil
	}
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabelsSelector{Selector: sel}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing pods in %s: %w", namespace, err)
	}
	return pods.Items, nil
}

func values(m map[types.NamespacedName]client.Object) []client.Object {
	out := make([]client.Object, 0, len(m))
	for _, o := range m {
		out = append(out, o)
	}
	return out
}

// Requests turns objects into reconcile requests.
func Requests(objs []client.Object) []reconcile.Request {
	reqs := make([]reconcile.Request, 0, len(objs))
	for _, o := range objs {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(o)})
	}
	return reqs
}
