// Package catalog answers, from a cache, which profiles select a workload: the engine input that the
// reconcilers, the profile status and the admission webhook all share, so they never disagree.
package catalog

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

// Catalog answers, from the cache, which profiles select a workload. The profiles it returns are the cache's own
// objects, not copies (the webhook and the reconcilers ask for every workload, and copying every profile each
// time was most of their cost): read them, never change them.
type Catalog struct {
	client.Reader
	// Protected are the namespaces ClusterSidecarProfiles never reach (kube-system and Outrigger's own).
	Protected selection.Protected
}

// EngineInput returns the profiles the engine must apply to a workload. A recorded profile whose selector
// cannot be parsed keeps what it injected (KeepOnly) rather than being stripped by accident. frozen asks what
// the engine would do to a workload that cannot change (a Job after admission): every profile is KeepOnly.
func (c Catalog) EngineInput(ctx context.Context, kind workload.Kind, obj client.Object, frozen bool) ([]inject.Profile, error) {
	tmpl, err := kind.PodTemplate(obj)
	if err != nil {
		return nil, err
	}
	rec, err := inject.ReadRecord(tmpl)
	if err != nil {
		return nil, err
	}
	profiles, err := c.ProfilesInScope(ctx, obj.GetNamespace())
	if err != nil {
		return nil, err
	}
	nsLabels, err := c.NamespaceLabels(ctx, obj.GetNamespace())
	if err != nil {
		return nil, err
	}
	var input []inject.Profile
	for _, p := range profiles {
		ref := selection.Ref(p)
		_, recorded := rec.Entry(ref)
		sel, err := selection.Parse(p, c.Protected)
		switch {
		case err != nil && recorded && p.GetDeletionTimestamp().IsZero():
			input = append(input, inject.Profile{Ref: ref, Spec: p.ProfileSpec(), KeepOnly: true})
		case err == nil && selection.Selects(p, sel, kind.Name, obj, nsLabels):
			input = append(input, selection.ForEngine(p, obj, recorded))
		}
	}
	if frozen {
		for i := range input {
			input[i].KeepOnly = true
		}
	}
	return input, nil
}

// ProfilesInScope lists the SidecarProfiles of a namespace and every ClusterSidecarProfile: all the profiles
// that can select a workload of that namespace.
func (c Catalog) ProfilesInScope(ctx context.Context, namespace string) ([]selection.Profile, error) {
	return c.profiles(ctx, client.InNamespace(namespace))
}

// AllProfiles lists every SidecarProfile, in every namespace, and every ClusterSidecarProfile.
func (c Catalog) AllProfiles(ctx context.Context) ([]selection.Profile, error) {
	return c.profiles(ctx)
}

// profiles lists the SidecarProfiles the options select, and every ClusterSidecarProfile.
func (c Catalog) profiles(ctx context.Context, opts ...client.ListOption) ([]selection.Profile, error) {
	var local v1alpha1.SidecarProfileList
	if err := c.List(ctx, &local, append(opts, client.UnsafeDisableDeepCopy)...); err != nil {
		return nil, fmt.Errorf("listing SidecarProfiles: %w", err)
	}
	var cluster v1alpha1.ClusterSidecarProfileList
	if err := c.List(ctx, &cluster, client.UnsafeDisableDeepCopy); err != nil {
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

// NamespaceLabels returns the labels of a namespace; none when it does not exist.
func (c Catalog) NamespaceLabels(ctx context.Context, name string) (map[string]string, error) {
	var ns corev1.Namespace
	if err := c.Get(ctx, types.NamespacedName{Name: name}, &ns); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading namespace %s: %w", name, err)
	}
	return ns.Labels, nil
}
