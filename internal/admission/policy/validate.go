package policy

import (
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/admission/authorship"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// Validating is a ValidatingAdmissionPolicy and its binding.
type Validating struct {
	Policy  *admissionregistrationv1.ValidatingAdmissionPolicy
	Binding *admissionregistrationv1.ValidatingAdmissionPolicyBinding
}

// ProfileChecksName is the name of the policy that checks a profile's workloadKinds and selectors; each kind's
// authorization check is ProfileChecksName.<resource>.<group>. The dash keeps them apart from every name Name
// gives.
const ProfileChecksName = "outrigger-profiles"

// ProfileChecks compiles the checks on profiles that a ValidatingAdmissionPolicy can make exactly as the
// profiles' validating webhook makes them (internal/webhook.ProfileValidator), so that the apiserver makes them
// itself, in-process, whether the manager runs or not:
//   - spec.workloadKinds lists only kinds the manager knows (known: the built-in ones and the configured ones,
//     as the webhook's selection.CheckKinds);
//   - the label keys and values of the selectors are valid, and only a ClusterSidecarProfile has a canary
//     namespaceSelector (as selection.Check: the CRD checks the rest);
//   - the author may update and patch every kind the profile can select, in its namespace (a SidecarProfile) or
//     cluster-wide (a ClusterSidecarProfile), asked of the CEL authorizer, which asks every authorizer of the
//     cluster for the requesting user, as the webhook's SubjectAccessReviews do.
//
// The first two are one policy; the authorization is one policy per kind, matched only by the profiles that can
// select it: an authorization check costs 350,000 of the 10,000,000 the apiserver gives one policy's evaluation,
// and a profile may list 16 kinds, two checks each.
//
// The collision check, which needs the other profiles, stays in the webhook. Like the webhook, the policies see
// creates and the updates that change the spec, and no profile being deleted.
func ProfileChecks(known workload.Kinds) []Validating {
	out := []Validating{validating(ProfileChecksName, profileMatchConditions(), []admissionregistrationv1.Variable{
		{Name: "selectorErrors", Expression: selectorErrors()},
	}, []admissionregistrationv1.Validation{knownKinds(known), validSelectors(), canaryNamespaces()})}
	for _, kind := range known {
		out = append(out, authorization(kind))
	}
	return out
}

// validating is a policy of profiles that fails closed (an expression that cannot be evaluated refuses the
// profile) and its binding, which denies.
func validating(name string, conditions []admissionregistrationv1.MatchCondition, vars []admissionregistrationv1.Variable,
	validations []admissionregistrationv1.Validation) Validating {
	return validatingPolicy(name, admissionregistrationv1.ValidatingAdmissionPolicySpec{
		FailurePolicy:    ptr(admissionregistrationv1.Fail),
		MatchConstraints: profileResources(),
		MatchConditions:  conditions,
		Variables:        vars,
		Validations:      validations,
	}, admissionregistrationv1.Deny)
}

// validatingPolicy is a ValidatingAdmissionPolicy of Outrigger's and its binding, of the same name, everywhere,
// with one action.
func validatingPolicy(name string, spec admissionregistrationv1.ValidatingAdmissionPolicySpec, action admissionregistrationv1.ValidationAction) Validating {
	meta := metav1.ObjectMeta{Name: name, Labels: map[string]string{ManagedByLabel: ManagedBy}}
	return Validating{
		Policy: &admissionregistrationv1.ValidatingAdmissionPolicy{
			TypeMeta:   metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "ValidatingAdmissionPolicy"},
			ObjectMeta: meta,
			Spec:       spec,
		},
		Binding: &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "ValidatingAdmissionPolicyBinding"},
			ObjectMeta: meta,
			Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
				PolicyName: name, ValidationActions: []admissionregistrationv1.ValidationAction{action},
			},
		},
	}
}

// profileResources: both profile kinds, their creates and updates, not their status (a subresource), as the
// webhook's rules. Every field the apiserver would default is set, so the live policy equals the compiled one.
func profileResources() *admissionregistrationv1.MatchResources {
	return &admissionregistrationv1.MatchResources{
		NamespaceSelector: &metav1.LabelSelector{},
		ObjectSelector:    &metav1.LabelSelector{},
		ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
			Rule: admissionregistrationv1.Rule{APIGroups: []string{v1alpha1.GroupVersion.Group}, APIVersions: []string{v1alpha1.GroupVersion.Version},
				Resources: []string{"sidecarprofiles", "clustersidecarprofiles"}, Scope: ptr(admissionregistrationv1.AllScopes)},
		}}},
		MatchPolicy: ptr(admissionregistrationv1.Equivalent),
	}
}

