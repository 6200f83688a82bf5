package inject_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
)

// FuzzInject derives a workload's pod template and two generations of profiles from the input and checks the
// engine's invariants (doc.go) on the first injection and on the update to the second generation, after hand
// edits to the injected template (see handEdits) and, maybe, the apiserver's defaults:
//
//	(a) deterministic: the same result whatever the order the profiles are given in;
//	(b) idempotent: injecting into the result changes nothing, also once the apiserver has defaulted it;
//	(c) reversible: Remove gives back the workload's own template;
//	(d) the workload's init containers, containers, volumes, mounts, labels and annotations are all there,
//	    unchanged and in their order (Outrigger's mounts only appended at the end of an app container's);
//	(e) every injected init container has restartPolicy Always;
//	(f) no duplicate container, volume or mount path; Conflicted outcomes carry conflicts, the others none; the
//	    record lists exactly the profiles whose results have a recorded revision.
//
// Names come from a small alphabet so that clashes between the workload and the profiles, and between
// profiles, are frequent.
func FuzzInject(f *testing.F) {
	for _, seed := range [][]byte{
		{},
		{1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 1, 0, 1, 0, 0},
		[]byte("outrigger injects native sidecars"),
		{3, 2, 1, 3, 0, 2, 1, 3, 2, 2, 0, 1, 3, 1, 2, 0, 1, 2, 3, 3, 2, 1, 0, 2, 1, 1, 3, 0, 2, 1, 2, 3, 1, 0},
		{2, 1, 3, 5, 1, 0, 3, 2, 4, 1, 2, 2, 3, 3, 0, 2, 5, 5, 1, 1, 1, 2, 3, 4, 5, 0, 1, 2, 2, 1, 0, 4, 4, 3},
		[]byte(strings.Repeat("\x02\x01\x03", 40)),
		[]byte(strings.Repeat("\xff\x80\x07\x11", 30)),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		src := &fuzzSource{data: data}
		user := src.template()
		gen1 := src.profiles()
		gen2 := src.nextGeneration(gen1)
		ask1, ask2 := src.overrides(gen1), src.overrides(gen2) // the workload's annotations, then as changed

		out1 := checkInvariants(t, "first injection", user, user, gen1, inject.WorkloadAnnotations(ask1))

		in2, user2 := src.handEdits(t, out1, user)
		if src.bool() { // read back from the apiserver, with its defaults
			in2, user2 = apiserverDefaults(in2), apiserverDefaults(user2)
			if res, err := inject.Inject(apiserverDefaults(out1), gen1, inject.WorkloadAnnotations(ask1)); err != nil || res.Changed {
				t.Fatalf("the apiserver's defaults look like drift: a resync would write\nprofiles: %s\ntemplate: %s",
					describe(gen1), dump(apiserverDefaults(out1)))
			}
		}
		out2 := checkInvariants(t, "update", in2, user2, gen2, inject.WorkloadAnnotations(ask2))

		// Dropping every profile gives back the workload's template, however it got where it is.
		expectTemplate(t, "Inject(.., nil) after the update", user2, mustInject(t, out2).Template)
	})
}

