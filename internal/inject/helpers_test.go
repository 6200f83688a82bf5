package inject

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// Fixture builders: small constructors for pod templates and profiles, so that each test states only what it is
// about.

// podTemplate is a pod template with the given modifications applied, in order.
func podTemplate(mods ...func(*corev1.PodTemplateSpec)) *corev1.PodTemplateSpec {
	t := &corev1.PodTemplateSpec{}
	for _, m := range mods {
		m(t)
	}
	return t
}

func withContainers(cs ...corev1.Container) func(*corev1.PodTemplateSpec) {
	return func(t *corev1.PodTemplateSpec) { t.Spec.Containers = append(t.Spec.Containers, cs...) }
}

func withInitContainers(cs ...corev1.Container) func(*corev1.PodTemplateSpec) {
	return func(t *corev1.PodTemplateSpec) { t.Spec.InitContainers = append(t.Spec.InitContainers, cs...) }
}

func withVolumes(vs ...corev1.Volume) func(*corev1.PodTemplateSpec) {
	return func(t *corev1.PodTemplateSpec) { t.Spec.Volumes = append(t.Spec.Volumes, vs...) }
}

func withLabel(k, v string) func(*corev1.PodTemplateSpec) {
	return func(t *corev1.PodTemplateSpec) {
		if t.Labels == nil {
			t.Labels = map[string]string{}
		}
		t.Labels[k] = v
	}
}

func withAnnotation(k, v string) func(*corev1.PodTemplateSpec) {
	return func(t *corev1.PodTemplateSpec) {
		if t.Annotations == nil {
			t.Annotations = map[string]string{}
		}
		t.Annotations[k] = v
	}
}

// appContainer is a workload container with the given mounts.
func appContainer(name string, mounts ...corev1.VolumeMount) corev1.Container {
	return corev1.Container{Name: name, Image: "registry.example/" + name + ":1", VolumeMounts: mounts}
}

// userInit is one of the workload's own (run-to-completion) init containers.
func userInit(name string) corev1.Container {
	return corev1.Container{Name: name, Image: "registry.example/" + name + ":1", Command: []string{"true"}}
}

// sidecar is a sidecar as a profile declares it (no restartPolicy: the engine sets it).
func sidecar(name, image string, mounts ...corev1.VolumeMount) corev1.Container {
	return corev1.Container{Name: name, Image: image, VolumeMounts: mounts}
}

func emptyDir(name string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
}

func volumeMount(name, path string) corev1.VolumeMount {
	return corev1.VolumeMount{Name: name, MountPath: path}
}

// appMount is a spec.appContainerMounts entry; no containers means every app container.
func appMount(volume, path string, containers ...string) v1alpha1.AppContainerMount {
	return v1alpha1.AppContainerMount{Name: volume, MountPath: path, Containers: containers}
}

// profile is a namespaced SidecarProfile with the given modifications applied to its spec.
func profile(name string, mods ...func(*Profile)) Profile {
	p := Profile{Ref: ProfileRef{Kind: KindSidecarProfile, Name: name}, Spec: &v1alpha1.SidecarProfileSpec{}}
	for _, m := range mods {
		m(&p)
	}
	return p
}

// clusterProfile is a ClusterSidecarProfile with the given modifications applied to its spec.
func clusterProfile(name string, mods ...func(*Profile)) Profile {
	p := profile(name, mods...)
	p.Ref.Kind = KindClusterSidecarProfile
	return p
}

func withSidecars(cs ...corev1.Container) func(*Profile) {
	return func(p *Profile) {
		for _, c := range cs {
			p.Spec.Sidecars = append(p.Spec.Sidecars, profileSidecar(c))
		}
	}
}

func withProfileVolumes(vs ...corev1.Volume) func(*Profile) {
	return func(p *Profile) {
		for _, v := range vs {
			p.Spec.Volumes = append(p.Spec.Volumes, profileVolume(v))
		}
	}
}

// profileSidecar and profileVolume are the only places that know how the API wraps a container and a volume in
// a profile's spec.
func profileSidecar(c corev1.Container) v1alpha1.Sidecar { return v1alpha1.Sidecar{Container: c} }

