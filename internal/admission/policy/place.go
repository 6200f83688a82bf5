package policy

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
)

// placement defines variables.p<i>, whether profile i is placed, as the webhook decides it (internal/mutation):
// the engine places a profile that selects the workload and whose names are free (the workload's, and those of
// the profiles placed before it), then holds back every placed profile whose sidecars mount a volume that the
// resulting pod does not declare, and places again, until nothing more is held. Each round holds one more
// profile back or ends, so the rounds are unrolled once per profile whose sidecars mount a volume it does not
// declare itself (usually none, and then there is one round).
func (c compiler) placement() ([]admissionregistrationv1.Variable, error) {
	var vars []admissionregistrationv1.Variable
	borrowed := make([][]string, len(c.profiles))
	rounds := 0
	for i, p := range c.profiles {
		sel, err := c.selects(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.Ref, err)
		}
		r := c.renders[i]
		terms := append([]string{sel}, c.fitsWorkload(r)...)
		vars = append(vars, admissionregistrationv1.Variable{Name: fmt.Sprintf("s%d", i), Expression: strings.Join(terms, " && ")})
		if borrowed[i] = borrowedVolumes(r); len(borrowed[i]) > 0 {
			rounds++
		}
	}
	placed := func(round, i int) string {
		if round == rounds {
			return fmt.Sprintf("p%d", i)
		}
		return fmt.Sprintf("r%dp%d", round, i)
	}
	held := func(round, i int) string { return fmt.Sprintf("r%dh%d", round, i) }
	for round := 0; round <= rounds; round++ {
		for i := range c.profiles {
			terms := []string{fmt.Sprintf("variables.s%d", i)}
			if round > 0 && len(borrowed[i]) > 0 {
				terms = append(terms, "!variables."+held(round, i))
			}
			for j := range i {
				if c.together(i, j) {
					terms = append(terms, c.fitsAfter(c.renders[i], c.renders[j], "variables."+placed(round, j))...)
				}
			}
			vars = append(vars, admissionregistrationv1.Variable{Name: placed(round, i), Expression: strings.Join(terms, " && ")})
		}
		if round == rounds {
			break
		}
		for i := range c.profiles {
			if len(borrowed[i]) == 0 {
				continue
			}
			expr := fmt.Sprintf("(variables.%s && (%s))", placed(round, i), c.missing(i, borrowed[i], func(j int) string { return "variables." + placed(round, j) }))
			if round > 0 {
				expr = "variables." + held(round, i) + " || " + expr
			}
			vars = append(vars, admissionregistrationv1.Variable{Name: held(round+1, i), Expression: expr})
		}
	}
	return vars, nil
}

// together reports whether profiles i and j can select one workload: two SidecarProfiles of different
// namespaces never do, so neither's names can take the other's. Leaving such pairs out keeps a fleet's policy
// linear in its profiles, not quadratic.
func (c compiler) together(i, j int) bool {
	a, b := c.profiles[i].Namespace, c.profiles[j].Namespace
	return a == "" || b == "" || a == b
}

// borrowedVolumes are the volumes the profile's sidecars mount that its spec.volumes do not declare: the
// workload's own, or another profile's.
func borrowedVolumes(r inject.Rendering) []string {
	own := map[string]bool{}
	for _, v := range r.Volumes {
		own[v.Name] = true
	}
	var out []string
	for _, s := range r.Sidecars {
		for _, m := range s.VolumeMounts {
			if !own[m.Name] && !slices.Contains(out, m.Name) {
				out = append(out, m.Name)
			}
		}
	}
	return out
}

// missing: one of the borrowed volumes is neither the pod's own nor one of a placed profile's.
func (c compiler) missing(i int, borrowed []string, placed func(int) string) string {
	var terms []string
	for _, v := range borrowed {
		term := fmt.Sprintf("!(%s in variables.podVolumes)", quote(v))
		for j := range c.profiles {
			if j != i && c.together(i, j) && slices.Contains(volumeNames(c.renders[j].Volumes), v) {
				term += " && !" + placed(j)
			}
		}
		terms = append(terms, "("+term+")")
	}
	return strings.Join(terms, " || ")
}

// selects is the CEL condition that the profile selects the workload (selection.Explain, but for the opt-out
// label and the protected namespaces, which the policy's match constraints leave out).
func (c compiler) selects(p Profile) (string, error) {
	var terms []string
	if p.Namespace != "" {
		terms = append(terms, "request.namespace == "+quote(p.Namespace))
	} else if p.Selectors.Namespaces != nil {
		ns, err := labelSelector(p.Selectors.Namespaces, "variables.nsLabels")
		if err != nil {
			return "", fmt.Errorf("spec.namespaceSelector: %w", err)
		}
		terms = append(terms, ns)
	}
	workloads, err := labelSelector(p.Selectors.Workloads, "variables.labels")
	if err != nil {
		return "", fmt.Errorf("spec.selector: %w", err)
	}
	terms = append(terms, workloads)
	if p.Spec.UpdatePolicy == v1alpha1.UpdatePolicyOnCreate {
		// An update without a record is of a workload that exists; the reconciler decides (selection.ForEngine).
		terms = append(terms, `request.operation == "CREATE"`)
	}
	return strings.Join(terms, " && "), nil
}