// checkInvariants injects profiles into in, whose workload's own template is user, checks every invariant and
// returns the injected template.
func checkInvariants(t *testing.T, stage string, in, user *corev1.PodTemplateSpec, profiles []inject.Profile, opts ...inject.Option) *corev1.PodTemplateSpec {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s: %s\nprofiles: %s\ninput: %s", stage, fmt.Sprintf(format, args...), describe(profiles), dump(in))
	}
	inCopy := in.DeepCopy()
	res, err := inject.Inject(in, profiles, opts...)
	if err != nil {
		fail("Inject: %v", err)
	}
	out := res.Template
	if !equality.Semantic.DeepEqual(inCopy, in) {
		fail("Inject modified its input")
	}

	// (a) deterministic.
	for _, perm := range permutations(len(profiles)) {
		given := make([]inject.Profile, len(profiles))
		for i, j := range perm {
			given[i] = profiles[j]
		}
		other, err := inject.Inject(in, given, opts...)
		if err != nil {
			fail("Inject, profiles in order %v: %v", perm, err)
		}
		if !equality.Semantic.DeepEqual(out, other.Template) || !reflect.DeepEqual(res.Profiles, other.Profiles) {
			fail("profiles in order %v give\n%s\n%+v\ninstead of\n%s\n%+v", perm, dump(other.Template), other.Profiles,
				dump(out), res.Profiles)
		}
	}

	// (b) idempotent.
	again, err := inject.Inject(out, profiles, opts...)
	if err != nil {
		fail("Inject on the result: %v", err)
	}
	if again.Changed || !equality.Semantic.DeepEqual(out, again.Template) {
		fail("not idempotent (Changed=%v):\nfirst  %s\nsecond %s", again.Changed, dump(out), dump(again.Template))
	}

	// (c) reversible.
	removed, err := inject.Remove(out)
	if err != nil {
		fail("Remove: %v", err)
	}
	if !equality.Semantic.DeepEqual(user, removed) {
		fail("Remove does not give back the workload's template:\nwant %s\ngot  %s", dump(user), dump(removed))
	}

	// (d) nothing of the workload's touched.
	userInit := map[string]bool{}
	for _, c := range user.Spec.InitContainers {
		userInit[c.Name] = true
	}
	own := slices.DeleteFunc(slices.Clone(out.Spec.InitContainers), func(c corev1.Container) bool { return !userInit[c.Name] })
	if !equality.Semantic.DeepEqual(user.Spec.InitContainers, own) {
		fail("the workload's init containers changed:\nwant %s\ngot  %s", dump(user.Spec.InitContainers), dump(own))
	}
	if len(out.Spec.Containers) != len(user.Spec.Containers) {
		fail("app containers: %v, want %v", containerNames(out.Spec.Containers), containerNames(user.Spec.Containers))
	}
	for i, want := range user.Spec.Containers {
		got := out.Spec.Containers[i].DeepCopy()
		if len(got.VolumeMounts) < len(want.VolumeMounts) {
			fail("container %s lost mounts: %v", want.Name, mountPaths(got.VolumeMounts))
		}
		got.VolumeMounts = got.VolumeMounts[:len(want.VolumeMounts)]
		if !equality.Semantic.DeepEqual(want, *got) {
			fail("app container %d changed (apart from appended mounts):\nwant %s\ngot  %s", i, dump(want), dump(got))
		}
	}
	userVol := map[string]bool{}
	for _, v := range user.Spec.Volumes {
		userVol[v.Name] = true
	}
	ownVols := slices.DeleteFunc(slices.Clone(out.Spec.Volumes), func(v corev1.Volume) bool { return !userVol[v.Name] })
	if !equality.Semantic.DeepEqual(user.Spec.Volumes, ownVols) {
		fail("the workload's volumes changed:\nwant %s\ngot  %s", dump(user.Spec.Volumes), dump(ownVols))
	}
	for k, v := range user.Labels {
		if out.Labels[k] != v {
			fail("label %s = %q, want %q", k, out.Labels[k], v)
		}
	}
	for k, v := range user.Annotations {
		if out.Annotations[k] != v {
			fail("annotation %s = %q, want %q", k, out.Annotations[k], v)
		}
	}

	// (e) native sidecars.
	rec, err := inject.ReadRecord(out)
	if err != nil {
		fail("ReadRecord on the result: %v", err)
	}
	recordedInit := map[string]bool{}
	for _, e := range rec.Profiles {
		for _, n := range e.InitContainers {
			recordedInit[n] = true
		}
	}
	for _, c := range out.Spec.InitContainers {
		if userInit[c.Name] {
			continue
		}
		if !recordedInit[c.Name] {
			fail("init container %s is neither the workload's nor recorded", c.Name)
		}
		if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			fail("injected init container %s has restartPolicy %v", c.Name, c.RestartPolicy)
		}
	}

	// (f) consistency.
	seen := map[string]bool{}
	for _, c := range slices.Concat(out.Spec.InitContainers, out.Spec.Containers) {
		if seen[c.Name] {
			fail("container name %s used twice: %s", c.Name, dump(out.Spec))
		}
		seen[c.Name] = true
		paths := map[string]bool{}
		for _, m := range c.VolumeMounts {
			if paths[m.MountPath] {
				fail("mount path %s used twice in container %s", m.MountPath, c.Name)
			}
			paths[m.MountPath] = true
		}
	}
	vols := map[string]bool{}
	for _, v := range out.Spec.Volumes {
		if vols[v.Name] {
			fail("volume name %s used twice", v.Name)
		}
		vols[v.Name] = true
	}
	if len(res.Profiles) != len(profiles) {
		fail("%d results for %d profiles", len(res.Profiles), len(profiles))
	}
	recorded := map[inject.ProfileRef]string{}
	for _, e := range rec.Profiles {
		if _, dup := recorded[e.ProfileRef]; dup {
			fail("profile %s recorded twice", e.ProfileRef)
		}
		recorded[e.ProfileRef] = e.Hash
	}
	for _, pr := range res.Profiles {
		p := profiles[slices.IndexFunc(profiles, func(p inject.Profile) bool { return p.Ref == pr.Ref })]
		if pr.Revision != inject.Revision(p.Spec) {
			fail("%s: Revision %s, want %s", pr.Ref, pr.Revision, inject.Revision(p.Spec))
		}
		if (pr.Outcome == inject.Conflicted) != (len(pr.Conflicts) > 0) {
			fail("%s: outcome %s with conflicts %+v", pr.Ref, pr.Outcome, pr.Conflicts)
		}
		if pr.Outcome == inject.Injected && pr.RecordedRevision != pr.Revision {
			fail("%s: Injected, but recorded revision %q is not %q", pr.Ref, pr.RecordedRevision, pr.Revision)
		}
		if pr.Outcome == inject.Skipped && pr.RecordedRevision != "" {
			fail("%s: Skipped, but recorded revision %q", pr.Ref, pr.RecordedRevision)
		}
		if pr.Outcome == inject.Kept && (!p.KeepOnly || pr.RecordedRevision == "" || pr.RecordedRevision == pr.Revision) {
			fail("%s: Kept, with recorded revision %q", pr.Ref, pr.RecordedRevision)
		}
		if hash, ok := recorded[pr.Ref]; ok != (pr.RecordedRevision != "") || hash != pr.RecordedRevision {
			fail("%s: RecordedRevision %q, but the record has %q", pr.Ref, pr.RecordedRevision, hash)
		}
		for _, c := range pr.Conflicts {
			if c.Field == "" || c.Owner == "" || !strings.Contains(c.Message(), "rename") {
				fail("%s: conflict without field, owner or advice: %+v", pr.Ref, c)
			}
		}
		delete(recorded, pr.Ref)
	}
	if len(recorded) > 0 {
		fail("profiles recorded that were not given: %v", recorded)
	}
	if (len(rec.Profiles) > 0) != (out.Labels[v1alpha1.InjectedLabel] == "true") {
		fail("label %s = %q with %d profiles recorded", v1alpha1.InjectedLabel, out.Labels[v1alpha1.InjectedLabel], len(rec.Profiles))
	}
	return out
}

