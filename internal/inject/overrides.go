package inject

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// envField starts the field of an override of an environment variable's value: <sidecar>.env.<NAME>.
const envField = "env."

// overridableResources are the fields of a resource override, in the order the CRD's enum lists them.
var overridableResources = []v1alpha1.OverridableResource{
	"requests.cpu", "requests.memory", "requests.ephemeral-storage", "limits.cpu", "limits.memory", "limits.ephemeral-storage",
}

// WorkloadAnnotations tells the engine the workload's own annotations (not its pod template's): those under
// v1alpha1.OverrideAnnotationPrefix ask for overrides of sidecar values, which a profile applies where its
// spec.overrides allows them.
func WorkloadAnnotations(annotations map[string]string) Option {
	return func(b *builder) {
		b.requests = requestedOverrides(annotations)
	}
}

// requested is one override a workload asks for: <sidecar>.<field> = value.
type requested struct {
	sidecar, field, value string
}

func (r requested) key() string        { return r.sidecar + "." + r.field }
func (r requested) annotation() string { return v1alpha1.OverrideAnnotationPrefix + r.key() }

// requestedOverrides reads the override annotations, sorted by key so results are deterministic. A key without a
// dot after the prefix is one of Outrigger's own (inject, injection), not an override.
func requestedOverrides(annotations map[string]string) []requested {
	var out []requested
	for _, k := range slices.Sorted(maps.Keys(annotations)) {
		rest, ok := strings.CutPrefix(k, v1alpha1.OverrideAnnotationPrefix)
		if !ok {
			continue
		}
		sidecar, field, ok := strings.Cut(rest, ".")
		if !ok || sidecar == "" {
			continue
		}
		out = append(out, requested{sidecar: sidecar, field: field, value: annotations[k]})
	}
	return out
}

// RefusedOverride is an override a workload asked for and did not get: it keeps the profile's value.
type RefusedOverride struct {
	// Annotation is the workload's annotation that asks for it, and Value its value.
	Annotation, Value string
	// Sidecar is the sidecar it names.
	Sidecar string
	// Why says what is wrong and what to change.
	Why string
}

// keepsProfileValue ends the why of an override a profile refuses.
const keepsProfileValue = "; the sidecar keeps the profile's value"

// Message is the refusal in one sentence, for events, warnings and status.
func (r RefusedOverride) Message() string {
	return fmt.Sprintf("annotation %s=%q: %s", r.Annotation, r.Value, r.Why)
}

// overrides is what a profile makes of the overrides a workload asks for.
type overrides struct {
	applied map[string]string // <sidecar>.<field> -> value, nil when none
	refused []RefusedOverride
}

// keys are the applied overrides' <sidecar>.<field>, sorted: what the record keeps; nil for none.
func (o overrides) keys() []string {
	if len(o.applied) == 0 {
		return nil
	}
	return slices.Sorted(maps.Keys(o.applied))
}

// overridesFor checks the requested overrides of the profile's sidecars against its spec.overrides, and renders
// the sidecars with those allowed: both what the profile's rendering becomes for this workload, and why the others
// were refused.
func overridesFor(spec *v1alpha1.SidecarProfileSpec, reqs []requested, sidecars []corev1.Container) overrides {
	var out overrides
	byKey := map[string]requested{}
	for _, r := range reqs {
		if findContainer(sidecars, r.sidecar) == nil {
			continue
		}
		if why := allowed(spec, r); why != "" {
			out.refused = append(out.refused, RefusedOverride{Annotation: r.annotation(), Value: r.value, Sidecar: r.sidecar, Why: why + keepsProfileValue})
			continue
		}
		byKey[r.key()] = r
	}
	for _, c := range sidecars {
		for _, res := range resourceNamesOf(c.Name, byKey) {
			if why := ordered(c, res, byKey); why != "" {
				for _, f := range []string{"requests." + res, "limits." + res} {
					if r, ok := byKey[c.Name+"."+f]; ok {
						out.refused = append(out.refused, RefusedOverride{Annotation: r.annotation(), Value: r.value, Sidecar: r.sidecar, Why: why + keepsProfileValue})
						delete(byKey, r.key())
					}
				}
			}
		}
	}
	for k, r := range byKey {
		if out.applied == nil {
			out.applied = map[string]string{}
		}
		out.applied[k] = r.value
	}
	slices.SortFunc(out.refused, func(a, b RefusedOverride) int { return strings.Compare(a.Annotation, b.Annotation) })
	return out
}

