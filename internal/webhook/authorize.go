package webhook

import (
	"context"
	"fmt"
	"slices"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/internal/admission/authorship"
	"github.com/outrigger-dev/outrigger/internal/selection"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// The webhook asks the apiserver whether a profile's author may change the workloads the profile reaches.
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// Authorizer refuses a profile whose author could not make its change themselves: a profile rewrites the pod
// templates of the workloads it selects, with Outrigger's permissions, so without this check anyone allowed to
// write profiles could change workloads RBAC keeps them from. It asks the apiserver with SubjectAccessReviews,
// so every authorizer of the cluster (RBAC, webhooks, ...) has its say, as for the author's own requests.
type Authorizer struct {
	// Client creates SubjectAccessReviews; they are never cached, so the manager's client goes to the apiserver.
	Client client.Client
	// Kinds are the kinds a profile can select: the built-in ones and the configured ones; nil means the
	// built-in ones.
	Kinds workload.Kinds
}

func (a Authorizer) kinds() workload.Kinds {
	if a.Kinds == nil {
		return workload.All
	}
	return a.Kinds
}

// missingGrant is one verb on one resource the author may not use.
type missingGrant struct {
	Verb   string
	Kind   workload.Kind
	Reason string // the authorizer's own words, when it gave any
}

// Check returns "" when the author may update and patch every workload kind p can select where p can select it:
// in p's namespace for a SidecarProfile, in every namespace for a ClusterSidecarProfile (its namespaceSelector
// can match namespaces created or labelled later). Otherwise it returns why not and which grant would do. An
// error means the check itself failed; the caller must refuse the profile then, not let it through unchecked.
func (a Authorizer) Check(ctx context.Context, user authenticationv1.UserInfo, p selection.Profile) (string, error) {
	var missing []missingGrant
	for _, kind := range a.kinds() {
		if !p.ProfileSpec().SelectsKind(kind.Name) {
			continue
		}
		for _, verb := range authorship.Verbs {
			review := subjectAccessReview(user, verb, kind, p.GetNamespace())
			if err := a.Client.Create(ctx, review); err != nil {
				return "", fmt.Errorf("asking the apiserver whether %s may %s %s: %w", describeUser(user), verb, kind.GroupResource(), err)
			}
			if !review.Status.Allowed || review.Status.Denied {
				missing = append(missing, missingGrant{Verb: verb, Kind: kind, Reason: reason(review.Status)})
			}
		}
	}
	if len(missing) == 0 {
		return "", nil
	}
	return denial(user, p, missing), nil
}

// SpecUnchanged reports whether an update leaves what a profile selects and injects as it was: Outrigger's own
// finalizer writes, and any change of labels or annotations. Such an update widens nothing, so it needs no
// authorization (and Outrigger's ServiceAccount, which may not update Jobs, can still manage its finalizer).
func SpecUnchanged(oldProfile, newProfile selection.Profile) bool {
	return equality.Semantic.DeepEqual(oldProfile.ProfileSpec(), newProfile.ProfileSpec()) &&
		equality.Semantic.DeepEqual(oldProfile.NamespaceSelector(), newProfile.NamespaceSelector())
}

// subjectAccessReview asks whether the admission request's user, with all it authenticated as (groups, uid and
// extra, which impersonation and authorizer webhooks may rely on), may use verb on the kind's resource in namespace ("" is
// cluster-wide: every namespace).
func subjectAccessReview(user authenticationv1.UserInfo, verb string, kind workload.Kind, namespace string) *authorizationv1.SubjectAccessReview {
	var extra map[string]authorizationv1.ExtraValue
	if len(user.Extra) > 0 {
		extra = make(map[string]authorizationv1.ExtraValue, len(user.Extra))
		for k, v := range user.Extra {
			extra[k] = authorizationv1.ExtraValue(v)
		}
	}
	return &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   user.Username,
		Groups: user.Groups,
		UID:    user.UID,
		Extra:  extra,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: namespace, Verb: verb, Group: kind.GVK.Group, Resource: kind.Resource,
		},
	}}
}

func reason(st authorizationv1.SubjectAccessReviewStatus) string {
	switch {
	case st.Reason != "" && st.EvaluationError != "":
		return st.Reason + "; " + st.EvaluationError
	case st.EvaluationError != "":
		return st.EvaluationError
	}
	return st.Reason
}

// denial names the user, the verbs, the resources and the namespace, and the grant that would allow the profile
// (in authorship.Denial's words, which the admission policies of policy mode use too).
func denial(user authenticationv1.UserInfo, p selection.Profile, missing []missingGrant) string {
	var grants []authorship.Missing
	var reasons []string
	for _, m := range missing {
		grants = append(grants, authorship.Missing{Verb: m.Verb, Resource: m.Kind.GroupResource().String()})
		if m.Reason != "" && !slices.Contains(reasons, m.Reason) {
			reasons = append(reasons, m.Reason)
		}
	}
	namespace := ""
	if ns := p.GetNamespace(); ns != "" {
		namespace = authorship.Quote(ns)
	}
	return authorship.Denial(describeUser(user), namespace, grants, reasons)
}

func describeUser(user authenticationv1.UserInfo) string {
	return authorship.DescribeUser(user.Username, user.Groups)
}