func profileVolume(v corev1.Volume) v1alpha1.ProfileVolume { return v1alpha1.ProfileVolume{Volume: v} }

func withAppMounts(ms ...v1alpha1.AppContainerMount) func(*Profile) {
	return func(p *Profile) { p.Spec.AppContainerMounts = append(p.Spec.AppContainerMounts, ms...) }
}

func withOrder(o int32) func(*Profile) { return func(p *Profile) { p.Spec.Order = o } }

func withPlacement(pl v1alpha1.Placement) func(*Profile) {
	return func(p *Profile) { p.Spec.Placement = pl }
}

// asKeepOnly is p as the reconciler gives a profile with updatePolicy OnCreate.
func asKeepOnly(p Profile) Profile {
	p.KeepOnly = true
	return p
}

// logShipper is the profile of the seed example: a log shipper tailing /opt/logs.txt from an emptyDir the app
// containers write to.
func logShipper(name string, mods ...func(*Profile)) Profile {
	base := []func(*Profile){
		withSidecars(corev1.Container{
			Name:         "logshipper",
			Image:        "alpine:latest",
			Command:      []string{"sh", "-c", "tail -F /opt/logs.txt"},
			VolumeMounts: []corev1.VolumeMount{volumeMount("data", "/opt")},
		}),
		withProfileVolumes(emptyDir("data")),
		withAppMounts(appMount("data", "/opt")),
	}
	return profile(name, append(base, mods...)...)
}

// withSpec returns p with a deep copy of its spec modified by mod: the same profile in a new revision.
func withSpec(p Profile, mod func(*v1alpha1.SidecarProfileSpec)) Profile {
	p.Spec = p.Spec.DeepCopy()
	mod(p.Spec)
	return p
}

// mustInject injects and fails the test on an error.
func mustInject(t testing.TB, tmpl *corev1.PodTemplateSpec, profiles ...Profile) Result {
	t.Helper()
	res, err := Inject(tmpl, profiles)
	if err != nil {
		t.Fatalf("Inject: %v", err)
	}
	return res
}

// mustRemove removes and fails the test on an error.
func mustRemove(t testing.TB, tmpl *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
	t.Helper()
	out, err := Remove(tmpl)
	if err != nil {
		t.Fatalf("Remove: %v", err)
	}
	return out
}

// mustRecord reads the injection record and fails the test on an error.
func mustRecord(t testing.TB, tmpl *corev1.PodTemplateSpec) Record {
	t.Helper()
	rec, err := ReadRecord(tmpl)
	if err != nil {
		t.Fatalf("ReadRecord: %v", err)
	}
	return rec
}

// profileResult returns the result for p, failing the test when there is none.
func profileResult(t testing.TB, res Result, p Profile) ProfileResult {
	t.Helper()
	pr, ok := res.Profile(p.Ref)
	if !ok {
		t.Fatalf("no result for %s in %+v", p.Ref, res.Profiles)
	}
	return pr
}

// expectTemplate fails the test when got is not semantically want, showing both.
func expectTemplate(t testing.TB, what string, want, got *corev1.PodTemplateSpec) {
	t.Helper()
	if !equality.Semantic.DeepEqual(want, got) {
		t.Fatalf("%s: templates differ\nwant: %s\ngot:  %s", what, dump(want), dump(got))
	}
}

// withoutOutriggerMarks returns a copy of tmpl without Outrigger's annotation and label.
func withoutOutriggerMarks(tmpl *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
	out := tmpl.DeepCopy()
	delete(out.Annotations, v1alpha1.InjectionAnnotation)
	delete(out.Labels, v1alpha1.InjectedLabel)
	return out
}

func dump(v any) string {
	raw, err := json.MarshalIndent(v, "      ", "  ")
	if err != nil {
		return err.Error()
	}
	return string(raw)
}

func containerNames(cs []corev1.Container) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

func volumeNames(vs []corev1.Volume) []string {
	out := []string{}
	for _, v := range vs {
		out = append(out, v.Name)
	}
	return out
}

func mountPaths(ms []corev1.VolumeMount) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.Name+":"+m.MountPath)
	}
	return out
}
