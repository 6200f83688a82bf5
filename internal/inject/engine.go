package inject

import (
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// Profile is a profile that selects the workload, as the engine needs it.
type Profile struct {
	Ref  ProfileRef
	Spec *v1alpha1.SidecarProfileSpec
	// KeepOnly leaves the profile's injection as the template has it (in whatever revision) and adds it nowhere
	// it is absent: what the reconciler asks for profiles with updatePolicy OnCreate.
	KeepOnly bool
}

// Outcome says what the engine did with one profile.
type Outcome string

const (
	// Injected: the template carries the profile's current revision.
	Injected Outcome = "Injected"
	// Kept: the template carries an older revision that was left as it was (KeepOnly).
	Kept Outcome = "Kept"
	// Skipped: the template does not carry the profile (KeepOnly, and it was not injected before).
	Skipped Outcome = "Skipped"
	// Conflicted: the profile's current revision clashes with the template; any older revision it had was kept.
	Conflicted Outcome = "Conflicted"
)

// ProfileResult is the engine's answer for one profile.
type ProfileResult struct {
	Ref     ProfileRef
	Outcome Outcome
	// Revision is the profile's current revision; RecordedRevision is the one the template carries afterwards
	// ("" when it carries none).
	Revision, RecordedRevision string
	// Conflicts is set when Outcome is Conflicted.
	Conflicts []Conflict
	// Overrides are the workload's overrides applied to the profile's current revision (<sidecar>.<field> ->
	// value), RefusedOverrides those of its sidecars it refused (the profile's values stay).
	Overrides        map[string]string
	RefusedOverrides []RefusedOverride
}

// Result is the injected template and what happened to each profile, in placement order.
type Result struct {
	Template *corev1.PodTemplateSpec
	Profiles []ProfileResult
	// Changed is false when Template is semantically the template given: nothing to write.
	Changed bool
	// Unclaimed are the overrides the workload asks for of a sidecar no profile given renders.
	Unclaimed []RefusedOverride
}

// Profile returns the result for ref, if the profile was given to the engine.
func (r Result) Profile(ref ProfileRef) (ProfileResult, bool) {
	for _, p := range r.Profiles {
		if p.Ref == ref {
			return p, true
		}
	}
	return ProfileResult{}, false
}

// Option tells the engine about the workload beyond its pod template.
type Option func(*builder)

// WorkloadVolumes names volumes the workload's controller adds to every pod besides the template's (a
// StatefulSet's volumeClaimTemplates), and who declares them, e.g. "the StatefulSet's volumeClaimTemplates": a
// profile's volume of one of these names is a conflict. The engine never adds or removes them.
func WorkloadVolumes(owner string, names ...string) Option {
	return func(b *builder) {
		for _, n := range names {
			if _, taken := b.owner[volumeKey(n)]; !taken {
				b.owner[volumeKey(n)] = owner
			}
		}
	}
}

// Inject returns tmpl with the sidecars of the given profiles, and without those of recorded profiles that are
// not given. tmpl is not modified.
func Inject(tmpl *corev1.PodTemplateSpec, profiles []Profile, opts ...Option) (Result, error) {
	rec, err := ReadRecord(tmpl)
	if err != nil {
		return Result{}, err
	}
	live := ownedItems(tmpl, rec)
	b := newBuilder(strip(tmpl, rec))
	for _, o := range opts {
		o(b)
	}
	sorted := InPlacementOrder(profiles)
	results := map[ProfileRef]ProfileResult{}
	for _, p := range incumbentsFirst(sorted, rec) {
		results[p.Ref] = b.apply(p, rec, live)
	}
	out := b.build(sorted)
	res := Result{Template: out, Changed: !equality.Semantic.DeepEqual(tmpl, out), Unclaimed: unclaimed(b.requests, profiles)}
	for _, p := range sorted {
		res.Profiles = append(res.Profiles, results[p.Ref])
	}
	return res, nil
}

// incumbentsFirst orders the profiles for conflict resolution: those the template already carries claim their
// names first, then the others, each group in placement order. So adding a profile never strips a working
// sidecar from another: the newcomer is the one in conflict, whatever its order. The template is still
// assembled in placement order.
func incumbentsFirst(sorted []Profile, rec Record) []Profile {
	var incumbents, newcomers []Profile
	for _, p := range sorted {
		if _, ok := rec.Entry(p.Ref); ok {
			incumbents = append(incumbents, p)
		} else {
			newcomers = append(newcomers, p)
		}
	}
	return append(incumbents, newcomers...)
}

// Remove returns tmpl without anything Outrigger added: the template as it was before injection.
func Remove(tmpl *corev1.PodTemplateSpec) (*corev1.PodTemplateSpec, error) {
	res, err := Inject(tmpl, nil)
	return res.Template, err
}

// InPlacementOrder orders profiles as their sidecars are placed: ascending order, then name, then kind. The
// admission policies place them in this order too.
func InPlacementOrder(profiles []Profile) []Profile {
	sorted := append([]Profile(nil), profiles...)
	sort.SliceStable(sorted, func(i, j int) bool { return PlacedBefore(sorted[i], sorted[j]) })
	return sorted
}

// PlacedBefore reports whether a's sidecars are placed before b's: ascending order, then name, then kind.
func PlacedBefore(a, b Profile) bool {
	if a.Spec.Order != b.Spec.Order {
		return a.Spec.Order < b.Spec.Order
	}
	if a.Ref.Name != b.Ref.Name {
		return a.Ref.Name < b.Ref.Name
	}
	return a.Ref.Kind < b.Ref.Kind
}

// items are the containers, volumes and mounts one profile has in a template, with where they go.
type items struct {
	placement v1alpha1.Placement
	sidecars  []corev1.Container
	volumes   []corev1.Volume
	mounts    []mountAt
	// field names the profile field each item comes from, for conflict messages; nil for recorded items.
	field func(what string, i int) string
}

// mountAt is a volume mount in the app container at index container.
type mountAt struct {
	container int
	mount     corev1.VolumeMount
	specIndex int // index in spec.appContainerMounts, for conflict messages
}

// ownedItems collects, per recorded profile, the items the template still has.
func ownedItems(tmpl *corev1.PodTemplateSpec, rec Record) map[ProfileRef]items {
	owned := map[ProfileRef]items{}
	for _, e := range rec.Profiles {
		it := items{placement: e.Placement}
		for _, name := range e.InitContainers {
			if c := findContainer(tmpl.Spec.InitContainers, name); c != nil {
				it.sidecars = append(it.sidecars, *c.DeepCopy())
			}
		}
		for _, name := range e.Volumes {
			if v := findVolume(tmpl.Spec.Volumes, name); v != nil {
				it.volumes = append(it.volumes, *v.DeepCopy())
			}
		}
		for _, m := range e.Mounts {
			for i, c := range tmpl.Spec.Containers {
				if c.Name != m.Container {
					continue
				}
				if vm := findMount(c.VolumeMounts, m.MountPath); vm != nil {
					it.mounts = append(it.mounts, mountAt{container: i, mount: *vm})
				}
			}
		}
		owned[e.ProfileRef] = it
	}
	return owned
}

// strip returns a copy of tmpl without any recorded item, annotation or label: the workload's own template.
func strip(tmpl *corev1.PodTemplateSpec, rec Record) *corev1.PodTemplateSpec {
	out := tmpl.DeepCopy()
	initNames, volNames := map[string]bool{}, map[string]bool{}
	mounts := map[MountRef]bool{}
	for _, e := range rec.Profiles {
		for _, n := range e.InitContainers {
			initNames[n] = true
		}
		for _, n := range e.Volumes {
			volNames[n] = true
		}
		for _, m := range e.Mounts {
			mounts[m] = true
		}
	}
	out.Spec.InitContainers = filter(out.Spec.InitContainers, func(c corev1.Container) bool { return !initNames[c.Name] })
	out.Spec.Volumes = filter(out.Spec.Volumes, func(v corev1.Volume) bool { return !volNames[v.Name] })
	for i := range out.Spec.Containers {
		c := &out.Spec.Containers[i]
		c.VolumeMounts = filter(c.VolumeMounts, func(m corev1.VolumeMount) bool {
			return !mounts[MountRef{Container: c.Name, MountPath: m.MountPath}]
		})
	}
	writeRecord(out, Record{})
	return out
}

// filter keeps the elements for which keep is true; an empty result is nil, as the apiserver would return it.
func filter[T any](in []T, keep func(T) bool) []T {
	var out []T
	for _, x := range in {
		if keep(x) {
			out = append(out, x)
		}
	}
	return out
}

// find returns the first element whose key is key, or nil.
func find[T any](items []T, keyOf func(*T) string, key string) *T {
	for i := range items {
		if keyOf(&items[i]) == key {
			return &items[i]
		}
	}
	return nil
}

func findContainer(cs []corev1.Container, name string) *corev1.Container {
	return find(cs, func(c *corev1.Container) string { return c.Name }, name)
}

func findVolume(vs []corev1.Volume, name string) *corev1.Volume {
	return find(vs, func(v *corev1.Volume) string { return v.Name }, name)
}

func findMount(ms []corev1.VolumeMount, path string) *corev1.VolumeMount {
	return find(ms, func(m *corev1.VolumeMount) string { return m.MountPath }, path)
}
