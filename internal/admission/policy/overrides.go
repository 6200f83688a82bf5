package policy

import (
	"fmt"
	"slices"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
)

// The overrides a workload asks for with its annotations (inject.WorkloadAnnotations) are applied by the policy as
// the engine applies them: for each override profile i allows (inject.AllowedOverrides, j in their order),
// variables.o<i>_<j> says the annotation is there with a valid value, and variables.a<i>_<j> that the workload
// gets it (for a request or a limit, also that the sidecar's request stays within its limit). The sidecars'
// literal takes the annotation's value where a<i>_<j> holds, and the record names the overrides applied. What
// the engine refuses is ignored here too; saying so is left to the reconciler's status and events.

// allowed is what profile i allows a workload to override, from the revision it places.
func (c compiler) allowed(i int) []inject.AllowedOverride {
	return inject.AllowedOverrides(c.profiles[i].Rendered)
}

// anyOverrides reports whether a profile of the policy allows overrides: only then does it read the workload's
// annotations.
func (c compiler) anyOverrides() bool {
	return slices.ContainsFunc(c.profiles, func(p Profile) bool { return len(p.Rendered.Overrides) > 0 })
}

func annotation(a inject.AllowedOverride) string {
	return "variables.annotations[" + quote(v1alpha1.OverrideAnnotationPrefix+a.Key) + "]"
}

func validOverride(i, j int) string   { return fmt.Sprintf("variables.o%d_%d", i, j) }
func appliedOverride(i, j int) string { return fmt.Sprintf("variables.a%d_%d", i, j) }

// overrideVariables are profile i's o<i>_<j> and a<i>_<j>.
func (c compiler) overrideVariables(i int) []admissionregistrationv1.Variable {
	allowed := c.allowed(i)
	var vars []admissionregistrationv1.Variable
	for j, a := range allowed {
		value := annotation(a)
		expr := quote(v1alpha1.OverrideAnnotationPrefix+a.Key) + " in variables.annotations"
		if a.Resource != "" {
			expr += fmt.Sprintf(` && isQuantity(%[1]s) && !quantity(%[1]s).isLessThan(quantity("0"))`, value)
			if a.Max != nil {
				expr += fmt.Sprintf(" && quantity(%s).compareTo(quantity(%s)) <= 0", value, quote(a.Max.String()))
			}
		}
		vars = append(vars, admissionregistrationv1.Variable{Name: strings.TrimPrefix(validOverride(i, j), "variables."), Expression: expr})
	}
	for j, a := range allowed {
		expr := validOverride(i, j)
		if a.Resource != "" {
			expr += " && !(" + c.exceedsLimit(i, allowed, a) + ")"
		}
		vars = append(vars, admissionregistrationv1.Variable{Name: strings.TrimPrefix(appliedOverride(i, j), "variables."), Expression: expr})
	}
	return vars
}

// exceedsLimit: once the valid overrides of the resource a names apply, the sidecar's request of it is above its
// limit (the apiserver would refuse the pod), so neither override applies.
func (c compiler) exceedsLimit(i int, allowed []inject.AllowedOverride, a inject.AllowedOverride) string {
	_, res, _ := strings.Cut(string(a.Resource), ".")
	container := c.renders[i].Sidecars[slices.IndexFunc(c.renders[i].Sidecars, func(s corev1.Container) bool { return s.Name == a.Sidecar })]
	side := func(kind string, list corev1.ResourceList) (present, value string, ok bool) {
		j := slices.IndexFunc(allowed, func(o inject.AllowedOverride) bool {
			return o.Sidecar == a.Sidecar && string(o.Resource) == kind+"."+res
		})
		q, has := list[corev1.ResourceName(res)]
		switch {
		case j >= 0 && has:
			return "true", fmt.Sprintf("(%s ? quantity(%s) : quantity(%s))", validOverride(i, j), annotation(allowed[j]), quote(q.String())), true
		case j >= 0:
			return validOverride(i, j), fmt.Sprintf("quantity(%s)", annotation(allowed[j])), true
		case has:
			return "true", fmt.Sprintf("quantity(%s)", quote(q.String())), true
		}
		return "", "", false
	}
	reqPresent, req, okReq := side("requests", container.Resources.Requests)
	limPresent, lim, okLim := side("limits", container.Resources.Limits)
	if !okReq || !okLim {
		return "false"
	}
	return fmt.Sprintf("%s && %s && %s.compareTo(%s) > 0", reqPresent, limPresent, req, lim)
}

// sidecarsLiteral is profile i's sidecars, with the overrides it allows in place: a request or limit is the
// annotation's value when applied, else the profile's (or absent); an environment variable's entry is
// {name, value} when applied, else the profile's; one the sidecar does not have is appended when applied.
func (c compiler) sidecarsLiteral(i int) (string, error) {
	tree, err := jsonTree(c.renders[i].Sidecars)
	if err != nil {
		return "", err
	}
	containers := tree.([]any)
	byName := map[string]map[string]any{}
	for _, x := range containers {
		m := x.(map[string]any)
		byName[m["name"].(string)] = m
	}
	appended := map[string][]string{} // sidecar -> entries added when applied
	for j, a := range c.allowed(i) {
		m, applied, value := byName[a.Sidecar], appliedOverride(i, j), annotation(a)
		if a.Resource != "" {
			kind, res, _ := strings.Cut(string(a.Resource), ".")
			list := subMap(subMap(m, "resources"), kind)
			otherwise := "optional.none()"
			if lit, ok := list[res]; ok {
				otherwise = "optional.of(dyn(" + quote(lit.(string)) + "))"
			}
			list[res] = optionalEntry(fmt.Sprintf("(%s ? optional.of(dyn(%s)) : %s)", applied, value, otherwise))
			continue
		}
		entry := fmt.Sprintf(`{"name": dyn(%s), "value": dyn(%s)}`, quote(a.Env), value)
		env, _ := m["env"].([]any)
		k := slices.IndexFunc(env, func(e any) bool { // the first of that name, as the engine's; entries replaced are celExpr
			m, ok := e.(map[string]any)
			return ok && m["name"] == a.Env
		})
		if k < 0 {
			appended[a.Sidecar] = append(appended[a.Sidecar], fmt.Sprintf("(%s ? [dyn(%s)] : [])", applied, entry))
			continue
		}
		env[k] = celExpr(fmt.Sprintf("(%s ? %s : %s)", applied, entry, writeTree(env[k])))
	}
	for name, adds := range appended {
		env, _ := byName[name]["env"].([]any)
		byName[name]["env"] = celExpr(concat(append([]string{writeTree(orEmpty(env))}, adds...)))
	}
	return writeTree(tree), nil
}

// subMap is m[key] as a map, made empty when m has none.
func subMap(m map[string]any, key string) map[string]any {
	sub, ok := m[key].(map[string]any)
	if !ok {
		sub = map[string]any{}
		m[key] = sub
	}
	return sub
}

func orEmpty(l []any) []any {
	if l == nil {
		return []any{}
	}
	return l
}

// recordedOverrides is the CEL string of the record entry's overrides field (with its leading comma): the names
// of the overrides applied, in the engine's order; "" when none is.
func (c compiler) recordedOverrides(i int) string {
	var parts []string
	for j, a := range c.allowed(i) {
		parts = append(parts, fmt.Sprintf("(%s ? [%s] : [])", appliedOverride(i, j), quote(a.Key)))
	}
	names := concat(parts)
	return fmt.Sprintf(`(size(%[1]s) == 0 ? "" : ',"overrides":["' + (%[1]s).join('","') + '"]')`, names)
}