// profileMatchConditions: creates, and updates that change the spec (an update of the metadata alone, such as
// a finalizer going, widens nothing: the webhook's matchConditions skip it too), of a profile not being deleted
// (it selects nothing any more).
func profileMatchConditions() []admissionregistrationv1.MatchCondition {
	return []admissionregistrationv1.MatchCondition{
		{Name: "spec-created-or-changed",
			Expression: "request.operation != 'UPDATE' || !has(object.spec) || !has(oldObject.spec) || object.spec != oldObject.spec"},
		{Name: "not-being-deleted", Expression: "!has(object.metadata.deletionTimestamp)"},
	}
}

// workloadKinds is the CEL list of the kinds a profile selects: spec.workloadKinds, or the default ones.
func workloadKinds() string {
	defaults := make([]string, len(v1alpha1.DefaultWorkloadKinds))
	for i, k := range v1alpha1.DefaultWorkloadKinds {
		defaults[i] = string(k)
	}
	return fmt.Sprintf("(size(object.spec.?workloadKinds.orValue([])) == 0 ? %s : object.spec.workloadKinds)", stringList(defaults))
}

// knownKinds refuses a kind the manager does not know, in selection.CheckKinds's words.
func knownKinds(known workload.Kinds) admissionregistrationv1.Validation {
	names := known.Names()
	listed := make([]string, len(names))
	for i, n := range names {
		listed[i] = string(n)
	}
	list := stringList(listed)
	return admissionregistrationv1.Validation{
		Expression: fmt.Sprintf("object.spec.?workloadKinds.orValue([]).all(k, k in %s)", list),
		MessageExpression: fmt.Sprintf(`object.spec.workloadKinds.transformList(i, k, !(k in %s), "spec.workloadKinds[" + string(i) + "]: \"" + k + "\" is not a kind Outrigger injects into here: the kinds are " + %s + "; "`+
			` + "a kind with a pod template that Outrigger does not know is added to the manager's configuration (the Helm value workloadKinds)")[0]`,
			list, quote(strings.Join(listed, ", "))),
		Reason: ptr(metav1.StatusReasonInvalid),
	}
}

// selectors are the label selectors of a profile, by field, as CEL optionals.
var selectors = []struct{ field, expr string }{
	{"spec.selector", "object.spec.?selector"},
	{"spec.namespaceSelector", "object.spec.?namespaceSelector"},
	{"spec.rollout.canary.selector", "object.spec.?rollout.?canary.?selector"},
	{"spec.rollout.canary.namespaceSelector", "object.spec.?rollout.?canary.?namespaceSelector"},
}

// selectorErrors is the CEL list of what is wrong with the label keys and values of the profile's selectors,
// each naming its field. The keys and values are checked by the apiserver's format library, with the functions
// metav1.LabelSelectorAsSelector checks them with (content.IsLabelKey, IsValidLabelValue): the webhook's
// selection.Check and this policy refuse the same selectors.
func selectorErrors() string {
	const (
		key   = "format.qualifiedName().validate(%s)"
		value = "format.labelValue().validate(%s)"
	)
	bad := func(format, of string) string { return fmt.Sprintf(format, of) + ".hasValue()" }
	why := func(format, of string) string { return fmt.Sprintf(format, of) + `.value().join("; ")` }
	var parts []string
	for _, s := range selectors {
		f := quote(s.field)
		parts = append(parts,
			fmt.Sprintf(`%s.?matchLabels.orValue({}).transformList(k, v, %s, %s + ".matchLabels: key \"" + k + "\": " + %s)`,
				s.expr, bad(key, "k"), f, why(key, "k")),
			fmt.Sprintf(`%s.?matchLabels.orValue({}).transformList(k, v, %s, %s + ".matchLabels[\"" + k + "\"]: value \"" + v + "\": " + %s)`,
				s.expr, bad(value, "v"), f, why(value, "v")),
			fmt.Sprintf(`%s.?matchExpressions.orValue([]).transformList(i, e, %s, %s + ".matchExpressions[" + string(i) + "].key \"" + e.key + "\": " + %s)`,
				s.expr, bad(key, "e.key"), f, why(key, "e.key")),
			fmt.Sprintf(`%s.?matchExpressions.orValue([]).transformList(i, e, e.?values.orValue([]).exists(v, %s), `+
				`%s + ".matchExpressions[" + string(i) + "].values: " + e.values.filter(v, %s).map(v, "\"" + v + "\": " + %s).join(", "))`,
				s.expr, bad(value, "v"), f, bad(value, "v"), why(value, "v")))
	}
	return strings.Join(parts, " + ")
}

// validSelectors refuses a selector whose label keys or values are not valid, with selection.Check's advice.
func validSelectors() admissionregistrationv1.Validation {
	return admissionregistrationv1.Validation{
		Expression: "size(variables.selectorErrors) == 0",
		MessageExpression: `variables.selectorErrors.join("; ") + "; fix the selector's label keys and values (a key is an optional DNS subdomain prefix and '/', ` +
			`then a name of at most 63 letters, digits, '-', '_' or '.'; a value is such a name or empty)"`,
		Reason: ptr(metav1.StatusReasonInvalid),
	}
}