// fitsWorkload: none of the profile's names is the workload's, nor used twice by the profile itself.
func (c compiler) fitsWorkload(r inject.Rendering) []string {
	sidecars, volumes := containerNames(r.Sidecars), volumeNames(r.Volumes)
	if duplicated(sidecars) || duplicated(volumes) {
		return []string{"false"}
	}
	var terms []string
	if len(sidecars) > 0 {
		terms = append(terms, fmt.Sprintf("!variables.names.exists(x, x in %s)", stringList(sidecars)))
	}
	if len(volumes) > 0 {
		terms = append(terms, fmt.Sprintf("!variables.volumes.exists(x, x in %s)", stringList(volumes)))
	}
	for k, m := range r.Mounts {
		terms = append(terms, fmt.Sprintf("!variables.apps.exists(x, %s && x.?volumeMounts.orValue([]).exists(m, m.mountPath == %s))",
			targets("x", m), quote(m.Mount.MountPath)))
		for _, n := range r.Mounts[:k] {
			if n.Mount.MountPath == m.Mount.MountPath {
				terms = append(terms, "!"+bothTarget(m, n))
			}
		}
	}
	return terms
}

// fitsAfter: none of the profile's names is one that an earlier profile, if placed, took.
func (c compiler) fitsAfter(r, earlier inject.Rendering, placed string) []string {
	if shared(containerNames(r.Sidecars), containerNames(earlier.Sidecars)) || shared(volumeNames(r.Volumes), volumeNames(earlier.Volumes)) {
		return []string{"!" + placed}
	}
	var terms []string
	for _, m := range r.Mounts {
		for _, n := range earlier.Mounts {
			if m.Mount.MountPath == n.Mount.MountPath {
				terms = append(terms, fmt.Sprintf("!(%s && %s)", placed, bothTarget(m, n)))
			}
		}
	}
	return terms
}

// targets is the CEL condition that the app container x is one the mount goes into.
func targets(x string, m inject.AppMount) string {
	if len(m.Containers) == 0 {
		return "true"
	}
	return fmt.Sprintf("%s.name in %s", x, stringList(m.Containers))
}

// bothTarget: some app container gets both mounts.
func bothTarget(m, n inject.AppMount) string {
	return fmt.Sprintf("variables.apps.exists(x, %s && %s)", targets("x", m), targets("x", n))
}

// sidecars are the variables before and after: the sidecars placed before and after the workload's own init
// containers, in placement order.
func (c compiler) sidecars() ([]admissionregistrationv1.Variable, error) {
	parts := map[v1alpha1.Placement][]string{}
	for i, r := range c.renders {
		if len(r.Sidecars) == 0 {
			continue
		}
		part, err := c.ifPlaced(i, r.Sidecars)
		if err != nil {
			return nil, err
		}
		parts[r.Placement] = append(parts[r.Placement], part)
	}
	return []admissionregistrationv1.Variable{
		{Name: "before", Expression: concat(parts[v1alpha1.PlacementBeforeInitContainers])},
		{Name: "after", Expression: concat(parts[v1alpha1.PlacementAfterInitContainers])},
	}, nil
}

// volumeItems is the volumes placed, in placement order.
func (c compiler) volumeItems() (string, error) {
	var parts []string
	for i, r := range c.renders {
		if len(r.Volumes) == 0 {
			continue
		}
		part, err := c.ifPlaced(i, r.Volumes)
		if err != nil {
			return "", err
		}
		parts = append(parts, part)
	}
	return concat(parts), nil
}

// ifPlaced is the CEL list of items (a slice) when profile i is placed, else the empty list.
func (c compiler) ifPlaced(i int, items any) (string, error) {
	lit, err := literal(items)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("(%s ? %s : [])", c.placed(i), lit), nil
}

// mountsPerContainer is, for each app container, the mounts placed in it, in placement order.
func (c compiler) mountsPerContainer() (string, error) {
	var parts []string
	for i, r := range c.renders {
		for _, m := range r.Mounts {
			lit, err := literal([]corev1.VolumeMount{m.Mount})
			if err != nil {
				return "", err
			}
			parts = append(parts, fmt.Sprintf("(%s && %s ? %s : [])", c.placed(i), targets("x", m), lit))
		}
	}
	return "variables.apps.map(x, " + concat(parts) + ")", nil
}

