package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/catalog"
	"github.com/outrigger-dev/outrigger/internal/selection"
)

// CollisionValidator refuses a profile whose sidecar or volume names are also used by another profile that can
// select the same workloads: on such a workload one of the two would be left out as a conflict. Rules that need
// no other object are in the CRD.
type CollisionValidator struct {
	Reader client.Reader
}

// Handle checks a created or updated profile against every other profile it can meet on a workload.
func (v *CollisionValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return admission.Allowed("")
	}
	p, err := decodeProfile(req)
	if err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if !p.GetDeletionTimestamp().IsZero() {
		return admission.Allowed("") // a profile on its way out collides with nobody
	}
	cat := catalog.Catalog{Reader: v.Reader}
	others, err := othersInReach(ctx, cat, p)
	if err != nil {
		return admission.Allowed("").WithWarnings(fmt.Sprintf("Outrigger could not check this profile against the others: %v", err))
	}
	nsLabels := func(ns string) map[string]string { l, _ := cat.NamespaceLabels(ctx, ns); return l }
	for _, q := range others {
		if sameProfile(p, q) || !q.GetDeletionTimestamp().IsZero() || !selection.MayOverlap(p, q, nsLabels) {
			continue
		}
		if msg := collision(p, q); msg != "" {
			return admission.Denied(msg)
		}
	}
	return admission.Allowed("")
}

func decodeProfile(req admission.Request) (selection.Profile, error) {
	var p selection.Profile
	switch req.Kind.Kind {
	case "SidecarProfile":
		p = &v1alpha1.SidecarProfile{}
	case "ClusterSidecarProfile":
		p = &v1alpha1.ClusterSidecarProfile{}
	default:
		return nil, fmt.Errorf("not a profile: %s", req.Kind.Kind)
	}
	if err := json.Unmarshal(req.Object.Raw, p); err != nil {
		return nil, fmt.Errorf("cannot read the %s: %w", req.Kind.Kind, err)
	}
	if p.GetNamespace() == "" && req.Namespace != "" {
		p.SetNamespace(req.Namespace)
	}
	return p, nil
}

// othersInReach lists the profiles p may meet: for a SidecarProfile, those of its namespace and the cluster ones;
// for a ClusterSidecarProfile, every profile.
func othersInReach(ctx context.Context, cat catalog.Catalog, p selection.Profile) ([]selection.Profile, error) {
	if p.GetNamespace() != "" {
		return cat.ProfilesInScope(ctx, p.GetNamespace())
	}
	return cat.AllProfiles(ctx)
}

func sameProfile(a, b selection.Profile) bool {
	return selection.Ref(a) == selection.Ref(b) && a.GetNamespace() == b.GetNamespace()
}

// collision names the first sidecar or volume p shares with q, the other profile, and what to do.
func collision(p, q selection.Profile) string {
	theirs := map[string]bool{}
	for _, s := range q.ProfileSpec().Sidecars {
		theirs["container/"+s.Name] = true
	}
	for _, vol := range q.ProfileSpec().Volumes {
		theirs["volume/"+vol.Name] = true
	}
	var clashes []string
	for i, s := range p.ProfileSpec().Sidecars {
		if theirs["container/"+s.Name] {
			clashes = append(clashes, fmt.Sprintf("sidecar %q (spec.sidecars[%d].name)", s.Name, i))
		}
	}
	for i, vol := range p.ProfileSpec().Volumes {
		if theirs["volume/"+vol.Name] {
			clashes = append(clashes, fmt.Sprintf("volume %q (spec.volumes[%d].name)", vol.Name, i))
		}
	}
	if len(clashes) == 0 {
		return ""
	}
	return fmt.Sprintf("%s collides with %s, which can select the same workloads: rename it, or make the two profiles' selectors (or workloadKinds) disjoint",
		strings.Join(clashes, " and "), describe(q))
}

// describe names a profile as a person would look it up.
func describe(p selection.Profile) string {
	if p.GetNamespace() == "" {
		return "ClusterSidecarProfile " + p.GetName()
	}
	return "SidecarProfile " + p.GetNamespace() + "/" + p.GetName()
}