// allowed returns why the profile refuses an override, "" when it allows it and its value is valid.
func allowed(spec *v1alpha1.SidecarProfileSpec, r requested) string {
	i := slices.IndexFunc(spec.Overrides, func(o v1alpha1.SidecarOverride) bool { return o.Sidecar == r.sidecar })
	notListed := func(what string) string {
		return fmt.Sprintf("the profile does not allow a workload to override %s of sidecar %q: ask its owner to list it in spec.overrides, or remove the annotation", what, r.sidecar)
	}
	if env, ok := strings.CutPrefix(r.field, envField); ok {
		if errs := validation.IsEnvVarName(env); len(errs) > 0 {
			return fmt.Sprintf("%q is not a valid environment variable name (%s)", env, strings.Join(errs, "; "))
		}
		if i < 0 || !slices.Contains(spec.Overrides[i].Env, env) {
			return notListed("environment variable " + env)
		}
		return ""
	}
	if !slices.Contains(overridableResources, v1alpha1.OverridableResource(r.field)) {
		return fmt.Sprintf("%q is not a value Outrigger overrides: use one of %s, or env.<NAME>", r.field, joinResources())
	}
	if i < 0 {
		return notListed(r.field)
	}
	o := spec.Overrides[i]
	j := slices.IndexFunc(o.Resources, func(ro v1alpha1.ResourceOverride) bool { return string(ro.Name) == r.field })
	if j < 0 {
		return notListed(r.field)
	}
	q, err := resource.ParseQuantity(r.value)
	if err != nil {
		return fmt.Sprintf("%q is not a quantity: write it as in a pod's resources, e.g. 512Mi or 250m", r.value)
	}
	if q.Sign() < 0 {
		return fmt.Sprintf("%s cannot be negative", r.field)
	}
	if ceiling := o.Resources[j].Max; ceiling != nil && q.Cmp(*ceiling) > 0 {
		return fmt.Sprintf("%s is above the profile's maximum of %s (spec.overrides[%d].resources[%d].max): ask for at most that, or ask the profile's owner to raise it", r.value, ceiling.String(), i, j)
	}
	return ""
}

func joinResources() string {
	names := make([]string, len(overridableResources))
	for i, r := range overridableResources {
		names[i] = string(r)
	}
	return strings.Join(names, ", ")
}