// apiserverDefaults returns tmpl with the container fields the apiserver defaults set, as a read returns it.
func apiserverDefaults(tmpl *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
	out := tmpl.DeepCopy()
	for _, cs := range [][]corev1.Container{out.Spec.InitContainers, out.Spec.Containers} {
		for i := range cs {
			c := &cs[i]
			if c.TerminationMessagePath == "" {
				c.TerminationMessagePath = corev1.TerminationMessagePathDefault
			}
			if c.TerminationMessagePolicy == "" {
				c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
			}
			if c.ImagePullPolicy == "" {
				c.ImagePullPolicy = corev1.PullIfNotPresent
			}
		}
	}
	return out
}

// describe prints profiles for failure messages.
func describe(profiles []inject.Profile) string {
	var b strings.Builder
	for _, p := range profiles {
		fmt.Fprintf(&b, "\n  %s keepOnly=%v %s", p.Ref, p.KeepOnly, dump(p.Spec))
	}
	return b.String()
}

// fuzzSource turns fuzz input into templates and profiles; past the end of the input it reads zeros.
type fuzzSource struct {
	data []byte
	i    int
}

var (
	fuzzNames        = []string{"a", "b", "c", "data", "app", "log"}
	fuzzPaths        = []string{"/a", "/b", "/data", "/log"}
	fuzzImages       = []string{"img:1", "img:2", "alpine:latest"}
	fuzzProfileNames = []string{"p", "q", "r"}
	fuzzOrders       = []int32{-1, 0, 1}
	fuzzPlacements   = []v1alpha1.Placement{"", v1alpha1.PlacementBeforeInitContainers, v1alpha1.PlacementAfterInitContainers}
	// Overrides: what a profile may allow, what a workload may ask for (valid or not), with which values.
	fuzzResources      = []v1alpha1.OverridableResource{"requests.cpu", "limits.cpu", "requests.memory", "limits.memory"}
	fuzzEnv            = []string{"A", "LOG"}
	fuzzOverrideFields = []string{"requests.cpu", "limits.cpu", "requests.memory", "limits.memory", "env.A", "env.LOG", "image", "env.bad-name"}
	fuzzOverrideValues = []string{"100m", "1", "64Mi", "2Gi", "-1", "lots", "", "debug"}
)

