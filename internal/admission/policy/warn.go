package policy

import (
	"fmt"

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
		Expression: fmt.Sprintf("variables.tmpl.?metadata.?annotations[?%s].orValue(\"\")", quote(v1alpha1.InjectionAnnotation))},
		// The profiles the record lists, by recordKey, from one pass over the record: a look-up of each profile in
		// the record itself (string.contains) costs the record's length times the key's, and a shard of 300
		// profiles would exceed the apiserver's cost budget, leaving every warning out.
		admissionregistrationv1.Variable{Name: "recorded", Expression: `variables.record.split('{"kind":').map(e, e.split(',"hash":')[0])`})
	var validations []admissionregistrationv1.Validation
	for i, p := range c.profiles {
		vars = append(vars, admissionregistrationv1.Variable{Name: fmt.Sprintf("in%d", i), Expression: quote(recordKey(p.Ref)) + " in variables.recorded"})
		sel, err := c.selects(p)
		if err != nil {
			return Validating{}, fmt.Errorf("%s: %w", p.Ref, err)
		}
		vars = append(vars, admissionregistrationv1.Variable{Name: fmt.Sprintf("skipped%d", i), Expression: fmt.Sprintf("%s && !variables.in%d", sel, i)})
	}
	sh := c.sharing()
	vars = append(vars, c.firstRecorded(sh)...)
	for i := range c.profiles {
		validations = append(validations, c.nameWarnings(sh, i)...)
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

// recordKey is what of a profile's entry in the injection record (the engine's JSON, and the policies') comes
// between its opening `{"kind":` and `,"hash":`, which nothing else in the record has: JSON escapes a quote in a
// string.
func recordKey(ref inject.ProfileRef) string {
	return fmt.Sprintf(`%q,"name":%q`, ref.Kind, ref.Name)
}

// nameWarnings are profile i's validations, one per sidecar and volume name, each failing (and so warning) when
// the profile was skipped and the name is taken.
func (c compiler) nameWarnings(sh sharing, i int) []admissionregistrationv1.Validation {
	r := c.renders[i]
	var out []admissionregistrationv1.Validation
	for k, s := range r.Sidecars {
		owner := c.owner(sh, i, use{useContainer, s.Name}, "variables.names", quote(inject.OwnerWorkload))
		out = append(out, c.nameWarning(i, owner, inject.Conflict{Field: fmt.Sprintf("spec.sidecars[%d].name", k), What: "container", Name: s.Name}))
	}
	for k, v := range r.Volumes {
		// A volume of the pod is the workload's; one of the volumeClaimTemplates only, the workload kind's.
		workload := fmt.Sprintf(`%s in variables.podVolumes ? %s : %s`, quote(v.Name), quote(inject.OwnerWorkload),
			quote(fmt.Sprintf("the %s's volumeClaimTemplates", c.kind.Name)))
		owner := c.owner(sh, i, use{useVolume, v.Name}, "variables.volumes", workload)
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

// firstRecorded are, for each name several profiles use, the variables w<k>_<i>: the first of its users up to
// profile i that the stored template's record lists, "" for none. Each user carries the one before it on, so
// that a warning reads one variable, however many profiles share the name (see sharing).
func (c compiler) firstRecorded(sh sharing) []admissionregistrationv1.Variable {
	var out []admissionregistrationv1.Variable
	for k, users := range sh.users {
		if len(users) < 2 || sh.uses[k].what == useMountPath {
			continue
		}
		for at, i := range users {
			expr := fmt.Sprintf("variables.in%d ? %s : \"\"", i, quote(c.profiles[i].Ref.String()))
			if at > 0 {
				prev := fmt.Sprintf("variables.w%d_%d", k, users[at-1])
				expr = fmt.Sprintf("%s != \"\" ? %s : (%s)", prev, prev, expr)
			}
			out = append(out, admissionregistrationv1.Variable{Name: fmt.Sprintf("w%d_%d", k, i), Expression: expr})
		}
	}
	return out
}

// owner is the CEL string of who has a name of profile i in the stored template, as the engine would have found
// it when placing profile i: the first profile placed before it with that name, else the workload (workload, a
// CEL string) if the template has the name and no profile of the policy placed it; else "". It is read only when
// profile i was skipped, so "no profile of the policy placed it" may ask of every user of the name, i too.
func (c compiler) owner(sh sharing, i int, u use, present, workload string) string {
	own := quote(u.name) + " in " + present
	k := sh.index[u]
	users := sh.users[k]
	if len(users) < 2 {
		return fmt.Sprintf(`(%s ? (%s) : "")`, own, workload)
	}
	own += fmt.Sprintf(` && variables.w%d_%d == ""`, k, users[len(users)-1])
	byWorkload := fmt.Sprintf(`(%s ? (%s) : "")`, own, workload)
	prev, ok := sh.before(k, i)
	if !ok {
		return byWorkload
	}
	earlier := fmt.Sprintf("variables.w%d_%d", k, prev)
	return fmt.Sprintf(`%s != "" ? %s : %s`, earlier, earlier, byWorkload)
}
