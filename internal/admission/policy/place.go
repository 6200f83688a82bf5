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
// declare itself (usually none, and then there is one round). A name or mount path that several profiles use is
// carried from one to the next (sharing), so that each profile's condition stays as short as its own uses.
func (c compiler) placement() ([]admissionregistrationv1.Variable, error) {
	fits := make([]string, len(c.profiles))
	borrowed := make([][]string, len(c.profiles))
	rounds := 0
	for i, p := range c.profiles {
		sel, err := c.selects(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.Ref, err)
		}
		r := c.renders[i]
		fits[i] = strings.Join(append([]string{sel}, c.fitsWorkload(r)...), " && ")
		if borrowed[i] = borrowedVolumes(r); len(borrowed[i]) > 0 {
			rounds++
		}
	}
	// With one round, each profile's own condition is in its placement: a variable fewer per profile for the
	// apiserver to compile. With several, it is a variable s<i> each round reads.
	var vars []admissionregistrationv1.Variable
	own := func(i int) string { return "(" + fits[i] + ")" }
	if rounds > 0 {
		for i := range c.profiles {
			vars = append(vars, admissionregistrationv1.Variable{Name: fmt.Sprintf("s%d", i), Expression: fits[i]})
		}
		own = func(i int) string { return fmt.Sprintf("variables.s%d", i) }
	}
	sh := c.sharing()
	held := func(n, i int) string { return fmt.Sprintf("r%dh%d", n, i) } // profile i is held back from round n on
	for n := 0; n <= rounds; n++ {
		r := round(fmt.Sprintf("r%d", n))
		if n == rounds {
			r = ""
		}
		for i := range c.profiles {
			terms := []string{own(i)}
			if n > 0 && len(borrowed[i]) > 0 {
				terms = append(terms, "!variables."+held(n, i))
			}
			terms = append(terms, c.free(sh, r, i)...)
			vars = append(vars, admissionregistrationv1.Variable{Name: r.placed(i), Expression: strings.Join(terms, " && ")})
			vars = append(vars, c.carried(sh, r, i)...)
		}
		if n == rounds {
			break
		}
		for i := range c.profiles {
			if len(borrowed[i]) == 0 {
				continue
			}
			expr := fmt.Sprintf("(variables.%s && (%s))", r.placed(i), missing(sh, r, borrowed[i]))
			if n > 0 {
				expr = "variables." + held(n, i) + " || " + expr
			}
			vars = append(vars, admissionregistrationv1.Variable{Name: held(n+1, i), Expression: expr})
		}
	}
	return vars, nil
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