// canaryNamespaces refuses a canary namespaceSelector on a SidecarProfile, as selection.Check does.
func canaryNamespaces() admissionregistrationv1.Validation {
	return admissionregistrationv1.Validation{
		Expression: requestNamespace + ` == "" || !object.spec.?rollout.?canary.?namespaceSelector.hasValue()`,
		Message: "spec.rollout.canary.namespaceSelector is for ClusterSidecarProfiles: a SidecarProfile's workloads share its namespace; " +
			"leave it out",
		Reason: ptr(metav1.StatusReasonInvalid),
	}
}

// requestNamespace is the request's namespace, "" for a cluster-scoped object (whose request has none).
const requestNamespace = `request.?namespace.orValue("")`

// authorizationName is the name of a kind's authorization policy: outrigger-profiles.<resource>.<group>.
func authorizationName(kind workload.Kind) string {
	return ProfileChecksName + strings.TrimPrefix(Name(kind), "outrigger")
}

// authorization refuses a profile that can select the kind when its author may not update and patch the kind's
// resource where the profile selects, with the webhook's message (authorship.Denial) for what is missing: both
// verbs, or one. The apiserver reports the first validation that fails.
func authorization(kind workload.Kind) Validating {
	check := func(verb string) string {
		return fmt.Sprintf("authorizer.group(%s).resource(%s).namespace(%s).check(%s).allowed()",
			quote(kind.GVK.Group), quote(kind.Resource), requestNamespace, quote(verb))
	}
	resource := kind.GroupResource().String()
	var vars []admissionregistrationv1.Variable
	for _, verb := range authorship.Verbs {
		vars = append(vars, admissionregistrationv1.Variable{Name: "may_" + verb, Expression: check(verb)})
	}
	denied := func(expr string, verbs ...string) admissionregistrationv1.Validation {
		var missing []authorship.Missing
		for _, v := range verbs {
			missing = append(missing, authorship.Missing{Verb: v, Resource: resource})
		}
		return admissionregistrationv1.Validation{Expression: expr, MessageExpression: denialMessage(missing), Reason: ptr(metav1.StatusReasonForbidden)}
	}
	validations := []admissionregistrationv1.Validation{denied(maySome(), authorship.Verbs...)}
	for _, verb := range authorship.Verbs {
		validations = append(validations, denied("variables.may_"+verb, verb))
	}
	conditions := append(profileMatchConditions(), admissionregistrationv1.MatchCondition{
		Name: "selects-" + strings.ToLower(string(kind.Name)), Expression: fmt.Sprintf("%s.exists(k, k == %s)", workloadKinds(), quote(string(kind.Name)))})
	return validating(authorizationName(kind), conditions, vars, validations)
}

// maySome: the author holds at least one of the verbs (when neither, the message names both).
func maySome() string {
	terms := make([]string, len(authorship.Verbs))
	for i, v := range authorship.Verbs {
		terms[i] = "variables.may_" + v
	}
	return strings.Join(terms, " || ")
}

// Slots of a message that the apiserver fills in (celText): characters strconv.Quote leaves as they are.
const (
	userSlot      = "⟦user⟧"
	groupsSlot    = "⟦groups⟧"
	describedSlot = "⟦user and groups⟧"
	namespaceSlot = "⟦namespace⟧"
)

// denialMessage is authorship.Denial as a CEL messageExpression: the user and their groups as the request names
// them, in the request's namespace ("" for a ClusterSidecarProfile).
func denialMessage(missing []authorship.Missing) string {
	names := map[string]string{userSlot: "request.userInfo.username", groupsSlot: `request.userInfo.groups.join(", ")`}
	slots := map[string]string{
		describedSlot: fmt.Sprintf("size(request.userInfo.?groups.orValue([])) == 0 ? %s : %s",
			celText(authorship.DescribeUser(userSlot, nil), names), celText(authorship.DescribeUser(userSlot, []string{groupsSlot}), names)),
		namespaceSlot: requestNamespace,
	}
	cluster := celText(authorship.Denial(describedSlot, "", missing, nil), slots)
	local := celText(authorship.Denial(describedSlot, authorship.Quote(namespaceSlot), missing, nil), slots)
	return fmt.Sprintf(`%s == "" ? %s : %s`, requestNamespace, cluster, local)
}

// celText turns a text with slots into a CEL string expression: the text between the slots as literals, each
// slot as its expression.
func celText(text string, slots map[string]string) string {
	var parts []string
	for text != "" {
		at, slot := len(text), ""
		for s := range slots {
			if i := strings.Index(text, s); i >= 0 && i < at {
				at, slot = i, s
			}
		}
		if at > 0 {
			parts = append(parts, quote(text[:at]))
		}
		if slot == "" {
			break
		}
		parts = append(parts, "("+slots[slot]+")")
		text = text[at+len(slot):]
	}
	if len(parts) == 0 {
		return `""`
	}
	return strings.Join(parts, " + ")
}
