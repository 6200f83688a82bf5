package inject

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// builder assembles the injected template from the workload's own template, one profile at a time, and knows
// who owns every name already placed so that nothing is ever overwritten.
type builder struct {
	base   *corev1.PodTemplateSpec
	placed map[ProfileRef]placed
	owner  map[string]string // "container/NAME", "volume/NAME", "mount/INDEX/PATH" -> owner
	// requests are the overrides the workload asks for (WorkloadAnnotations).
	requests []requested
}

// placed is what one profile got into the template, at which revision and with which overrides.
type placed struct {
	hash      string
	overrides []string // applied, as recorded
	items     items
}

func newBuilder(base *corev1.PodTemplateSpec) *builder {
	b := &builder{base: base, placed: map[ProfileRef]placed{}, owner: map[string]string{}}
	for _, c := range base.Spec.InitContainers {
		b.owner[containerKey(c.Name)] = OwnerWorkload
	}
	for i, c := range base.Spec.Containers {
		b.owner[containerKey(c.Name)] = OwnerWorkload
		for _, m := range c.VolumeMounts {
			b.owner[mountKey(i, m.MountPath)] = OwnerWorkload
		}
	}
	for _, c := range base.Spec.EphemeralContainers {
		b.owner[containerKey(c.Name)] = OwnerWorkload
	}
	for _, v := range base.Spec.Volumes {
		b.owner[volumeKey(v.Name)] = OwnerWorkload
	}
	return b
}

func containerKey(name string) string         { return "container/" + name }
func volumeKey(name string) string            { return "volume/" + name }
func mountKey(container int, p string) string { return fmt.Sprintf("mount/%d/%s", container, p) }

// apply places one profile: its current revision when nothing clashes, else what it had before (if anything).
func (b *builder) apply(p Profile, rec Record, live map[ProfileRef]items) ProfileResult {
	res := ProfileResult{Ref: p.Ref, Revision: Revision(p.Spec)}
	old, wasInjected := rec.Entry(p.Ref)
	keepOld := func() {
		if conflicts := b.conflicts(p.Ref, live[p.Ref]); len(conflicts) == 0 {
			b.place(p.Ref, placed{hash: old.Hash, overrides: old.Overrides, items: live[p.Ref]})
			res.RecordedRevision = old.Hash
		} else if len(res.Conflicts) == 0 {
			res.Outcome, res.Conflicts = Conflicted, conflicts
		}
	}
	if p.KeepOnly {
		if !wasInjected {
			res.Outcome = Skipped
			return res
		}
		res.Outcome = Kept
		if old.Hash == res.Revision {
			res.Outcome = Injected
		}
		keepOld()
		return res
	}
	r := render(p.Spec)
	ov := overridesFor(p.Spec, b.requests, r.sidecars)
	res.Overrides, res.RefusedOverrides = ov.applied, ov.refused
	applyOverrides(r.sidecars, ov.applied)
	unchanged := wasInjected && old.Hash == res.Revision && slices.Equal(old.Overrides, ov.keys())
	want := b.desired(r, live[p.Ref], unchanged)
	if conflicts := b.conflicts(p.Ref, want); len(conflicts) > 0 {
		res.Outcome, res.Conflicts = Conflicted, conflicts
		if wasInjected {
			keepOld()
		}
		return res
	}
	b.place(p.Ref, placed{hash: res.Revision, overrides: ov.keys(), items: want})
	res.Outcome, res.RecordedRevision = Injected, res.Revision
	return res
}

