package webhook

import (
	"context"
	"fmt"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/outrigger-dev/outrigger/internal/catalog"
	"github.com/outrigger-dev/outrigger/internal/selection"
)

// ProfileValidator is the validating webhook for both profile kinds. It checks, in this order:
//   - that the profile's author may change, themselves, every workload the profile can reach (Authorizer): a
//     profile must never be a way around RBAC;
//   - that its sidecar and volume names collide with no other profile that can select the same workloads
//     (CollisionValidator).
//
// It sees creates and updates of the profiles only, not their status (a subresource the webhook's rules leave
// out) and not deletions: removing a profile only gives the workloads their own templates back.
type ProfileValidator struct {
	Authorizer Authorizer
	Collisions CollisionValidator
}

// Handle checks a created or updated profile.
func (v *ProfileValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return admission.Allowed("")
	}
	p, err := selection.DecodeProfile(req.Kind.Kind, req.Object.Raw, req.Namespace)
	if err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if !p.GetDeletionTimestamp().IsZero() {
		return admission.Allowed("") // a profile on its way out selects nothing and collides with nobody
	}
	changed, resp := specChanged(req, p)
	if !resp.Allowed {
		return resp
	}
	if changed {
		// Creates and the updates that change what the profile selects or injects; an update of its metadata
		// alone (a finalizer going) must pass even if the profile predates a rule.
		if err := selection.CheckKinds(p, v.Authorizer.kinds().Names()); err != nil {
			return admission.Denied(err.Error())
		}
		if _, err := selection.Check(p, v.Collisions.Protected); err != nil {
			return admission.Denied(err.Error())
		}
		if resp := v.authorize(ctx, req, p); !resp.Allowed {
			return resp
		}
	}
	return v.Collisions.Check(ctx, p)
}

// specChanged reports whether a request creates the profile or changes its spec.
func specChanged(req admission.Request, p selection.Profile) (bool, admission.Response) {
	if req.Operation != admissionv1.Update {
		return true, admission.Allowed("")
	}
	old, err := selection.DecodeProfile(req.Kind.Kind, req.OldObject.Raw, req.Namespace)
	if err != nil {
		return false, admission.Errored(http.StatusBadRequest, fmt.Errorf("the profile before the update: %w", err))
	}
	return !SpecUnchanged(old, p), admission.Allowed("")
}

// authorize runs the Authorizer. When the check cannot be made, the profile is refused: an unchecked profile
// could be a way around RBAC.
func (v *ProfileValidator) authorize(ctx context.Context, req admission.Request, p selection.Profile) admission.Response {
	msg, err := v.Authorizer.Check(ctx, req.UserInfo, p)
	if err != nil {
		// The refusal a person reads opens with the product's name, a proper noun (docs/security.md quotes it).
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf( //nolint:staticcheck // ST1005, see above
			"Outrigger could not check that the author of %s may change the workloads it can select, so it refuses the profile rather than let it through unchecked; "+
				"retry, and if this persists check that Outrigger's ServiceAccount may create subjectaccessreviews.authorization.k8s.io: %w", selection.Name(p), err))
	}
	if msg != "" {
		return admission.Denied(msg)
	}
	return admission.Allowed("")
}

// CollisionValidator refuses a profile whose sidecar or volume names are also used by another profile that can
// select the same workloads: on such a workload one of the two would be left out as a conflict. Rules that need
// no other object are in the CRD.
type CollisionValidator struct {
	Reader client.Reader
	// Protected are the namespaces ClusterSidecarProfiles never reach: two profiles cannot meet there.
	Protected selection.Protected
}

// Check checks a profile against every other profile it can meet on a workload. A failure to list the others is
// a warning, not a refusal: a collision is a conflict the status reports, not a way around anyone's rights.
func (v CollisionValidator) Check(ctx context.Context, p selection.Profile) admission.Response {
	cat := catalog.Catalog{Reader: v.Reader, Protected: v.Protected}
	others, err := othersInReach(ctx, cat, p)
	if err != nil {
		return admission.Allowed("").WithWarnings(fmt.Sprintf("Outrigger could not check this profile against the others: %v", err))
	}
	nsLabels := func(ns string) map[string]string { l, _ := cat.NamespaceLabels(ctx, ns); return l }
	for _, q := range others {
		if sameProfile(p, q) || !q.GetDeletionTimestamp().IsZero() || !selection.MayOverlap(p, q, nsLabels, v.Protected) {
			continue
		}
		if msg := selection.Collision(p, q); msg != "" {
			return admission.Denied(msg)
		}
	}
	return admission.Allowed("")
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