// overrides are the annotations of a workload asking for 0-3 overrides of the profiles' sidecars (or of another).
func (s *fuzzSource) overrides(profiles []inject.Profile) map[string]string {
	names := slices.Clone(fuzzNames)
	for _, p := range profiles {
		for _, c := range p.Spec.Sidecars {
			names = append(names, c.Name, c.Name) // twice: mostly a sidecar of the profiles
		}
	}
	out := map[string]string{}
	for range s.intn(4) {
		out[v1alpha1.OverrideAnnotationPrefix+pick(s, names)+"."+pick(s, fuzzOverrideFields)] = pick(s, fuzzOverrideValues)
	}
	return out
}

// allowOverrides lets a workload override some of the values of one of the spec's sidecars.
func (s *fuzzSource) allowOverrides(spec *v1alpha1.SidecarProfileSpec) {
	o := v1alpha1.SidecarOverride{Sidecar: pick(s, spec.Sidecars).Name}
	for range s.intn(3) {
		r := v1alpha1.ResourceOverride{Name: pick(s, fuzzResources)}
		if s.bool() {
			ceiling := resource.MustParse("1Gi")
			r.Max = &ceiling
		}
		if !slices.ContainsFunc(o.Resources, func(x v1alpha1.ResourceOverride) bool { return x.Name == r.Name }) {
			o.Resources = append(o.Resources, r)
		}
	}
	for range s.intn(3) {
		if e := pick(s, fuzzEnv); !slices.Contains(o.Env, e) {
			o.Env = append(o.Env, e)
		}
	}
	spec.Overrides = []v1alpha1.SidecarOverride{o}
}

func (s *fuzzSource) byte() byte {
	if s.i >= len(s.data) {
		return 0
	}
	b := s.data[s.i]
	s.i++
	return b
}

func (s *fuzzSource) intn(n int) int { return int(s.byte()) % n }
func (s *fuzzSource) bool() bool     { return s.byte()&1 == 1 }

func pick[T any](s *fuzzSource, from []T) T { return from[s.intn(len(from))] }