// resourceNamesOf lists the resources (cpu, memory, ...) that the allowed overrides of one sidecar touch.
func resourceNamesOf(sidecar string, byKey map[string]requested) []string {
	seen := map[string]bool{}
	for _, r := range byKey {
		if r.sidecar != sidecar {
			continue
		}
		if _, res, ok := strings.Cut(r.field, "."); ok && !strings.HasPrefix(r.field, envField) {
			seen[res] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// ordered returns why a sidecar's request of res would exceed its limit once overridden (the apiserver refuses
// such a pod template, so the workload would not be created), "" when it would not.
func ordered(c corev1.Container, res string, byKey map[string]requested) string {
	name := corev1.ResourceName(res)
	req, hasReq := effective(c.Resources.Requests, name, byKey[c.Name+".requests."+res])
	limit, hasLimit := effective(c.Resources.Limits, name, byKey[c.Name+".limits."+res])
	if !hasReq || !hasLimit || req.Cmp(limit) <= 0 {
		return ""
	}
	return fmt.Sprintf("the request of %s (%s) would be above its limit (%s), which the apiserver refuses: override both, or keep the request within the limit", res, req.String(), limit.String())
}

// effective is a resource's value once the override r (if any: r.value is "" for none) applies.
func effective(list corev1.ResourceList, name corev1.ResourceName, r requested) (resource.Quantity, bool) {
	if r.value != "" {
		return resource.MustParse(r.value), true
	}
	q, ok := list[name]
	return q, ok
}

// applyOverrides sets the applied overrides on the rendered sidecars.
func applyOverrides(sidecars []corev1.Container, applied map[string]string) {
	for _, key := range slices.Sorted(maps.Keys(applied)) {
		sidecar, field, _ := strings.Cut(key, ".")
		c := findContainer(sidecars, sidecar)
		if c == nil {
			continue
		}
		value := applied[key]
		if env, ok := strings.CutPrefix(field, envField); ok {
			setEnv(c, env, value)
			continue
		}
		kind, res, _ := strings.Cut(field, ".")
		list := &c.Resources.Requests
		if kind == "limits" {
			list = &c.Resources.Limits
		}
		if *list == nil {
			*list = corev1.ResourceList{}
		}
		(*list)[corev1.ResourceName(res)] = resource.MustParse(value)
	}
}

// setEnv gives the variable name the value, in place when the sidecar has it (dropping a valueFrom), appended
// otherwise.
func setEnv(c *corev1.Container, name, value string) {
	for i := range c.Env {
		if c.Env[i].Name == name {
			c.Env[i].Value, c.Env[i].ValueFrom = value, nil
			return
		}
	}
	c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
}

// unclaimed lists the requested overrides whose sidecar none of the profiles renders: a typo, or a profile that
// does not select the workload.
func unclaimed(reqs []requested, profiles []Profile) []RefusedOverride {
	var out []RefusedOverride
	for _, r := range reqs {
		if slices.ContainsFunc(profiles, func(p Profile) bool {
			return slices.ContainsFunc(p.Spec.Sidecars, func(s v1alpha1.Sidecar) bool { return s.Name == r.sidecar })
		}) {
			continue
		}
		out = append(out, RefusedOverride{Annotation: r.annotation(), Value: r.value, Sidecar: r.sidecar,
			Why: fmt.Sprintf("no profile that selects the workload has a sidecar %q: fix the sidecar's name in the annotation", r.sidecar)})
	}
	return out
}

// AllowedOverride is one override a profile allows: of a request or limit (Resource, with its ceiling Max) or of
// an environment variable's value (Env), in one sidecar.
type AllowedOverride struct {
	// Key is <sidecar>.<field>: the workload's annotation is v1alpha1.OverrideAnnotationPrefix + Key.
	Key, Sidecar string
	// Resource is "requests.memory" and the like; Env the variable's name; one of them is set.
	Resource v1alpha1.OverridableResource
	Env      string
	Max      *resource.Quantity
}

// AllowedOverrides lists what spec.overrides allows, sorted by key (as the record lists those applied): what the
// admission policies compile, to apply them as the engine does.
func AllowedOverrides(spec *v1alpha1.SidecarProfileSpec) []AllowedOverride {
	var out []AllowedOverride
	for _, o := range spec.Overrides {
		for _, r := range o.Resources {
			out = append(out, AllowedOverride{Key: o.Sidecar + "." + string(r.Name), Sidecar: o.Sidecar, Resource: r.Name, Max: r.Max})
		}
		for _, e := range o.Env {
			out = append(out, AllowedOverride{Key: o.Sidecar + "." + envField + e, Sidecar: o.Sidecar, Env: e})
		}
	}
	slices.SortFunc(out, func(a, b AllowedOverride) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// RefusedOverrides are the overrides of the profile's sidecars that the workload's annotations ask for and the
// profile refuses (what Inject reports as ProfileResult.RefusedOverrides), for those who report them without
// injecting.
func RefusedOverrides(spec *v1alpha1.SidecarProfileSpec, annotations map[string]string) []RefusedOverride {
	reqs := requestedOverrides(annotations)
	if len(reqs) == 0 {
		return nil
	}
	return overridesFor(spec, reqs, render(spec).sidecars).refused
}
