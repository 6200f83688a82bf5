// Package policy compiles Outrigger's profiles into MutatingAdmissionPolicies and their bindings
// (admissionregistration.k8s.io/v1, GA in Kubernetes 1.36), so that the apiserver gives new workloads their
// sidecars by itself, in-process: no webhook call, no certificate, nothing that can be down.
//
// A policy does not render anything: it places the engine's own rendering (inject.Render) by the engine's rules
// (placement order, placement before or after the workload's init containers, a name the workload already uses
// skips the profile, a profile placed earlier keeps a name both use), and writes the engine's injection record.
// So a workload admitted by a policy is stored exactly as one admitted by the webhook.
//
// A workload is admitted by one policy of its kind, holding every profile that can select it: the apiserver
// runs policies in no specified order, and the order of sidecars across profiles must not depend on it. The
// policies of a kind are sharded by namespace (Compile), so each stays small. A policy acts
// only on a pod template that carries no injection record (a create, or an update that dropped the injection,
// such as a replace with the bare manifest); a template that carries one is the reconciler's, which moves it
// between revisions.
package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/selection"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// Profile is a profile as the policies carry it.
type Profile struct {
	Ref inject.ProfileRef
	// Namespace is a SidecarProfile's namespace, the only one it selects in; "" for a ClusterSidecarProfile.
	Namespace string
	// Spec is the profile's spec as it is (its selector, workloadKinds, order, updatePolicy).
	Spec      *v1alpha1.SidecarProfileSpec
	Selectors selection.Selectors
	// Rendered is the spec at the revision a new workload gets (revision.Target for an Unranked workload at
	// admission); nil when it gets none (a first revision whose rollout halted).
	Rendered *v1alpha1.SidecarProfileSpec
}

// Options are what the policies need to know about the manager.
type Options struct {
	// Protected are the namespaces no policy acts in (kube-system, Outrigger's own), as for the webhook.
	Protected selection.Protected
	// ManagerUser is the manager's own user name: its writes are the engine's already, and a removal it writes
	// must not be undone by the policy before the policy itself is updated.
	ManagerUser string
}

// Compiled is a kind's policy and its binding, and the policy that warns of the profiles it skips (warnings).
type Compiled struct {
	Policy   *admissionregistrationv1.MutatingAdmissionPolicy
	Binding  *admissionregistrationv1.MutatingAdmissionPolicyBinding
	Warnings Validating
}

// Labels on everything the compiler writes, so the manager finds (and prunes) its own.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedBy      = "outrigger"
	// ProfilesAnnotation lists the profiles a policy places, each with its revision: what lets a profile's
	// deletion wait until no policy places it any more.
	ProfilesAnnotation = "sidecars.outrigger.dev/profiles"
)

// Name is the name of a kind's policy and binding for the namespaces without SidecarProfiles:
// outrigger.<resource>.<group>; a namespace's own is outrigger.<resource>.<group>.<namespace>.
func Name(kind workload.Kind) string {
	name := "outrigger." + kind.Resource
	if kind.GVK.Group != "" {
		name += "." + kind.GVK.Group
	}
	return name
}

// Compile returns the policies and bindings of a kind for the profiles given (any may not select the kind); none
// when no profile can select it.
//
// They are sharded by namespace, so that a fleet's policies stay small and a team's change recompiles only its
// own: one policy for each namespace that has SidecarProfiles (those and every ClusterSidecarProfile, matching
// that namespace only), and one with the ClusterSidecarProfiles for every other namespace. A request matches
// exactly one policy of its kind, which holds every profile that can select it.
//
// A policy that cannot be compiled (beyond the apiserver's limits: a LimitError) does not keep the others from
// being compiled: they are returned, and the error joins a ShardError for each policy that could not be.
func Compile(kind workload.Kind, profiles []Profile, o Options) ([]Compiled, error) {
	placed := forKind(kind, profiles)
	var clusterWide []Profile
	local := map[string][]Profile{}
	for _, p := range placed {
		if p.Namespace == "" {
			clusterWide = append(clusterWide, p)
		} else if !o.Protected.Has(p.Namespace) { // never admitted there, as by the webhook
			local[p.Namespace] = append(local[p.Namespace], p)
		}
	}
	namespaces := slices.Sorted(maps.Keys(local))
	var out []Compiled
	var errs []error
	shard := func(name, namespace string, placed []Profile, sel *metav1.LabelSelector) {
		c, err := compileOne(kind, name, placed, sel, o)
		if err != nil {
			errs = append(errs, &ShardError{Policy: name, Kind: kind.Name, Namespace: namespace, Profiles: listOf(placed), Err: err})
			return
		}
		out = append(out, c)
	}
	for _, ns := range namespaces {
		in := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: namespaceNameLabel, Operator: metav1.LabelSelectorOpIn, Values: []string{ns}}}}
		shard(Name(kind)+"."+ns, ns, inPlacementOrder(append(slices.Clone(clusterWide), local[ns]...)), in)
	}
	if len(clusterWide) > 0 {
		others := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: namespaceNameLabel, Operator: metav1.LabelSelectorOpNotIn, Values: append(o.Protected.Names(), namespaces...)}}}
		shard(Name(kind), "", clusterWide, others)
	}
	return out, errors.Join(errs...)
}

