package policy

import (
	"fmt"
	"slices"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
)

// ownerSlot is the slot (celText) of who already has a name: the workload, or a profile placed earlier.
const ownerSlot = "⟦owner⟧"

// warnings compiles the ValidatingAdmissionPolicy, bound with the action Warn, that gives the person creating or
// changing a workload the mutating webhook's warning (internal/mutation) for each name that kept one of the
// policy's profiles out: "Outrigger did not inject <profile>: container "x" (spec.sidecars[0].name) is already
// used by the workload: rename it in the profile". A MutatingAdmissionPolicy cannot warn; a validating policy
// runs after it, on the workload as it will be stored, with the same match constraints.
//
// From the stored workload it tells, as the engine does, a profile that selects the workload but is not in its
// injection record, and each of its sidecar and volume names that the workload has (one no profile of the
// policy placed) or that a profile placed before it took. A profile held back for another reason (a mount path
// taken, a volume its sidecars mount that the pod lacks) is not warned of here: its status and the workload's
// events say why, as for every workload.
func (c compiler) warnings(mp *admissionregistrationv1.MutatingAdmissionPolicy) (Validating, error) {
	vars := append(c.templateVariables(), admissionregistrationv1.Variable{Name: "record",
		Expression: fmt.Sprintf("variables.tmpl.?metadata.?annotations[?%s].orValue(\"\")", quote(v1alpha1.InjectionAnnotation))})
	var validations []admissionregistrationv1.Validation
	for i, p := range c.profiles {
		vars = append(vars, admissionregistrationv1.Variable{Name: fmt.Sprintf("in%d", i), Expression: "variables.record.contains(" + quote(recordPrefix(p.Ref)) + ")"})
		sel, err := c.selects(p)
		if err != nil {
			return Validating{}, fmt.Errorf("%s: %w", p.Ref, err)
		}
		vars = append(vars, admissionregistrationv1.Variable{Name: fmt.Sprintf("skipped%d", i), Expression: fmt.Sprintf("%s && !variables.in%d", sel, i)})
		validations = append(validations, c.nameWarnings(i)...)
	}
	var conds []admissionregistrationv1.MatchCondition
	for _, cond := range mp.Spec.MatchConditions {
		if cond.Name != "template-not-injected" { // the stored workload carries the record the policy wrote
			conds = append(conds, cond)
		}
	}
	return validatingPolicy(mp.Name, admissionregistrationv1.ValidatingAdmissionPolicySpec{
		FailurePolicy:    ptr(admissionregistrationv1.Ignore), // a warning must never keep a workload out
		MatchConstraints: mp.Spec.MatchConstraints.DeepCopy(),
		MatchConditions:  conds,
		Variables:        vars,
		Validations:      validations,
	}, admissionregistrationv1.Warn), nil
}

// recordPrefix is how a profile's entry in the injection record begins (the engine's JSON, and the policies').
func recordPrefix(ref inject.ProfileRef) string {
	return fmt.Sprintf(`{"kind":%q,"name":%q,`, ref.Kind, ref.Name)
}

// nameWarnings are profile i's validations, one per sidecar and volume name, each failing (and so warning) when
// the profile was skipped and the name is taken.
func (c compiler) nameWarnings(i int) []admissionregistrationv1.Validation {
	r := c.renders[i]
	var out []admissionregistrationv1.Validation
	for k, s := range r.Sidecars {
		owner := c.owner(i, s.Name, "variables.names", func(r inject.Rendering) []string { return containerNames(r.Sidecars) }, quote(inject.OwnerWorkload))
		out = append(out, c.nameWarning(i, owner, inject.Conflict{Field: fmt.Sprintf("spec.sidecars[%d].name", k), What: "container", Name: s.Name}))
	}
	for k, v := range r.Volumes {
		// A volume of the pod is the workload's; one of the volumeClaimTemplates only, the workload kind's.
		workload := fmt.Sprintf(`%s in variables.podVolumes ? %s : %s`, quote(v.Name), quote(inject.OwnerWorkload),
			quote(fmt.Sprintf("the %s's volumeClaimTemplates", c.kind.Name)))
		owner := c.owner(i, v.Name, "variables.volumes", func(r inject.Rendering) []string { return volumeNames(r.Volumes) }, workload)
		out = append(out, c.nameWarning(i, owner, inject.Conflict{Field: fmt.Sprintf("spec.volumes[%d].name", k), What: "volume", Name: v.Name}))
	}
	return out
}

// nameWarning warns, in the engine's words (inject.Conflict), when profile i was skipped and owner names who has
// the name ("" when nobody).
func (c compiler) nameWarning(i int, owner string, conflict inject.Conflict) admissionregistrationv1.Validation {
	conflict.Owner = ownerSlot
	text := fmt.Sprintf("Outrigger did not inject %s: %s", c.profiles[i].Ref, conflict.Message())
	return admissionregistrationv1.Validation{
		Expression:        fmt.Sprintf(`!variables.skipped%d || (%s) == ""`, i, owner),
		MessageExpression: celText(text, map[string]string{ownerSlot: owner}),
	}
}

// owner is the CEL string of who has a name of profile i in the stored template, as the engine would have found
// it when placing profile i: the first profile placed before it with that name, else the workload (workload, a
// CEL string) if the template has the name and no profile of the policy placed it; else "".
func (c compiler) owner(i int, name, present string, names func(inject.Rendering) []string, workload string) string {
	var earlier, others []string
	for j := range c.profiles {
		if j == i || !c.together(i, j) || !slices.Contains(names(c.renders[j]), name) {
			continue
		}
		placed := fmt.Sprintf("variables.in%d", j)
		others = append(others, placed)
		if j < i {
			earlier = append(earlier, fmt.Sprintf("%s ? %s : ", placed, quote(c.profiles[j].Ref.String())))
		}
	}
	own := quote(name) + " in " + present
	if len(others) > 0 {
		own += " && !(" + strings.Join(others, " || ") + ")"
	}
	return fmt.Sprintf(`%s(%s ? (%s) : "")`, strings.Join(earlier, ""), own, workload)
}
