package policy

import (
	"fmt"
	"unicode/utf8"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
)

// The apiserver refuses a policy beyond these limits, and a policy refused is no policy: the workloads of its
// namespaces get no sidecars at admission. The compiler checks each policy against them, so that one it cannot
// compile within them is an error naming it and the limit (a ShardError), whose profiles the manager reports.
//
// Two more limits need no check, as the compiler keeps far from them whatever the number of profiles: CEL's
// parser refuses an expression nested deeper than 250 (the compiler nests a sum of profiles' parts a level each
// time they double, and a profile's literal as deep as a container's or a volume's fields: well within a quarter
// of it, see the tests), and the apiserver stops an evaluation that costs more than 10,000,000 (a shard of 300
// profiles sharing names costs about 120,000; a policy fails open, so this would inject nothing, silently).
const (
	// MaxExpressionLength is the longest CEL expression the apiserver parses, in code points: CEL's parser's
	// default, which the apiserver keeps.
	MaxExpressionLength = 100_000
	// MaxAnnotationsSize is the most the apiserver takes of an object's annotations, keys and values together.
	MaxAnnotationsSize = 256 << 10
	// MaxStoredSize is the most of a policy the compiler writes, as etcd stores it (its protobuf): etcd refuses a
	// request over 1.5 MiB (its --max-request-bytes default), less what the apiserver adds (uid, timestamps, the
	// owner, the managed fields but those naming variables, which managedVariables counts).
	MaxStoredSize = 1536<<10 - 16<<10
)

// A LimitError is a policy beyond one of the apiserver's limits.
type LimitError struct {
	// Object is the policy's kind and name; Field what is too large in it.
	Object, Field string
	Size, Limit   int
	// Unit is what Size and Limit count.
	Unit string
}

func (e *LimitError) Error() string {
	size, limit := fmt.Sprintf("%d %s", e.Size, e.Unit), fmt.Sprintf("%d", e.Limit)
	if e.Unit == "bytes" {
		size, limit = fmt.Sprintf("%d KiB", e.Size>>10), fmt.Sprintf("%d KiB", e.Limit>>10)
	}
	return fmt.Sprintf("%s: %s is %s, more than the %s the apiserver takes", e.Object, e.Field, size, limit)
}

// checkMutating checks a compiled MutatingAdmissionPolicy against the apiserver's limits.
func checkMutating(p *admissionregistrationv1.MutatingAdmissionPolicy) error {
	var exprs []expression
	for i, c := range p.Spec.MatchConditions {
		exprs = append(exprs, expression{fmt.Sprintf("spec.matchConditions[%d].expression", i), c.Expression})
	}
	for i, m := range p.Spec.Mutations {
		exprs = append(exprs, expression{fmt.Sprintf("spec.mutations[%d].jsonPatch.expression", i), m.JSONPatch.Expression})
	}
	return checkLimits("MutatingAdmissionPolicy "+p.Name, p.Size(), p.Annotations, p.Spec.Variables, exprs, false)
}

// checkValidating checks a compiled ValidatingAdmissionPolicy against the apiserver's limits.
func checkValidating(p *admissionregistrationv1.ValidatingAdmissionPolicy) error {
	var exprs []expression
	for i, c := range p.Spec.MatchConditions {
		exprs = append(exprs, expression{fmt.Sprintf("spec.matchConditions[%d].expression", i), c.Expression})
	}
	for i, v := range p.Spec.Validations {
		exprs = append(exprs, expression{fmt.Sprintf("spec.validations[%d].expression", i), v.Expression},
			expression{fmt.Sprintf("spec.validations[%d].messageExpression", i), v.MessageExpression})
	}
	return checkLimits("ValidatingAdmissionPolicy "+p.Name, p.Size(), p.Annotations, p.Spec.Variables, exprs, true)
}

// expression is a CEL expression of a policy and its field.
type expression struct{ field, text string }

// checkLimits checks a policy, of protobuf size size, against the apiserver's limits: the length of each
// expression, the size of its annotations, and its size as stored (its managed fields name each variable when
// its variables are a map list, keyed).
func checkLimits(object string, size int, annotations map[string]string, vars []admissionregistrationv1.Variable, exprs []expression, keyed bool) error {
	for i, v := range vars {
		exprs = append(exprs, expression{fmt.Sprintf("spec.variables[%d].expression (%s)", i, v.Name), v.Expression})
	}
	for _, e := range exprs {
		if n := utf8.RuneCountInString(e.text); n > MaxExpressionLength {
			return &LimitError{Object: object, Field: e.field, Size: n, Limit: MaxExpressionLength, Unit: "code points"}
		}
	}
	total := 0
	for k, v := range annotations {
		total += len(k) + len(v)
	}
	if total > MaxAnnotationsSize {
		return &LimitError{Object: object, Field: "metadata.annotations (" + ProfilesAnnotation + ", a line per profile)", Size: total, Limit: MaxAnnotationsSize, Unit: "bytes"}
	}
	if keyed {
		size += managedVariables(vars)
	}
	if size > MaxStoredSize {
		return &LimitError{Object: object, Field: "the policy as stored", Size: size, Limit: MaxStoredSize, Unit: "bytes"}
	}
	return nil
}

// managedVariables is what the managed fields of a policy whose variables are a map list (a
// ValidatingAdmissionPolicy's; a MutatingAdmissionPolicy's are atomic) take to name them:
// `"k:{\"name\":\"<name>\"}":{}`, 22 bytes and the name each.
func managedVariables(vars []admissionregistrationv1.Variable) int {
	size := 0
	for _, v := range vars {
		size += 22 + len(v.Name)
	}
	return size
}
