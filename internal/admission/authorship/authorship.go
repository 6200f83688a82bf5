// Package authorship is the rule that a profile's author may change, themselves, every workload the profile can
// select: the verbs it takes and the refusal the author reads. Outrigger checks it in two places, which must
// agree: the profiles' validating webhook (internal/webhook, with SubjectAccessReviews) in every mode, and, in
// policy mode, the ValidatingAdmissionPolicies internal/admission/policy compiles (with the CEL authorizer),
// which the apiserver runs in-process whether the manager is up or not. Both refuse with Denial's words.
package authorship

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Verbs are the verbs that change an existing workload's pod template: a profile does exactly that (the
// reconciler patches, the admission webhook and policies rewrite creates and updates), so its author must hold
// both.
var Verbs = []string{"update", "patch"}

// Missing is one verb on one resource the author may not use.
type Missing struct {
	Verb string
	// Resource is as RBAC and kubectl name it: deployments.apps.
	Resource string
}

// Denial is the refusal of a profile whose author lacks grants: it names the user, the verbs, the resources and
// the namespace, and the grant that would allow the profile. user is how the user is named (DescribeUser);
// namespace is the SidecarProfile's namespace as the message shows it (Quote), "" for a ClusterSidecarProfile,
// which needs the grants cluster-wide. reasons are the authorizer's own words, when it gave any.
func Denial(user, namespace string, missing []Missing, reasons []string) string {
	var what, resources []string
	for _, m := range missing {
		what = append(what, m.Verb+" "+m.Resource)
		if !slices.Contains(resources, m.Resource) {
			resources = append(resources, m.Resource)
		}
	}
	rules := fmt.Sprintf("verbs %s on %s", strings.Join(Verbs, " and "), strings.Join(resources, ", "))
	var msg string
	if namespace != "" {
		msg = fmt.Sprintf("%s may not %s in namespace %s, and a SidecarProfile rewrites the pod templates of the workloads it selects there: "+
			"a profile cannot change what its author could not. To allow it, bind the user in namespace %s (a RoleBinding) to a Role or ClusterRole with %s "+
			"(the built-in edit and admin ClusterRoles have them), or limit spec.workloadKinds to kinds the user may change",
			user, strings.Join(what, ", "), namespace, namespace, rules)
	} else {
		msg = fmt.Sprintf("%s may not %s in every namespace (cluster-wide), and a ClusterSidecarProfile rewrites the pod templates of the workloads it selects in any namespace, "+
			"including namespaces created or labelled later: a profile cannot change what its author could not. To allow it, bind the user with a ClusterRoleBinding to a ClusterRole with %s "+
			"(cluster-admin has them; rights in some namespaces are not enough), use a SidecarProfile in each namespace instead, or limit spec.workloadKinds to kinds the user may change everywhere",
			user, strings.Join(what, ", "), rules)
	}
	if len(reasons) > 0 {
		msg += " (the authorizer said: " + strings.Join(reasons, "; ") + ")"
	}
	return msg
}

// DescribeUser names the user as the apiserver knows them, and their groups, which RBAC bindings may name too.
func DescribeUser(name string, groups []string) string {
	if len(groups) == 0 {
		return "user " + Quote(name)
	}
	return fmt.Sprintf("user %s (groups %s)", Quote(name), strings.Join(groups, ", "))
}

// Quote is how a user or namespace name appears in Denial.
func Quote(s string) string { return strconv.Quote(s) }
