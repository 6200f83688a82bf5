// Package history keeps a profile's revisions as ControllerRevisions, as Kubernetes keeps a DaemonSet's or a
// StatefulSet's: it reads them back for the workloads outside the open waves, stores the current one and prunes
// the oldest. It is the IO half of internal/revision, which stays free of any client.
package history

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/revision"
)

// ProfileUIDLabel is on every ControllerRevision Outrigger keeps: the UID of the profile it is a revision of. The
// manager's cache holds only ControllerRevisions that carry it.
const ProfileUIDLabel = "sidecars.outrigger.dev/profile-uid"

// Limit is how many of a profile's revisions are kept, as a Deployment's revisionHistoryLimit default.
// The stable and the candidate revisions are kept beyond it.
const Limit = 10

// CacheByObject is the cache configuration of ControllerRevisions, to merge into ctrl.Options.Cache.ByObject:
// only Outrigger's, not every DaemonSet's and StatefulSet's history.
func CacheByObject() map[client.Object]cache.ByObject {
	has, err := labels.NewRequirement(ProfileUIDLabel, selection.Exists, nil)
	if err != nil {
		panic(err) // a constant key: cannot happen
	}
	return map[client.Object]cache.ByObject{&appsv1.ControllerRevision{}: {Label: labels.NewSelector().Add(*has)}}
}

// Read returns the stored content of a profile's revision, from its ControllerRevision. Only one owned by the
// profile counts: another object's ControllerRevision of the same name is not the profile's.
func Read(ctx context.Context, c client.Reader, namespace, profile string, uid types.UID, hash string) ([]byte, error) {
	var cr appsv1.ControllerRevision
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: revision.Name(profile, hash)}, &cr); err != nil {
		return nil, fmt.Errorf("reading revision %s of the profile (ControllerRevision %s/%s): %w", hash, namespace, revision.Name(profile, hash), err)
	}
	if cr.Labels[ProfileUIDLabel] != string(uid) {
		return nil, fmt.Errorf("ControllerRevision %s/%s is not the profile's (label %s is %q)", namespace, cr.Name, ProfileUIDLabel, cr.Labels[ProfileUIDLabel])
	}
	return cr.Data.Raw, nil
}

// Profile is what the store needs of a profile: its identity, for the owner reference, and its spec.
type Profile interface {
	client.Object
	ProfileSpec() *v1alpha1.SidecarProfileSpec
}

// Store keeps a profile's revisions as ControllerRevisions.
type Store struct {
	Client client.Client
	// Namespace is where ClusterSidecarProfiles' revisions live.
	Namespace string
}

// Keep stores the profile's current revision (hash) if it is not stored yet, and deletes the oldest revisions
// beyond Limit, never those in keep (the stable and candidate revisions). The revisions are owned by the
// profile, so the garbage collector deletes them with it.
func (s Store) Keep(ctx context.Context, p Profile, gvk metav1.GroupVersionKind, hash string, keep ...string) error {
	ns := revision.Namespace(p.GetNamespace(), s.Namespace)
	var list appsv1.ControllerRevisionList
	if err := s.Client.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{ProfileUIDLabel: string(p.GetUID())}); err != nil {
		return fmt.Errorf("listing the profile's revisions: %w", err)
	}
	items := list.Items
	slices.SortFunc(items, func(a, b appsv1.ControllerRevision) int { return cmp.Compare(a.Revision, b.Revision) })
	if !slices.ContainsFunc(items, func(cr appsv1.ControllerRevision) bool { return cr.Name == revision.Name(p.GetName(), hash) }) {
		next := int64(1)
		if len(items) > 0 {
			next = items[len(items)-1].Revision + 1
		}
		cr, err := s.revision(p, gvk, ns, hash, next)
		if err != nil {
			return err
		}
		if err := s.Client.Create(ctx, cr, client.FieldOwner(v1alpha1.FieldManager)); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("storing revision %s of the profile (ControllerRevision %s/%s): %w", hash, ns, cr.Name, err)
		}
		items = append(items, *cr)
	}
	return s.prune(ctx, p, items, append(keep, hash))
}

// prune deletes the oldest revisions beyond Limit, except those kept.
func (s Store) prune(ctx context.Context, p Profile, items []appsv1.ControllerRevision, keep []string) error {
	excess := len(items) - Limit
	for _, cr := range items {
		if excess <= 0 {
			return nil
		}
		if slices.ContainsFunc(keep, func(h string) bool { return h != "" && cr.Name == revision.Name(p.GetName(), h) }) {
			continue
		}
		if err := s.Client.Delete(ctx, &cr, client.Preconditions{UID: &cr.UID}); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting revision %s/%s beyond the history limit: %w", cr.Namespace, cr.Name, err)
		}
		excess--
	}
	return nil
}

func (s Store) revision(p Profile, gvk metav1.GroupVersionKind, ns, hash string, number int64) (*appsv1.ControllerRevision, error) {
	data, err := revision.Encode(p.ProfileSpec())
	if err != nil {
		return nil, fmt.Errorf("encoding revision %s: %w", hash, err)
	}
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name: revision.Name(p.GetName(), hash), Namespace: ns,
			Labels: map[string]string{ProfileUIDLabel: string(p.GetUID())},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: gvk.Group + "/" + gvk.Version, Kind: gvk.Kind,
				Name: p.GetName(), UID: p.GetUID()}},
		},
		Data:     runtime.RawExtension{Raw: data},
		Revision: number,
	}, nil
}