// recordEntries is the injection record's entries of the profiles placed, each the JSON the engine writes.
func (c compiler) recordEntries() (string, error) {
	var parts []string
	for i := range c.profiles {
		entry, err := c.recordEntry(i)
		if err != nil {
			return "", err
		}
		parts = append(parts, fmt.Sprintf("(%s ? [%s] : [])", c.placed(i), entry))
	}
	return concat(parts), nil
}

// recordEntry is the CEL string of one profile's inject.RecordEntry. Everything in it is known when compiling
// but the mounts, which name the app containers they went into.
func (c compiler) recordEntry(i int) (string, error) {
	p, r := c.profiles[i], c.renders[i]
	static := inject.RecordEntry{ProfileRef: p.Ref, Hash: inject.Revision(p.Rendered), Placement: r.Placement,
		InitContainers: append([]string{}, containerNames(r.Sidecars)...), Volumes: volumeNames(r.Volumes)}
	raw, err := json.Marshal(static)
	if err != nil {
		return "", err
	}
	prefix := strings.TrimSuffix(string(raw), "}")
	if len(r.Mounts) == 0 {
		return quote(string(raw)), nil
	}
	var refs []string
	for _, m := range r.Mounts {
		path, err := json.Marshal(m.Mount.MountPath)
		if err != nil {
			return "", err
		}
		refs = append(refs, fmt.Sprintf(`variables.apps.filter(x, %s).map(x, '{"container":"' + x.name + '","mountPath":' + %s + '}')`,
			targets("x", m), quote(string(path))))
	}
	list := concat(refs)
	return fmt.Sprintf(`%s + (size(%[2]s) == 0 ? "" : ',"mounts":[' + (%[2]s).join(",") + "]") + "}"`, quote(prefix), list), nil
}

// patch is the JSON patch: sidecars inserted before the workload's init containers and appended after them,
// volumes and mounts appended, the record and the label set; nothing when no profile is placed.
func (c compiler) patch() string {
	op := func(path, value string) string {
		return fmt.Sprintf(`JSONPatch{op: "add", path: %s, value: %s}`, path, value)
	}
	s := c.spec
	inits := fmt.Sprintf(`(size(%[1]s.spec.?initContainers.orValue([])) == 0 ? `+
		`(size(variables.before + variables.after) == 0 ? [] : [%[2]s]) : `+
		`variables.before.transformList(i, x, %[3]s) + variables.after.map(x, %[4]s))`,
		c.tmpl, op(quote(s+"/initContainers"), "variables.before + variables.after"),
		op(quote(s+"/initContainers/")+" + string(i)", "x"), op(quote(s+"/initContainers/-"), "x"))
	vols := fmt.Sprintf(`(size(%[1]s.spec.?volumes.orValue([])) == 0 ? (size(variables.vols) == 0 ? [] : [%[2]s]) : variables.vols.map(x, %[3]s))`,
		c.tmpl, op(quote(s+"/volumes"), "variables.vols"), op(quote(s+"/volumes/-"), "x"))
	containerPath := quote(s+"/containers/") + " + string(i) + " + quote("/volumeMounts")
	mounts := fmt.Sprintf(`variables.apps.transformList(i, c, size(variables.mounts[i]) == 0 ? [] : `+
		`(size(c.?volumeMounts.orValue([])) == 0 ? [%s] : variables.mounts[i].map(x, %s))).flatten()`,
		op(containerPath, "variables.mounts[i]"), op(containerPath+` + "/-"`, "x"))
	m := c.kind.TemplatePath + "/metadata"
	annotation := fmt.Sprintf(`{%s: variables.annotation}`, quote(v1alpha1.InjectionAnnotation))
	label := fmt.Sprintf(`{%s: "true"}`, quote(v1alpha1.InjectedLabel))
	meta := fmt.Sprintf(`(!has(%[1]s.metadata) ? [%[2]s] : `+
		`[has(%[1]s.metadata.annotations) ? %[3]s : %[4]s, has(%[1]s.metadata.labels) ? %[5]s : %[6]s])`,
		c.tmpl, op(quote(m), fmt.Sprintf(`{"annotations": %s, "labels": %s}`, annotation, label)),
		op(quote(m+"/annotations/"+escapeKey(v1alpha1.InjectionAnnotation)), "variables.annotation"), op(quote(m+"/annotations"), annotation),
		op(quote(m+"/labels/"+escapeKey(v1alpha1.InjectedLabel)), `"true"`), op(quote(m+"/labels"), label))
	return fmt.Sprintf("size(variables.record) == 0 ? [] : %s + %s + %s + %s", inits, vols, mounts, meta)
}

// concat is the CEL sum of list expressions; [] for none.
func concat(parts []string) string {
	if len(parts) == 0 {
		return "[]"
	}
	return strings.Join(parts, " + ")
}

func containerNames(cs []corev1.Container) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name
	}
	return out
}

func volumeNames(vs []corev1.Volume) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Name)
	}
	return out
}

func duplicated(names []string) bool {
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			return true
		}
		seen[n] = true
	}
	return false
}

func shared(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}