// A ShardError is a policy that cannot be compiled, with the profiles it would hold. Its message says what the
// workloads of its namespaces miss and what to change.
type ShardError struct {
	// Policy is the MutatingAdmissionPolicy's name.
	Policy string
	Kind   v1alpha1.WorkloadKind
	// Namespace is the one namespace the policy is for; "" for every namespace without SidecarProfiles.
	Namespace string
	// Profiles are the profiles it would place (their revision too), in placement order.
	Profiles []Listed
	Err      error
}

func (e *ShardError) Error() string {
	where, fewer := "the namespaces without SidecarProfiles", "ClusterSidecarProfiles"
	if e.Namespace != "" {
		where, fewer = "namespace "+e.Namespace, "profiles, SidecarProfiles there or ClusterSidecarProfiles,"
	}
	msg := fmt.Sprintf("the admission policy of the %ss of %s, with its %d profiles, cannot be compiled: %v", e.Kind, where, len(e.Profiles), e.Err)
	var limit *LimitError
	if errors.As(e.Err, &limit) {
		msg += fmt.Sprintf("; so the %[1]ss created there do not get these profiles' sidecars at admission as they are now (the policy, if it was "+
			"written before, stays as it was): use fewer or smaller %[2]s that can select a %[1]s "+
			"(or narrow their spec.workloadKinds), or admission by webhook (--admission=webhook, Helm value admission: webhook)", e.Kind, fewer)
	}
	return msg
}

func (e *ShardError) Unwrap() error { return e.Err }

// ShardErrors are the ShardErrors an error of Compile joins.
func ShardErrors(err error) []*ShardError {
	var out []*ShardError
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		return nil
	}
	for _, e := range joined.Unwrap() {
		if se, ok := e.(*ShardError); ok {
			out = append(out, se)
		}
	}
	return out
}

// namespaceNameLabel is the label every namespace has, its name.
const namespaceNameLabel = "kubernetes.io/metadata.name"

