// Package mutation is what Outrigger's mutating webhook does to a workload being admitted, decided once: the
// admission webhook (internal/webhook) answers it as a JSON patch, and the CLI (internal/offline) applies the
// same patch to the manifest's YAML, so the two cannot disagree on what changes.
package mutation

import (
	"encoding/json"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/jsonpatch"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// Mutation is the webhook's decision for one workload.
type Mutation struct {
	// Result is the engine's, with the profiles of Held given to it as KeepOnly.
	inject.Result
	// Held are the profiles held back, each with why, naming the profile's field and the fix: their sidecars
	// would mount a volume the pod does not have.
	Held map[inject.ProfileRef]string
	// Warnings tell the person creating the workload which profiles were not injected, and why: conflicts, then
	// the profiles held back.
	Warnings []string
	// Patch turns the object's pod template into the injected one (nil when nothing changes): the diff of the
	// typed templates, keyed by name (internal/jsonpatch), under the template's path in the object
	// (kind.TemplatePath). Being a diff of typed templates, it leaves the fields our k8s.io/api does not know
	// alone, on the raw object the apiserver applies it to.
	Patch []jsonpatch.Operation
	// TemplateJSON is the injected template (Result.Template) as JSON, which the patch's values are parts of;
	// nil when nothing changes.
	TemplateJSON []byte
}

// Compute injects the profiles (the engine input the catalog builds for the workload) into the workload's pod
// template, as the mutating webhook does at admission.
//
// Every profile whose sidecars would mount a volume that the pod does not have is held back (injected as
// KeepOnly: what an earlier revision added stays, nothing new is added): the apiserver refuses such a template,
// so injecting it would block the workload's creation, which the webhook never does. The CRD cannot refuse
// these profiles itself: a CEL rule over every sidecar's volumeMounts exceeds the apiserver's cost budget, since
// corev1.Container does not bound them.
func Compute(kind workload.Kind, obj client.Object, profiles []inject.Profile) (Mutation, error) {
	before, err := kind.PodTemplate(obj)
	if err != nil {
		return Mutation{}, err
	}
	m, err := injectMountable(before, profiles, kind.InjectOptions(obj))
	if err != nil {
		return m, err
	}
	m.Warnings = conflictWarnings(m.Result)
	for _, p := range m.Profiles {
		if msg, ok := m.Held[p.Ref]; ok {
			m.Warnings = append(m.Warnings, fmt.Sprintf("Outrigger did not inject %s: %s", p.Ref, msg))
		}
	}
	m.Warnings = append(m.Warnings, overrideWarnings(m.Result)...)
	if !m.Changed {
		return m, nil
	}
	m.Patch, m.TemplateJSON, err = TemplatePatch(kind.TemplatePath, before, m.Result.Template)
	return m, err
}

// injectMountable injects the profiles, holding back those whose injected sidecars mount an undeclared volume.
func injectMountable(tmpl *corev1.PodTemplateSpec, profiles []inject.Profile, opts []inject.Option) (Mutation, error) {
	profiles = slices.Clone(profiles)
	held := map[inject.ProfileRef]string{}
	for {
		res, err := inject.Inject(tmpl, profiles, opts...)
		if err != nil {
			return Mutation{}, err
		}
		missing, err := missingVolumes(res.Template, profiles)
		if err != nil {
			return Mutation{}, err
		}
		more := false
		for i, p := range profiles {
			if msg, ok := missing[p.Ref]; ok && !p.KeepOnly {
				profiles[i].KeepOnly, more = true, true
				held[p.Ref] = msg
			}
		}
		if !more { // each round holds one more profile back, so this ends
			return Mutation{Result: res, Held: held}, nil
		}
	}
}

// missingVolumes names, per profile, the first mount of one of its injected sidecars whose volume the template
// does not declare, as a message naming the profile's field and the fix.
func missingVolumes(tmpl *corev1.PodTemplateSpec, profiles []inject.Profile) (map[inject.ProfileRef]string, error) {
	rec, err := inject.ReadRecord(tmpl)
	if err != nil {
		return nil, err
	}
	declared := map[string]bool{}
	for _, v := range tmpl.Spec.Volumes {
		declared[v.Name] = true
	}
	out := map[inject.ProfileRef]string{}
	for _, e := range rec.Profiles {
		for _, name := range e.InitContainers {
			i := slices.IndexFunc(tmpl.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == name })
			if i < 0 {
				continue
			}
			for _, m := range tmpl.Spec.InitContainers[i].VolumeMounts {
				if !declared[m.Name] {
					out[e.ProfileRef] = fmt.Sprintf("%s mounts volume %q, which neither the profile's spec.volumes nor the "+
						"workload declares, so the pod would be invalid: add the volume to spec.volumes, or fix the name",
						mountField(profiles, e.ProfileRef, name, m.MountPath), m.Name)
					break
				}
			}
		}
	}
	return out, nil
}

// mountField is the profile field of a sidecar's mount, spec.sidecars[i].volumeMounts[j].name, or the sidecar's
// name when the profile no longer has it (a revision kept from before).
func mountField(profiles []inject.Profile, ref inject.ProfileRef, sidecar, mountPath string) string {
	p := slices.IndexFunc(profiles, func(p inject.Profile) bool { return p.Ref == ref })
	if p >= 0 {
		for i, s := range profiles[p].Spec.Sidecars {
			if s.Name != sidecar {
				continue
			}
			for j, m := range s.VolumeMounts {
				if m.MountPath == mountPath {
					return fmt.Sprintf("sidecar %q (spec.sidecars[%d].volumeMounts[%d].name)", sidecar, i, j)
				}
			}
		}
	}
	return fmt.Sprintf("sidecar %q", sidecar)
}

// TemplatePatch diffs the typed templates and places the operations under the template's path in the object.
// It also returns the injected template as JSON. Applied to the raw object, it leaves the fields our k8s.io/api
// does not know alone: the webhook answers with it, and the reconciler writes kinds read as unstructured
// objects with it.
func TemplatePatch(path string, before, after *corev1.PodTemplateSpec) ([]jsonpatch.Operation, []byte, error) {
	a, err := json.Marshal(before)
	if err != nil {
		return nil, nil, err
	}
	b, err := json.Marshal(after)
	if err != nil {
		return nil, nil, err
	}
	ops, err := jsonpatch.Diff(a, b)
	if err != nil {
		return nil, nil, fmt.Errorf("computing the patch: %w", err)
	}
	return jsonpatch.Prefix(ops, path), b, nil
}

// conflictWarnings tells the person creating the workload which profiles were not injected, and why.
func conflictWarnings(res inject.Result) []string {
	var out []string
	for _, p := range res.Profiles {
		for _, c := range p.Conflicts {
			out = append(out, fmt.Sprintf("Outrigger did not inject %s: %s", p.Ref, c.Message()))
		}
	}
	return out
}

// overrideWarnings tell the person writing the workload which overrides it asks for of a sidecar no profile has
// (a typo, most often). Those a profile refuses are advice (internal/advisor), told the same way by the status.
func overrideWarnings(res inject.Result) []string {
	var out []string
	for _, r := range res.Unclaimed {
		out = append(out, "Outrigger did not apply an override: "+r.Message())
	}
	return out
}