// desired is the profile's items, from its rendering for this workload. When the template already carries this
// very revision, with the same overrides, a live item that
// still has every field the rendering sets is kept as it is, with the fields the apiserver defaulted: so an
// injected template is a fixed point and a resync writes nothing.
func (b *builder) desired(r rendering, live items, unchanged bool) items {
	it := items{placement: r.placement, field: func(what string, i int) string {
		switch what {
		case "container":
			return fmt.Sprintf("spec.sidecars[%d].name", i)
		case "volume":
			return fmt.Sprintf("spec.volumes[%d].name", i)
		default:
			return fmt.Sprintf("spec.appContainerMounts[%d].mountPath", i)
		}
	}}
	for _, c := range r.sidecars {
		if l := findContainer(live.sidecars, c.Name); unchanged && l != nil && derives(c, *l) {
			c = *l
		}
		it.sidecars = append(it.sidecars, c)
	}
	for _, v := range r.volumes {
		if l := findVolume(live.volumes, v.Name); unchanged && l != nil && derives(v, *l) {
			v = *l
		}
		it.volumes = append(it.volumes, v)
	}
	for i, spec := range r.mountSpecs {
		for _, c := range mountTargets(spec, b.base.Spec.Containers) {
			m := r.mounts[i]
			for _, l := range live.mounts {
				if unchanged && l.container == c && l.mount.MountPath == m.MountPath && derives(m, l.mount) {
					m = l.mount
				}
			}
			it.mounts = append(it.mounts, mountAt{container: c, mount: m, specIndex: i})
		}
	}
	return it
}

// conflicts lists every name in it that the template already uses for something else, including a name used
// twice within it.
func (b *builder) conflicts(ref ProfileRef, it items) []Conflict {
	var out []Conflict
	mine := map[string]bool{}
	check := func(key, what, name, container string, i int) {
		owner, taken := b.owner[key]
		if mine[key] {
			owner, taken = ref.String(), true
		}
		mine[key] = true
		if !taken {
			return
		}
		field := "injected earlier"
		if it.field != nil {
			field = it.field(what, i)
		}
		out = append(out, Conflict{Field: field, What: what, Name: name, Container: container, Owner: owner})
	}
	for i, c := range it.sidecars {
		check(containerKey(c.Name), "container", c.Name, "", i)
	}
	for i, v := range it.volumes {
		check(volumeKey(v.Name), "volume", v.Name, "", i)
	}
	for _, m := range it.mounts {
		check(mountKey(m.container, m.mount.MountPath), "mount path", m.mount.MountPath, b.base.Spec.Containers[m.container].Name, m.specIndex)
	}
	return out
}

// place claims the names of one profile's items; build puts them in the template.
func (b *builder) place(ref ProfileRef, pl placed) {
	it := pl.items
	for _, c := range it.sidecars {
		b.owner[containerKey(c.Name)] = ref.String()
	}
	for _, v := range it.volumes {
		b.owner[volumeKey(v.Name)] = ref.String()
	}
	for _, m := range it.mounts {
		b.owner[mountKey(m.container, m.mount.MountPath)] = ref.String()
	}
	b.placed[ref] = pl
}

// build returns the workload's template with the placed items of the profiles, in placement order: sidecars
// placed before the workload's own init containers come first, then those, then the sidecars placed after
// them; volumes and mounts are appended. The record lists what each profile added.
func (b *builder) build(sorted []Profile) *corev1.PodTemplateSpec {
	out := b.base.DeepCopy()
	spec := &out.Spec
	var before, after []corev1.Container
	var rec Record
	for _, p := range sorted {
		pl, ok := b.placed[p.Ref]
		if !ok {
			continue
		}
		entry := RecordEntry{ProfileRef: p.Ref, Hash: pl.hash, Overrides: pl.overrides, Placement: pl.items.placement, InitContainers: []string{}}
		for _, c := range pl.items.sidecars {
			if pl.items.placement == v1alpha1.PlacementAfterInitContainers {
				after = append(after, c)
			} else {
				before = append(before, c)
			}
			entry.InitContainers = append(entry.InitContainers, c.Name)
		}
		for _, v := range pl.items.volumes {
			spec.Volumes = append(spec.Volumes, v)
			entry.Volumes = append(entry.Volumes, v.Name)
		}
		for _, m := range pl.items.mounts {
			c := &spec.Containers[m.container]
			c.VolumeMounts = append(c.VolumeMounts, m.mount)
			entry.Mounts = append(entry.Mounts, MountRef{Container: c.Name, MountPath: m.mount.MountPath})
		}
		rec.Profiles = append(rec.Profiles, entry)
	}
	spec.InitContainers = append(append(append([]corev1.Container(nil), before...), spec.InitContainers...), after...)
	writeRecord(out, rec)
	return out
}