// compileOne compiles one policy, for the namespaces the selector matches (never a protected one), of profiles
// in placement order.
func compileOne(kind workload.Kind, name string, placed []Profile, namespaces *metav1.LabelSelector, o Options) (Compiled, error) {
	c := compiler{kind: kind, profiles: placed, tmpl: "variables.tmpl", spec: kind.TemplatePath + "/spec"}
	for _, p := range placed {
		c.renders = append(c.renders, inject.Render(p.Rendered))
	}
	vars, err := c.variables()
	if err != nil {
		return Compiled{}, err
	}
	listed, err := listed(placed)
	if err != nil {
		return Compiled{}, err
	}
	if namespaces.MatchExpressions[0].Operator == metav1.LabelSelectorOpIn {
		namespaces.MatchExpressions = append(namespaces.MatchExpressions, metav1.LabelSelectorRequirement{
			Key: namespaceNameLabel, Operator: metav1.LabelSelectorOpNotIn, Values: o.Protected.Names()})
	}
	meta := metav1.ObjectMeta{Name: name, Labels: map[string]string{ManagedByLabel: ManagedBy},
		Annotations: map[string]string{ProfilesAnnotation: listed}}
	p := &admissionregistrationv1.MutatingAdmissionPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "MutatingAdmissionPolicy"},
		ObjectMeta: meta,
		Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{
			MatchConstraints: c.matchConstraints(namespaces),
			MatchConditions:  c.matchConditions(o),
			Variables:        vars,
			Mutations: []admissionregistrationv1.Mutation{{
				PatchType: admissionregistrationv1.PatchTypeJSONPatch,
				JSONPatch: &admissionregistrationv1.JSONPatch{Expression: c.patch()},
			}},
			FailurePolicy:      ptr(admissionregistrationv1.Ignore),
			ReinvocationPolicy: admissionregistrationv1.IfNeededReinvocationPolicy,
		},
	}
	meta.Annotations = nil
	b := &admissionregistrationv1.MutatingAdmissionPolicyBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "MutatingAdmissionPolicyBinding"},
		ObjectMeta: meta,
		Spec:       admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{PolicyName: p.Name},
	}
	w, err := c.warnings(p)
	if err != nil {
		return Compiled{}, err
	}
	if err := checkMutating(p); err != nil {
		return Compiled{}, err
	}
	if err := checkValidating(w.Policy); err != nil {
		return Compiled{}, err
	}
	return Compiled{Policy: p, Binding: b, Warnings: w}, nil
}

func ptr[T any](v T) *T { return &v }

// forKind keeps the profiles that can select the kind and place something.
func forKind(kind workload.Kind, profiles []Profile) []Profile {
	var out []Profile
	for _, p := range profiles {
		if p.Rendered != nil && p.Spec.SelectsKind(kind.Name) {
			out = append(out, p)
		}
	}
	return inPlacementOrder(out)
}

// inPlacementOrder sorts profiles in the engine's placement order. Stable: SidecarProfiles of one name in
// several namespaces tie, and never meet on a workload.
func inPlacementOrder(out []Profile) []Profile {
	sort.SliceStable(out, func(i, j int) bool {
		return inject.PlacedBefore(inject.Profile{Ref: out[i].Ref, Spec: out[i].Spec}, inject.Profile{Ref: out[j].Ref, Spec: out[j].Spec})
	})
	return out
}

// Listed is one entry of the ProfilesAnnotation.
type Listed struct {
	inject.ProfileRef `json:",inline"`
	Namespace         string `json:"namespace,omitempty"`
	Revision          string `json:"revision"`
}

func listed(profiles []Profile) (string, error) {
	raw, err := json.Marshal(listOf(profiles))
	return string(raw), err
}

func listOf(profiles []Profile) []Listed {
	out := make([]Listed, len(profiles))
	for i, p := range profiles {
		out[i] = Listed{ProfileRef: p.Ref, Namespace: p.Namespace, Revision: inject.Revision(p.Rendered)}
	}
	return out
}

// Places reads a policy's ProfilesAnnotation.
func Places(p *admissionregistrationv1.MutatingAdmissionPolicy) ([]Listed, error) {
	var out []Listed
	raw, ok := p.Annotations[ProfilesAnnotation]
	if !ok {
		return nil, nil
	}
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		return nil, fmt.Errorf("annotation %s of MutatingAdmissionPolicy %s: %w", ProfilesAnnotation, p.Name, err)
	}
	return out, nil
}

// matchConstraints: the kind's resource (creates only for a kind whose template is immutable), in the namespaces
// given, never a workload that opted out: as the webhook's rules.
func (c compiler) matchConstraints(namespaces *metav1.LabelSelector) *admissionregistrationv1.MatchResources {
	ops := []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}
	if c.kind.Immutable {
		ops = ops[:1]
	}
	return &admissionregistrationv1.MatchResources{
		NamespaceSelector: namespaces,
		ObjectSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: v1alpha1.InjectLabel, Operator: metav1.LabelSelectorOpNotIn, Values: []string{v1alpha1.InjectDisabled}}}},
		ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
			Operations: ops,
			Rule: admissionregistrationv1.Rule{APIGroups: []string{c.kind.GVK.Group}, APIVersions: []string{c.kind.GVK.Version},
				Resources: []string{c.kind.Resource}, Scope: ptr(admissionregistrationv1.NamespacedScope)},
		}}},
		MatchPolicy: ptr(admissionregistrationv1.Equivalent),
	}
}

