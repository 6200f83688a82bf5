package profile

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/catalog"
	"github.com/outrigger-dev/outrigger/internal/controller/index"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/selection"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// specOrDeletionChanged passes the profile events that can change its status or let it go: a new spec
// (generation), the start of deletion, and, on a profile being deleted, a change of its finalizers (another
// controller's going can leave Outrigger's the last). Its own status writes, the most frequent, pass not: each
// would compute the status again at once.
var specOrDeletionChanged = predicate.Or(predicate.GenerationChangedPredicate{}, predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		deleting := !e.ObjectNew.GetDeletionTimestamp().IsZero()
		return e.ObjectOld.GetDeletionTimestamp().IsZero() == deleting ||
			(deleting && !equality.Semantic.DeepEqual(e.ObjectOld.GetFinalizers(), e.ObjectNew.GetFinalizers()))
	},
})

// mapWorkloadToProfiles enqueues the profiles of one kind that select a workload or are recorded on it.
func mapWorkloadToProfiles(cat catalog.Catalog, kind workload.Kind, clusterScoped bool) handler.MapFunc {
	return func(ctx context.Context, obj client.Object) []reconcile.Request {
		profiles, err := cat.ProfilesInScope(ctx, obj.GetNamespace())
		if err != nil {
			log.FromContext(ctx).Error(err, "listing profiles")
			return nil
		}
		nsLabels, _ := cat.NamespaceLabels(ctx, obj.GetNamespace())
		recorded := map[string]bool{}
		for _, k := range index.InjectedProfileKeys(kind)(obj) {
			recorded[k] = true
		}
		var reqs []reconcile.Request
		for _, p := range profiles {
			if (p.GetNamespace() == "") != clusterScoped {
				continue
			}
			sel, err := selection.Parse(p, cat.Protected)
			if recorded[index.ProfileKey(p)] || (err == nil && selection.Selects(p, sel, kind.Name, obj, nsLabels)) {
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(p)})
			}
		}
		return reqs
	}
}

// mapToProfilesInScope enqueues the profiles of one kind that can select a workload of the object's namespace:
// its SidecarProfiles, or every ClusterSidecarProfile.
func mapToProfilesInScope(cat catalog.Catalog, clusterScoped bool) handler.MapFunc {
	return func(ctx context.Context, obj client.Object) []reconcile.Request {
		profiles, err := cat.ProfilesInScope(ctx, obj.GetNamespace())
		if err != nil {
			log.FromContext(ctx).Error(err, "listing profiles")
			return nil
		}
		var reqs []reconcile.Request
		for _, p := range profiles {
			if (p.GetNamespace() == "") == clusterScoped {
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(p)})
			}
		}
		return reqs
	}
}

// mapToEveryProfile enqueues every profile of one kind: for cluster profiles when a namespace's labels change,
// and for both when the kinds the manager serves change.
func mapToEveryProfile(c client.Reader, clusterScoped bool) handler.MapFunc {
	return func(ctx context.Context, _ client.Object) []reconcile.Request {
		var keys []client.ObjectKey
		var err error
		if clusterScoped {
			var list v1alpha1.ClusterSidecarProfileList
			err = c.List(ctx, &list)
			for i := range list.Items {
				keys = append(keys, client.ObjectKeyFromObject(&list.Items[i]))
			}
		} else {
			var list v1alpha1.SidecarProfileList
			err = c.List(ctx, &list)
			for i := range list.Items {
				keys = append(keys, client.ObjectKeyFromObject(&list.Items[i]))
			}
		}
		if err != nil {
			log.FromContext(ctx).Error(err, "listing the profiles")
			return nil
		}
		reqs := make([]reconcile.Request, 0, len(keys))
		for _, k := range keys {
			reqs = append(reqs, reconcile.Request{NamespacedName: k})
		}
		return reqs
	}
}

// mapPodToProfiles enqueues the profiles of one kind recorded on a pod: its sidecars' health is theirs.
func mapPodToProfiles(clusterScoped bool) func(context.Context, client.Object) []reconcile.Request {
	return func(_ context.Context, obj client.Object) []reconcile.Request {
		rec, err := inject.ReadRecord(&corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Annotations: obj.GetAnnotations()}})
		if err != nil {
			return nil
		}
		var reqs []reconcile.Request
		for _, ref := range rec.Refs() {
			switch {
			case ref.Kind == inject.KindClusterSidecarProfile && clusterScoped:
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKey{Name: ref.Name}})
			case ref.Kind == inject.KindSidecarProfile && !clusterScoped:
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKey{Namespace: obj.GetNamespace(), Name: ref.Name}})
			}
		}
		return reqs
	}
}

// podChanged passes pod updates that change what the cache keeps of the pod (it is trimmed to what status
// reads), not those that only bump its resourceVersion.
var podChanged = predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
	a, okA := e.ObjectOld.(*corev1.Pod)
	b, okB := e.ObjectNew.(*corev1.Pod)
	if !okA || !okB {
		return true
	}
	x, y := *a, *b
	x.ResourceVersion, y.ResourceVersion = "", ""
	return !equality.Semantic.DeepEqual(x, y)
}}

// rolloutChanged passes updates of a workload of the kind that change the rollout status reads (most status
// writes of a Deployment change nothing the profile reports).
func rolloutChanged(kind workload.Kind) predicate.Funcs {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		return !equality.Semantic.DeepEqual(kind.Rollout(e.ObjectOld), kind.Rollout(e.ObjectNew))
	}}
}
