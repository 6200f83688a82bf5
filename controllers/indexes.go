package controllers

import (
	"context"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/catalog"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/selection"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// indexInjectedProfiles indexes workloads by the profiles recorded on their pod template (selection.Key form),
// so that a profile finds the workloads it must clean up even once it no longer selects them.
const indexInjectedProfiles = "outrigger.injectedProfiles"

// indexCronJobUID indexes Jobs by the UID of the CronJob that made them, so a CronJob's status finds its pods.
const indexCronJobUID = "outrigger.cronJobUID"

// setupIndexes registers the index on every workload kind, and the Jobs' owner index.
func setupIndexes(ctx context.Context, mgr ctrl.Manager, kinds []workload.Kind) error {
	for _, kind := range kinds {
		if err := mgr.GetFieldIndexer().IndexField(ctx, kind.NewObject(), indexInjectedProfiles, injectedProfileKeys(kind)); err != nil {
			return err
		}
	}
	return mgr.GetFieldIndexer().IndexField(ctx, &batchv1.Job{}, indexCronJobUID, func(obj client.Object) []string {
		if owner := metav1.GetControllerOf(obj); owner != nil && owner.Kind == "CronJob" && owner.APIVersion == batchv1.SchemeGroupVersion.String() {
			return []string{string(owner.UID)}
		}
		return nil
	})
}

func injectedProfileKeys(kind workload.Kind) client.IndexerFunc {
	return func(obj client.Object) []string {
		rec, err := inject.ReadRecord(kind.Template(obj))
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

// profileKey is the index key of a profile object.
func profileKey(p selection.Profile) string {
	return selection.Key(selection.Ref(p), p.GetNamespace())
}

// workloadsOf lists the workloads of a kind that a profile selects now or that carry its injection: the only
// workloads a change to the profile can affect. They are the cache's own objects, not copies: read-only.
func workloadsOf(ctx context.Context, c client.Reader, kind workload.Kind, p selection.Profile) ([]client.Object, error) {
	seen := map[types.NamespacedName]client.Object{}
	recorded := kind.NewList()
	if err := c.List(ctx, recorded, client.MatchingFields{indexInjectedProfiles: profileKey(p)}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	for _, o := range kind.Items(recorded) {
		seen[client.ObjectKeyFromObject(o)] = o
	}
	sel, err := selection.Parse(p)
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

func values(m map[types.NamespacedName]client.Object) []client.Object {
	out := make([]client.Object, 0, len(m))
	for _, o := range m {
		out = append(out, o)
	}
	return out
}

// requestsFor turns objects into reconcile requests.
func requestsFor(objs []client.Object) []reconcile.Request {
	reqs := make([]reconcile.Request, 0, len(objs))
	for _, o := range objs {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(o)})
	}
	return reqs
}

// mapProfileToWorkloads enqueues the workloads a profile event can affect.
func mapProfileToWorkloads(c client.Reader, kind workload.Kind) func(context.Context, client.Object) []reconcile.Request {
	return func(ctx context.Context, obj client.Object) []reconcile.Request {
		objs, err := workloadsOf(ctx, c, kind, obj.(selection.Profile))
		if err != nil {
			log.FromContext(ctx).Error(err, "listing the workloads of a profile", "profile", obj.GetName())
			return nil
		}
		return requestsFor(objs)
	}
}

// mapNamespaceToWorkloads enqueues every workload of a namespace whose labels changed: cluster profiles may
// now select them or not.
func mapNamespaceToWorkloads(c client.Reader, kind workload.Kind) func(context.Context, client.Object) []reconcile.Request {
	return func(ctx context.Context, obj client.Object) []reconcile.Request {
		list := kind.NewList()
		if err := c.List(ctx, list, client.InNamespace(obj.GetName())); err != nil {
			log.FromContext(ctx).Error(err, "listing workloads", "namespace", obj.GetName())
			return nil
		}
		return requestsFor(kind.Items(list))
	}
}

// mapWorkloadToProfiles enqueues the profiles of one kind that select a workload or are recorded on it.
func mapWorkloadToProfiles(c client.Reader, kind workload.Kind, clusterScoped bool) func(context.Context, client.Object) []reconcile.Request {
	return func(ctx context.Context, obj client.Object) []reconcile.Request {
		cat := catalog.Catalog{Reader: c}
		profiles, err := cat.ProfilesInScope(ctx, obj.GetNamespace())
		if err != nil {
			log.FromContext(ctx).Error(err, "listing profiles")
			return nil
		}
		nsLabels, _ := cat.NamespaceLabels(ctx, obj.GetNamespace())
		recorded := map[string]bool{}
		for _, k := range injectedProfileKeys(kind)(obj) {
			recorded[k] = true
		}
		var reqs []reconcile.Request
		for _, p := range profiles {
			if (p.GetNamespace() == "") != clusterScoped {
				continue
			}
			sel, err := selection.Parse(p)
			if recorded[profileKey(p)] || (err == nil && selection.Selects(p, sel, kind.Name, obj, nsLabels)) {
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(p)})
			}
		}
		return reqs
	}
}

// mapNamespaceToClusterProfiles enqueues every ClusterSidecarProfile when a namespace's labels change.
func mapNamespaceToClusterProfiles(c client.Reader) func(context.Context, client.Object) []reconcile.Request {
	return func(ctx context.Context, _ client.Object) []reconcile.Request {
		var list v1alpha1.ClusterSidecarProfileList
		if err := c.List(ctx, &list); err != nil {
			log.FromContext(ctx).Error(err, "listing ClusterSidecarProfiles")
			return nil
		}
		reqs := make([]reconcile.Request, 0, len(list.Items))
		for i := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
		return reqs
	}
}
