package policy

import (
	"context"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/policy/mutating/patch"
	vap "k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/cel/environment"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

// request is one admission request, as a ValidatingAdmissionPolicy sees it.
type request struct {
	op            admission.Operation
	object, old   runtime.Object
	gvr           schema.GroupVersionResource
	namespace     string
	user          user.Info
	namespaceObj  *corev1.Namespace
	authorization authorizer.Authorizer // nil: every check is denied
}

// evaluate runs a ValidatingAdmissionPolicy the way the apiserver's ValidatingAdmissionPolicy plugin does
// (k8s.io/apiserver, validating.compilePolicy and Validator.Validate): the same CEL environment, variables,
// matchConditions, messageExpressions and cost budget. It returns the message of every validation that failed,
// and whether the matchConditions matched at all; an evaluation error fails the test.
func evaluate(t *testing.T, p *admissionregistrationv1.ValidatingAdmissionPolicy, r request) (failed []string, matched bool) {
	t.Helper()
	compiler, decls := withVariables(t, p.Spec.Variables)
	var conds, validations, messages []plugincel.ExpressionAccessor
	for i := range p.Spec.MatchConditions {
		conds = append(conds, (*matchconditions.MatchCondition)(&p.Spec.MatchConditions[i]))
	}
	for _, v := range p.Spec.Validations {
		validations = append(validations, &vap.ValidationCondition{Expression: v.Expression, Message: v.Message, Reason: v.Reason})
		var m plugincel.ExpressionAccessor
		if v.MessageExpression != "" {
			m = &vap.MessageExpressionCondition{MessageExpression: v.MessageExpression}
		}
		messages = append(messages, m)
	}
	var matcher matchconditions.Matcher
	if len(conds) > 0 {
		matcher = matchconditions.NewMatcher(compiler.CompileCondition(conds, decls, environment.NewExpressions), p.Spec.FailurePolicy, "policy", "validate", p.Name)
	}
	v := vap.NewValidator(
		compiler.CompileCondition(validations, decls, environment.NewExpressions), matcher,
		compiler.CompileCondition(nil, decls, environment.NewExpressions),
		compiler.CompileCondition(messages, plugincel.OptionalVariableDeclarations{}, environment.NewExpressions),
		p.Spec.FailurePolicy, nil)

	gvk := r.object.GetObjectKind().GroupVersionKind()
	attr := admission.NewAttributesRecord(r.object, r.old, gvk, r.namespace, "", r.gvr, "", r.op, nil, false, r.user)
	va := &admission.VersionedAttributes{Attributes: attr, VersionedKind: gvk}
	va.VersionedObject.Set(r.object)
	if r.old != nil {
		va.VersionedOldObject.Set(r.old)
	}
	authz := r.authorization
	if authz == nil {
		authz = denyAll
	}
	res := v.Validate(context.Background(), r.gvr, va, nil, r.namespaceObj, celconfig.RuntimeCELCostBudget, authz)
	if len(res.Decisions) == 0 {
		return nil, false
	}
	for _, d := range res.Decisions {
		switch d.Evaluation {
		case vap.EvalError:
			t.Fatalf("policy %s: evaluation error: %s", p.Name, d.Message)
		case vap.EvalDeny:
			failed = append(failed, d.Message)
		}
	}
	return failed, true
}

// mutating compiles a MutatingAdmissionPolicy's variables and JSON patch the way the apiserver's
// MutatingAdmissionPolicy plugin does (k8s.io/apiserver, mutating.compilePolicy and its dispatcher): the same CEL
// environment (the one a policy is validated with when it is written, which lacks some functions of the one
// stored policies run in), variables, patcher and cost budget. The function it returns admits one request: the object as the
// policy patches it, and the cost the evaluation took of the budget. A compilation or evaluation error fails the
// test, the budget exceeded included: the policy fails open, so the apiserver would admit the workload without
// its sidecars, silently. The matchConditions are not run.
func mutating(t *testing.T, p *admissionregistrationv1.MutatingAdmissionPolicy) func(request) (runtime.Object, int64) {
	t.Helper()
	compiler, decls := withVariables(t, p.Spec.Variables)
	decls.HasPatchTypes = true
	eval := compiler.CompileMutatingEvaluator(&patch.JSONPatchCondition{Expression: p.Spec.Mutations[0].JSONPatch.Expression}, decls, environment.NewExpressions)
	if errs := eval.CompilationErrors(); len(errs) > 0 {
		t.Fatalf("policy %s: %v", p.Name, errs)
	}
	return func(r request) (runtime.Object, int64) {
		t.Helper()
		gvk := r.object.GetObjectKind().GroupVersionKind()
		attr := admission.NewAttributesRecord(r.object, r.old, gvk, r.namespace, "", r.gvr, "", r.op, nil, false, r.user)
		va := &admission.VersionedAttributes{Attributes: attr, VersionedKind: gvk}
		va.VersionedObject.Set(r.object)
		bindings := plugincel.OptionalVariableBindings{Authorizer: denyAll}
		_, left, err := eval.ForInput(compiler.CreateContext(context.Background()), va,
			plugincel.CreateAdmissionRequest(attr, metav1.GroupVersionResource(r.gvr), metav1.GroupVersionKind(gvk)), bindings, r.namespaceObj, celconfig.RuntimeCELCostBudget)
		if err != nil {
			t.Fatalf("policy %s: %v", p.Name, err)
		}
		out, err := patch.NewJSONPatcher(eval).Patch(compiler.CreateContext(context.Background()), patch.Request{MatchedResource: r.gvr,
			VersionedAttributes: va, ObjectInterfaces: admission.NewObjectInterfacesFromScheme(clientgoscheme.Scheme),
			OptionalVariables: bindings, Namespace: r.namespaceObj}, celconfig.RuntimeCELCostBudget)
		if err != nil {
			t.Fatalf("policy %s: %v", p.Name, err)
		}
		return out, celconfig.RuntimeCELCostBudget - left
	}
}

// denyAll answers every authorization check with no opinion, which denies.
var denyAll = authorizer.AuthorizerFunc(func(context.Context, authorizer.Attributes) (authorizer.Decision, string, error) {
	return authorizer.DecisionNoOpinion, "", nil
})

// withVariables is a CEL compiler of the apiserver's admission policies that has compiled a policy's variables,
// and the declarations its expressions are compiled with, as the apiserver compiles a stored policy.
func withVariables(t *testing.T, variables []admissionregistrationv1.Variable) (*plugincel.CompositedCompiler, plugincel.OptionalVariableDeclarations) {
	t.Helper()
	decls := plugincel.OptionalVariableDeclarations{HasAuthorizer: true}
	compiler, err := plugincel.NewCompositedCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
	if err != nil {
		t.Fatal(err)
	}
	var vars []plugincel.NamedExpressionAccessor
	for _, v := range variables {
		vars = append(vars, &vap.Variable{Name: v.Name, Expression: v.Expression})
	}
	compiler.CompileAndStoreVariables(vars, decls, environment.NewExpressions)
	return compiler, decls
}

// unstructuredOf is obj as the apiserver hands a policy a custom resource or a typed object: its JSON form.
func unstructuredOf(t *testing.T, obj runtime.Object, gvk schema.GroupVersionKind) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(gvk)
	return u
}

func namespaceObject(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}