// template is a valid workload template: container names unique across init and app containers, volume names
// unique, mount paths unique per container.
func (s *fuzzSource) template() *corev1.PodTemplateSpec {
	t := &corev1.PodTemplateSpec{}
	used := map[string]bool{}
	name := func() (string, bool) {
		n := pick(s, fuzzNames)
		if used[n] {
			return "", false
		}
		used[n] = true
		return n, true
	}
	for range s.intn(4) {
		n, ok := name()
		if !ok {
			continue
		}
		c := corev1.Container{Name: n, Image: pick(s, fuzzImages)}
		paths := map[string]bool{}
		for range s.intn(3) {
			if p := pick(s, fuzzPaths); !paths[p] {
				paths[p] = true
				c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: pick(s, fuzzNames), MountPath: p})
			}
		}
		t.Spec.Containers = append(t.Spec.Containers, c)
	}
	for range s.intn(3) {
		n, ok := name()
		if !ok {
			continue
		}
		c := corev1.Container{Name: n, Image: pick(s, fuzzImages)}
		if s.intn(4) == 0 { // the workload's own native sidecar
			always := corev1.ContainerRestartPolicyAlways
			c.RestartPolicy = &always
		}
		t.Spec.InitContainers = append(t.Spec.InitContainers, c)
	}
	vols := map[string]bool{}
	for range s.intn(4) {
		if n := pick(s, fuzzNames); !vols[n] {
			vols[n] = true
			t.Spec.Volumes = append(t.Spec.Volumes, emptyDir(n))
		}
	}
	if s.bool() {
		t.Labels = map[string]string{"app": pick(s, fuzzNames)}
	}
	if s.bool() {
		t.Annotations = map[string]string{"team": pick(s, fuzzNames)}
	}
	return t
}

// profiles are 0-3 profiles with distinct refs.
func (s *fuzzSource) profiles() []inject.Profile {
	var out []inject.Profile
	for range s.intn(4) {
		if p, ok := s.newProfile(out); ok {
			out = append(out, p)
		}
	}
	return out
}

// newProfile is a profile whose ref none of taken has. Its spec may be one the apiserver would refuse (two
// sidecars of one name, a mount of a volume it does not declare): the engine must still keep its invariants.
func (s *fuzzSource) newProfile(taken []inject.Profile) (inject.Profile, bool) {
	ref := inject.ProfileRef{Kind: inject.KindSidecarProfile, Name: pick(s, fuzzProfileNames)}
	if s.bool() {
		ref.Kind = inject.KindClusterSidecarProfile
	}
	if slices.ContainsFunc(taken, func(p inject.Profile) bool { return p.Ref == ref }) {
		return inject.Profile{}, false
	}
	return inject.Profile{Ref: ref, Spec: s.spec(), KeepOnly: s.intn(4) == 3}, true
}

func (s *fuzzSource) spec() *v1alpha1.SidecarProfileSpec {
	spec := &v1alpha1.SidecarProfileSpec{Order: pick(s, fuzzOrders), Placement: pick(s, fuzzPlacements)}
	for range 1 + s.intn(2) {
		c := corev1.Container{Name: pick(s, fuzzNames), Image: pick(s, fuzzImages)}
		if s.bool() {
			c.VolumeMounts = []corev1.VolumeMount{{Name: pick(s, fuzzNames), MountPath: pick(s, fuzzPaths)}}
		}
		if s.intn(4) == 0 {
			c.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}
			c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")}
			c.Env = []corev1.EnvVar{{Name: "LOG", Value: "info"}}
		}
		spec.Sidecars = append(spec.Sidecars, profileSidecar(c))
	}
	for range s.intn(3) {
		spec.Volumes = append(spec.Volumes, profileVolume(emptyDir(pick(s, fuzzNames))))
	}
	for range s.intn(3) {
		m := v1alpha1.AppContainerMount{Name: pick(s, fuzzNames), MountPath: pick(s, fuzzPaths), ReadOnly: s.bool()}
		if len(spec.Volumes) > 0 && s.bool() {
			m.Name = pick(s, spec.Volumes).Name
		}
		for range s.intn(3) {
			m.Containers = append(m.Containers, pick(s, fuzzNames))
		}
		spec.AppContainerMounts = append(spec.AppContainerMounts, m)
	}
	if s.intn(3) == 0 {
		s.allowOverrides(spec)
	}
	return spec
}

