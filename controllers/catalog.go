package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/selection"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// Catalog answers, from the cache, which profiles select a workload. Both reconcilers ask it, so the status a
// profile reports is computed from exactly the engine input the workload reconciler uses.
type Catalog struct {
	client.Reader
}

// EngineInput returns the profiles the engine must apply to a workload. A recorded profile whose selector
// cannot be parsed keeps what it injected (KeepOnly) rather than being stripped by accident.
func (c Catalog) EngineInput(ctx context.Context, kind workload.Kind, obj client.Object) ([]inject.Profile, error) {
	rec, err := inject.ReadRecord(kind.Template(obj))
	if err != nil {
		return nil, err
	}
	profiles, err := c.profilesInScope(ctx, obj.GetNamespace())
	if err != nil {
		return nil, err
	}
	nsLabels, err := c.namespaceLabels(ctx, obj.GetNamespace())
	if err != nil {
		return nil, err
	}
	var input []inject.Profile
	for _, p := range profiles {
		ref := selection.Ref(p)
		_, recorded := rec.Entry(ref)
		sel, err := selection.Parse(p)
		switch {
		case err != nil && recorded && p.GetDeletionTimestamp().IsZero():
			input = append(input, inject.Profile{Ref: ref, Spec: p.ProfileSpec(), KeepOnly: true})
		case err == nil && selection.Selects(p, sel, kind.Name, obj, nsLabels):
			input = append(input, selection.ForEngine(p, obj, recorded))
		}
	}
	return input, nil
}

// profilesInScope lists the SidecarProfiles of a namespace and every ClusterSidecarProfile.
func (c Catalog) profilesInScope(ctx context.Context, namespace string) ([]selection.Profile, error) {
	var local v1alpha1.SidecarProfileList
	if err := c.List(ctx, &local, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("listing SidecarProfiles in %s: %w", namespace, err)
	}
	var cluster v1alpha1.ClusterSidecarProfileList
	if err := c.List(ctx, &cluster); err != nil {
		return nil, fmt.Errorf("listing ClusterSidecarProfiles: %w", err)
	}
	out := make([]selection.Profile, 0, len(local.Items)+len(cluster.Items))
	for i := range local.Items {
		out = append(out, &local.Items[i])
	}
	for i := range cluster.Items {
		out = append(out, &cluster.Items[i])
	}
	return out, nil
}

func (c Catalog) namespaceLabels(ctx context.Context, name string) (map[string]string, error) {
	var ns corev1.Namespace
	if err := c.Get(ctx, types.NamespacedName{Name: name}, &ns); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading namespace %s: %w", name, err)
	}
	return ns.Labels, nil
}