// matchConditions: only a template without an injection record, and never the manager's own writes.
func (c compiler) matchConditions(o Options) []admissionregistrationv1.MatchCondition {
	tmpl := fieldPath("object", c.kind.TemplatePath)
	conds := []admissionregistrationv1.MatchCondition{{
		Name: "template-not-injected",
		Expression: fmt.Sprintf("!has(%[1]s.metadata) || !has(%[1]s.metadata.annotations) || !(%[2]s in %[1]s.metadata.annotations)",
			tmpl, quote(v1alpha1.InjectionAnnotation)),
	}}
	if o.ManagerUser != "" {
		conds = append(conds, admissionregistrationv1.MatchCondition{
			Name: "not-outriggers-own-writes", Expression: "request.userInfo.username != " + quote(o.ManagerUser)})
	}
	return conds
}

// compiler writes the CEL of one kind's policy; profiles are in placement order, profile i is variables.p<i>.
type compiler struct {
	kind     workload.Kind
	profiles []Profile
	renders  []inject.Rendering // each profile's, in the same order
	tmpl     string             // the CEL of the pod template
	spec     string             // the JSON pointer of the pod spec
}

func (c compiler) placed(i int) string { return fmt.Sprintf("variables.p%d", i) }

// variables: the template and what the guards read, then whether each profile is placed, then what is placed.
func (c compiler) variables() ([]admissionregistrationv1.Variable, error) {
	vars := c.templateVariables()
	if c.anyOverrides() {
		vars = append(vars, admissionregistrationv1.Variable{Name: "annotations", Expression: "object.metadata.?annotations.orValue({})"})
		for i := range c.profiles {
			vars = append(vars, c.overrideVariables(i)...)
		}
	}
	placement, err := c.placement()
	if err != nil {
		return nil, err
	}
	vars = append(vars, placement...)
	items, err := c.placedItems()
	if err != nil {
		return nil, err
	}
	vars = append(vars, items...)
	return append(vars, admissionregistrationv1.Variable{Name: "annotation", Expression: `'{"profiles":[' + variables.record.join(",") + ']}'`}), nil
}

// templateVariables: the pod template, the labels of the workload and its namespace, and the names the pod's
// containers and volumes take (a StatefulSet's volumeClaimTemplates' too).
func (c compiler) templateVariables() []admissionregistrationv1.Variable {
	claims := "[]"
	if c.kind.ClaimTemplatesPath != "" {
		claims = fieldPath("object", c.kind.ClaimTemplatesPath)
		claims = strings.Replace(claims, "object.spec.", "object.spec.?", 1) + ".orValue([]).map(t, t.metadata.name)"
	}
	return []admissionregistrationv1.Variable{
		{Name: "tmpl", Expression: fieldPath("object", c.kind.TemplatePath)},
		{Name: "labels", Expression: "object.metadata.?labels.orValue({})"},
		{Name: "nsLabels", Expression: "namespaceObject.metadata.?labels.orValue({})"},
		{Name: "apps", Expression: c.tmpl + ".spec.?containers.orValue([])"},
		{Name: "names", Expression: c.tmpl + ".spec.?initContainers.orValue([]).map(x, x.name) + variables.apps.map(x, x.name) + " +
			c.tmpl + ".spec.?ephemeralContainers.orValue([]).map(x, x.name)"},
		{Name: "podVolumes", Expression: c.tmpl + ".spec.?volumes.orValue([]).map(x, x.name)"},
		{Name: "volumes", Expression: "variables.podVolumes + " + claims},
	}
}

// FromProfile is a profile as the policies carry it, with the spec of the revision a new workload gets (nil for
// none). A profile whose selectors do not parse cannot be compiled: its error says which field to fix.
func FromProfile(p selection.Profile, rendered *v1alpha1.SidecarProfileSpec) (Profile, error) {
	sel, err := selection.Parse(p, selection.Protected{})
	if err != nil {
		return Profile{}, err
	}
	return Profile{Ref: selection.Ref(p), Namespace: p.GetNamespace(), Spec: p.ProfileSpec(), Selectors: sel, Rendered: rendered}, nil
}