// missing: one of the borrowed volumes is neither the pod's own nor one of a placed profile's, in the round.
func missing(sh sharing, r round, borrowed []string) string {
	var terms []string
	for _, v := range borrowed {
		term := fmt.Sprintf("!(%s in variables.podVolumes)", quote(v))
		if k, ok := sh.index[use{useVolume, v}]; ok { // the profile that borrows it is none of its users
			term += " && !" + sh.takenBy(r, k, sh.users[k][len(sh.users[k])-1])
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

// placedItems are the variables of what the profiles place: each profile's own, c<i> its sidecars, v<i> its
// volumes, m<i> its mounts per app container and e<i> its record entry, each empty when it is not placed; then
// before and after (the sidecars placed before and after the workload's own init containers), vols, mounts and
// record, which gather them in placement order.
//
// The apiserver refuses an expression longer than 100,000 code points or nested deeper than 250 (CEL's parser
// limits), so a sum of every profile's literals, a chain of one term per profile, would refuse a policy of a few
// hundred profiles. Each literal is in its profile's own variable, and each gathering variable sums references
// to them as a balanced tree (concat): no expression grows by more than a reference per profile, nor deepens by
// more than a level each time the profiles double. Runs of profiles per variable would be fewer variables, but
// CEL's checker takes longer per term the more terms an expression has: a policy of 300 profiles with mounts took
// three times as long to compile with runs of 64.
func (c compiler) placedItems() ([]admissionregistrationv1.Variable, error) {
	var vars []admissionregistrationv1.Variable
	refs := map[string][]string{} // the gathering variable: the references it sums
	add := func(gather, name, expr string) {
		vars = append(vars, admissionregistrationv1.Variable{Name: name, Expression: expr})
		refs[gather] = append(refs[gather], "variables."+name)
	}
	for i, r := range c.renders {
		if len(r.Sidecars) > 0 {
			part, err := c.ifPlaced(i, r.Sidecars)
			if len(c.allowed(i)) > 0 {
				var lit string
				lit, err = c.sidecarsLiteral(i)
				part = fmt.Sprintf("(%s ? %s : [])", c.placed(i), lit)
			}
			if err != nil {
				return nil, err
			}
			add(string(r.Placement), fmt.Sprintf("c%d", i), part)
		}
		if len(r.Volumes) > 0 {
			part, err := c.ifPlaced(i, r.Volumes)
			if err != nil {
				return nil, err
			}
			add("vols", fmt.Sprintf("v%d", i), part)
		}
		if len(r.Mounts) > 0 {
			part, err := c.mountsPerContainer(i)
			if err != nil {
				return nil, err
			}
			add("mounts", fmt.Sprintf("m%d", i), part)
		}
		entry, err := c.recordEntry(i)
		if err != nil {
			return nil, err
		}
		add("record", fmt.Sprintf("e%d", i), fmt.Sprintf("(%s ? [%s] : [])", c.placed(i), entry))
	}
	same := func(sum string) string { return sum }
	vars = append(vars, gathered("before", refs[string(v1alpha1.PlacementBeforeInitContainers)], "", same)...)
	vars = append(vars, gathered("after", refs[string(v1alpha1.PlacementAfterInitContainers)], "", same)...)
	vars = append(vars, gathered("vols", refs["vols"], "", same)...)
	if len(refs["mounts"]) == 0 {
		vars = append(vars, admissionregistrationv1.Variable{Name: "mounts", Expression: "variables.apps.map(x, [])"})
	} else {
		// Per app container k, the sum of each profile's mounts at k.
		vars = append(vars, gathered("mounts", refs["mounts"], "[k]", func(sum string) string { return "variables.apps.transformList(k, x, " + sum + ")" })...)
	}
	return append(vars, gathered("record", refs["record"], "", same)...), nil
}

// gatherFanIn is how many references a gathering variable sums at most: CEL's checker takes longer per term the
// more terms an expression has (a sum of 1,000 references took a second and a half to check), so more are
// gathered in steps.
const gatherFanIn = 32

// gathered is the variable name, the sum (in wrap) of the variables refs (each read at the index at), and before
// it, when there are more refs than gatherFanIn, the variables <name>_<step>_<n> that sum them in steps.
func gathered(name string, refs []string, at string, wrap func(string) string) []admissionregistrationv1.Variable {
	var vars []admissionregistrationv1.Variable
	for step := 0; len(refs) > gatherFanIn; step++ {
		var next []string
		for k := 0; k < len(refs); k += gatherFanIn {
			v := admissionregistrationv1.Variable{Name: fmt.Sprintf("%s_%d_%d", name, step, k/gatherFanIn),
				Expression: wrap(concat(indexed(refs[k:min(k+gatherFanIn, len(refs))], at)))}
			vars = append(vars, v)
			next = append(next, "variables."+v.Name)
		}
		refs = next
	}
	return append(vars, admissionregistrationv1.Variable{Name: name, Expression: wrap(concat(indexed(refs, at)))})
}

// indexed is each ref read at the index at ("" for none).
func indexed(refs []string, at string) []string {
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = r + at
	}
	return out
}

// ifPlaced is the CEL list of items (a slice) when profile i is placed, else the empty list.
func (c compiler) ifPlaced(i int, items any) (string, error) {
	lit, err := literal(items)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("(%s ? %s : [])", c.placed(i), lit), nil
}

// mountsPerContainer is, for each app container, the mounts profile i places in it, in its order.
func (c compiler) mountsPerContainer(i int) (string, error) {
	var parts []string
	for _, m := range c.renders[i].Mounts {
		lit, err := literal([]corev1.VolumeMount{m.Mount})
		if err != nil {
			return "", err
		}
		parts = append(parts, fmt.Sprintf("(%s && %s ? %s : [])", c.placed(i), targets("x", m), lit))
	}
	return "variables.apps.map(x, " + concat(parts) + ")", nil
}

// recordEntry is the CEL string of one profile's inject.RecordEntry. Everything in it is known when compiling
// but the overrides applied, which the workload's annotations ask for, and the mounts, which name the app
// containers they went into.
func (c compiler) recordEntry(i int) (string, error) {
	p, r := c.profiles[i], c.renders[i]
	static := inject.RecordEntry{ProfileRef: p.Ref, Hash: inject.Revision(p.Rendered), Placement: r.Placement,
		InitContainers: append([]string{}, containerNames(r.Sidecars)...), Volumes: volumeNames(r.Volumes)}
	raw, err := json.Marshal(static)
	if err != nil {
		return "", err
	}
	// The entry is JSON text, the static head and tail as CEL strings, what depends on the workload in between:
	// the overrides applied after the hash, the mounts at the end.
	head, tail := string(raw), ""
	if len(c.allowed(i)) > 0 {
		cut := strings.Index(head, `,"placement":`)
		head, tail = head[:cut], head[cut:]
	}
	if len(r.Mounts) == 0 && tail == "" {
		return quote(head), nil
	}
	expr := quote(head)
	if tail != "" {
		expr += " + " + c.recordedOverrides(i) + " + " + quote(tail)
	}
	if len(r.Mounts) == 0 {
		return expr, nil
	}
	expr = strings.TrimSuffix(expr, `}"`) + `"` // the JSON object's closing brace goes after the mounts
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
	return fmt.Sprintf(`%s + (size(%[2]s) == 0 ? "" : ',"mounts":[' + (%[2]s).join(",") + "]") + "}"`, expr, list), nil
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

// concat is the CEL sum of list expressions, in order; [] for none. The sum is a balanced tree, parenthesized: CEL
// parses a + b + c as (a + b) + c, one level deeper for each term, and the apiserver refuses an expression nested
// deeper than 250.
func concat(parts []string) string {
	switch len(parts) {
	case 0:
		return "[]"
	case 1:
		return parts[0]
	}
	mid := len(parts) / 2
	return "(" + concat(parts[:mid]) + " + " + concat(parts[mid:]) + ")"
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
