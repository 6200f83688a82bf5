package webhook

import (
	"context"
	"fmt"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/internal/selection"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// The webhook asks the apiserver whether a profile's author may change the workloads the profile reaches.
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// workloadVerbs are the verbs that change an existing workload's pod template: a profile does exactly that (the
// reconciler patches, the webhook rewrites updates), so its author must hold both.
var workloadVerbs = []string{"update", "patch"}

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
		for _, verb := range workloadVerbs {
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

// denial names the user, the verbs, the resources and the namespace, and the grant that would allow the profile.
func denial(user authenticationv1.UserInfo, p selection.Profile, missing []missingGrant) string {
	var what, reasons, resources []string
	seen := map[string]bool{}
	for _, m := range missing {
		what = append(what, m.Verb+" "+m.Kind.GroupResource().String())
		if m.Reason != "" && !seen["reason/"+m.Reason] {
			seen["reason/"+m.Reason] = true
			reasons = append(reasons, m.Reason)
		}
		if !seen[m.Kind.GroupResource().String()] {
			seen[m.Kind.GroupResource().String()] = true
			resources = append(resources, m.Kind.GroupResource().String())
		}
	}
	rules := fmt.Sprintf("verbs update and patch on %s", strings.Join(resources, ", "))
	var msg string
	if ns := p.GetNamespace(); ns != "" {
		msg = fmt.Sprintf("%s may not %s in namespace %q, and a SidecarProfile rewrites the pod templates of the workloads it selects there: "+
			"a profile cannot change what its author could not. To allow it, bind the user in namespace %q (a RoleBinding) to a Role or ClusterRole with %s "+
			"(the built-in edit and admin ClusterRoles have them), or limit spec.workloadKinds to kinds the user may change",
			describeUser(user), strings.Join(what, ", "), ns, ns, rules)
	} else {
		msg = fmt.Sprintf("%s may not %s in every namespace (cluster-wide), and a ClusterSidecarProfile rewrites the pod templates of the workloads it selects in any namespace, "+
			"including namespaces created or labelled later: a profile cannot change what its author could not. To allow it, bind the user with a ClusterRoleBinding to a ClusterRole with %s "+
			"(cluster-admin has them; rights in some namespaces are not enough), use a SidecarProfile in each namespace instead, or limit spec.workloadKinds to kinds the user may change everywhere",
			describeUser(user), strings.Join(what, ", "), rules)
	}
	if len(reasons) > 0 {
		msg += " (the authorizer said: " + strings.Join(reasons, "; ") + ")"
	}
	return msg
}

// describeUser names the user as the apiserver knows them, and their groups, which RBAC bindings may name too.
func describeUser(user authenticationv1.UserInfo) string {
	if len(user.Groups) == 0 {
		return fmt.Sprintf("user %q", user.Username)
	}
	return fmt.Sprintf("user %q (groups %s)", user.Username, strings.Join(user.Groups, ", "))
}