// nextGeneration is what the profiles may have become: some kept, some dropped, some edited, some switched to
// or from KeepOnly, maybe a new one.
func (s *fuzzSource) nextGeneration(prev []inject.Profile) []inject.Profile {
	var out []inject.Profile
	for _, p := range prev {
		switch s.intn(7) {
		case 1: // deleted, or no longer selecting the workload
			continue
		case 2: // new image
			p = withSpec(p, func(spec *v1alpha1.SidecarProfileSpec) { spec.Sidecars[0].Image += "-new" })
		case 3: // rewritten
			p.Spec = s.spec()
		case 4: // updatePolicy switched
			p.KeepOnly = !p.KeepOnly
		case 5: // new image, but updatePolicy OnCreate
			p = withSpec(p, func(spec *v1alpha1.SidecarProfileSpec) { spec.Sidecars[0].Image += "-new" })
			p.KeepOnly = true
		case 6: // reordered
			p = withSpec(p, func(spec *v1alpha1.SidecarProfileSpec) { spec.Order = pick(s, fuzzOrders) })
		}
		out = append(out, p)
	}
	if s.bool() {
		if p, ok := s.newProfile(out); ok {
			out = append(out, p)
		}
	}
	return out
}

// handEdits are what people may do to an injected template by hand between two reconciliations: edit or delete
// what Outrigger added, add or delete their own containers and volumes. It returns the edited template and the
// workload's own template after the same edits.
func (s *fuzzSource) handEdits(t *testing.T, injected, user *corev1.PodTemplateSpec) (*corev1.PodTemplateSpec, *corev1.PodTemplateSpec) {
	out, own := injected.DeepCopy(), user.DeepCopy()
	rec := mustRecord(t, injected)
	var recInit, recVol []string
	var recMounts []inject.MountRef
	for _, e := range rec.Profiles {
		recInit = append(recInit, e.InitContainers...)
		recVol = append(recVol, e.Volumes...)
		recMounts = append(recMounts, e.Mounts...)
	}
	used := func(name string) bool {
		return findContainer(out.Spec.InitContainers, name) != nil || findContainer(out.Spec.Containers, name) != nil
	}
	for range s.intn(3) {
		switch s.intn(7) {
		case 1: // an injected sidecar deleted
			if len(recInit) > 0 {
				n := pick(s, recInit)
				out.Spec.InitContainers = slices.DeleteFunc(out.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == n })
			}
		case 2: // an injected sidecar's image edited
			if len(recInit) > 0 {
				if c := findContainer(out.Spec.InitContainers, pick(s, recInit)); c != nil {
					c.Image = "edited:1"
				}
			}
		case 3: // an injected volume deleted
			if len(recVol) > 0 {
				n := pick(s, recVol)
				out.Spec.Volumes = slices.DeleteFunc(out.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == n })
			}
		case 4: // an injected mount deleted
			if len(recMounts) > 0 {
				m := pick(s, recMounts)
				if c := findContainer(out.Spec.Containers, m.Container); c != nil {
					c.VolumeMounts = slices.DeleteFunc(c.VolumeMounts, func(vm corev1.VolumeMount) bool { return vm.MountPath == m.MountPath })
				}
			}
		case 5: // a new app container of the workload's, at the end
			n := pick(s, fuzzNames)
			if used(n) {
				continue
			}
			c := corev1.Container{Name: n, Image: "new:1"}
			if s.bool() {
				c.VolumeMounts = []corev1.VolumeMount{{Name: pick(s, fuzzNames), MountPath: pick(s, fuzzPaths)}}
			}
			out.Spec.Containers = append(out.Spec.Containers, c)
			own.Spec.Containers = append(own.Spec.Containers, c)
		case 6: // one of the workload's app containers deleted (with what Outrigger mounted into it)
			if len(own.Spec.Containers) > 0 {
				n := pick(s, own.Spec.Containers).Name
				del := func(c corev1.Container) bool { return c.Name == n }
				out.Spec.Containers = slices.DeleteFunc(out.Spec.Containers, del)
				own.Spec.Containers = slices.DeleteFunc(own.Spec.Containers, del)
			}
		}
	}
	return out, own
}
