// Package catalog answers, from a cache, which profiles select a workload: the engine input that the
// reconcilers, the profile status and the admission webhook all share, so they never disagree.
package catalog

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/revision"
	"github.com/outrigger-dev/outrigger/internal/revision/history"
	"github.com/outrigger-dev/outrigger/internal/selection"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// Catalog answers, from the cache, which profiles select a workload. The profiles it returns are the cache's own
// objects, not copies (the webhook and the reconcilers ask for every workload, and copying every profile each
// time was most of their cost): read them, never change them.
type Catalog struct {
	client.Reader
	// Protected are the namespaces ClusterSidecarProfiles never reach (kube-system, Outrigger's own and --excluded-namespaces).
	Protected selection.Protected
	// RevisionNamespace is where ClusterSidecarProfiles' revisions are kept (Outrigger's own namespace).
	RevisionNamespace string
}

// Mode says who asks for the engine's input.
type Mode int

const (
	// Reconcile: the reconciler, for a workload that exists. A profile rolling out in waves gives it the stable
	// revision until its wave opens.
	Reconcile Mode = iota
	// Admission: a workload being created or updated (the webhook, and the CLI's preview of it).
	Admission
	// Frozen: a workload that cannot change (a Job after admission): every profile keeps what it has.
	Frozen
	// Current: every profile at its current revision, whatever its rollout: what the current revision would do
	// to the workload (a conflict, say), which the profile's status reports before the workload's wave opens.
	Current
)

// EngineInput returns the profiles the engine must apply to a workload, each at the revision the workload gets
// (Target). A recorded profile whose selector cannot be parsed keeps what it injected (KeepOnly) rather than
// being stripped by accident.
func (c Catalog) EngineInput(ctx context.Context, kind workload.Kind, obj client.Object, mode Mode) ([]inject.Profile, error) {
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
			in := selection.ForEngine(p, obj, recorded)
			if (mode == Reconcile || mode == Admission) && !in.KeepOnly {
				in = c.atTarget(ctx, p, in, c.Target(p, sel, kind, obj, nsLabels, mode))
			}
			input = append(input, in)
		}
	}
	if mode == Frozen {
		for i := range input {
			input[i].KeepOnly = true
		}
	}
	return input, nil
}

// Target is the revision of a selecting profile a workload gets (revision.Target): the profile's current
// revision, unless the profile rolls it out in waves that have not reached the workload. A profile with
// updatePolicy OnCreate changes no existing workload, so it has no waves.
func (c Catalog) Target(p selection.Profile, sel selection.Selectors, kind workload.Kind, obj client.Object, nsLabels map[string]string, mode Mode) string {
	target, _ := c.Explain(p, sel, kind, obj, nsLabels, mode)
	return target
}

// Explain is Target, and why in words ("" when no rollout is in progress).
func (c Catalog) Explain(p selection.Profile, sel selection.Selectors, kind workload.Kind, obj client.Object, nsLabels map[string]string, mode Mode) (target, why string) {
	current := inject.Revision(p.ProfileSpec())
	if p.ProfileSpec().UpdatePolicy == v1alpha1.UpdatePolicyOnCreate {
		return current, ""
	}
	return revision.Explain(p.ProfileStatus().Rollout, current, RankOf(sel, kind, obj, nsLabels),
		revision.Asker{Admission: mode == Admission, Frozen: kind.Immutable})
}

// RankOf is a workload's place in a profile's rollout order. A Job a CronJob created goes with its CronJob, so
// the two never get different revisions.
func RankOf(sel selection.Selectors, kind workload.Kind, obj client.Object, nsLabels map[string]string) string {
	name, kindName := obj.GetName(), string(kind.Name)
	if owner := metav1.GetControllerOf(obj); owner != nil && kind.Name == v1alpha1.KindJob && owner.Kind == string(v1alpha1.KindCronJob) {
		name, kindName = owner.Name, owner.Kind
	}
	return revision.Rank(kindName, obj.GetNamespace(), name, sel.InCanary(obj.GetLabels(), nsLabels))
}

// atTarget gives the engine the profile at the target revision: the spec as it is for the current one, the
// stored content of an older one, or KeepOnly (leave the workload's injection as it is) for none, a hold, or a
// stored revision that cannot be read.
func (c Catalog) atTarget(ctx context.Context, p selection.Profile, in inject.Profile, target string) inject.Profile {
	switch target {
	case inject.Revision(p.ProfileSpec()):
		return in
	case "", revision.Hold:
		in.KeepOnly = true
		return in
	}
	data, err := history.Read(ctx, c.Reader, revision.Namespace(p.GetNamespace(), c.RevisionNamespace), p.GetName(), p.GetUID(), target)
	if err == nil {
		in.Spec, err = revision.SpecAt(p.ProfileSpec(), target, data)
	}
	if err != nil {
		log.FromContext(ctx).Error(err, "keeping a workload's sidecars as they are", "profile", selection.Ref(p).String())
		in.KeepOnly = true
	}
	return in
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

// AdmissionSpec is the spec of the revision that a new workload whose place in the rollout order is unknown gets
// from a profile at admission (revision.Unranked): what the admission policies compile. Nil for none: a first
// revision whose rollout halted, or a stored revision that cannot be read. frozen is for kinds whose template
// cannot change after admission (a Job never gets a halted revision).
func (c Catalog) AdmissionSpec(ctx context.Context, p selection.Profile, frozen bool) *v1alpha1.SidecarProfileSpec {
	current := inject.Revision(p.ProfileSpec())
	target := current
	if p.ProfileSpec().UpdatePolicy != v1alpha1.UpdatePolicyOnCreate {
		target = revision.Target(p.ProfileStatus().Rollout, current, revision.Unranked, revision.Asker{Admission: true, Frozen: frozen})
	}
	in := c.atTarget(ctx, p, inject.Profile{Ref: selection.Ref(p), Spec: p.ProfileSpec()}, target)
	if in.KeepOnly {
		return nil
	}
	return in.Spec
}
