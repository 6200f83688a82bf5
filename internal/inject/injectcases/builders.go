package injectcases

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
)

// Fixture builders: small constructors for pod templates and profiles, so that each case states only what it is
// about.

// PodTemplate is a pod template with the given modifications applied, in order.
func PodTemplate(mods ...func(*corev1.PodTemplateSpec)) *corev1.PodTemplateSpec {
	t := &corev1.PodTemplateSpec{}
	for _, m := range mods {
		m(t)
	}
	return t
}

// WithContainers appends app containers.
func WithContainers(cs ...corev1.Container) func(*corev1.PodTemplateSpec) {
	return func(t *corev1.PodTemplateSpec) { t.Spec.Containers = append(t.Spec.Containers, cs...) }
}

// WithInitContainers appends the workload's own init containers.
func WithInitContainers(cs ...corev1.Container) func(*corev1.PodTemplateSpec) {
	return func(t *corev1.PodTemplateSpec) { t.Spec.InitContainers = append(t.Spec.InitContainers, cs...) }
}

// WithVolumes appends the workload's own volumes.
func WithVolumes(vs ...corev1.Volume) func(*corev1.PodTemplateSpec) {
	return func(t *corev1.PodTemplateSpec) { t.Spec.Volumes = append(t.Spec.Volumes, vs...) }
}

// WithLabel sets a label of the pod template.
func WithLabel(k, v string) func(*corev1.PodTemplateSpec) {
	return func(t *corev1.PodTemplateSpec) {
		if t.Labels == nil {
			t.Labels = map[string]string{}
		}
		t.Labels[k] = v
	}
}

// WithAnnotation sets an annotation of the pod template.
func WithAnnotation(k, v string) func(*corev1.PodTemplateSpec) {
	return func(t *corev1.PodTemplateSpec) {
		if t.Annotations == nil {
			t.Annotations = map[string]string{}
		}
		t.Annotations[k] = v
	}
}

// AppContainer is a workload container with the given mounts.
func AppContainer(name string, mounts ...corev1.VolumeMount) corev1.Container {
	return corev1.Container{Name: name, Image: "registry.example/" + name + ":1", VolumeMounts: mounts}
}

// UserInit is one of the workload's own (run-to-completion) init containers.
func UserInit(name string) corev1.Container {
	return corev1.Container{Name: name, Image: "registry.example/" + name + ":1", Command: []string{"true"}}
}

// Sidecar is a sidecar as a profile declares it (no restartPolicy: the engine sets it).
func Sidecar(name, image string, mounts ...corev1.VolumeMount) corev1.Container {
	return corev1.Container{Name: name, Image: image, VolumeMounts: mounts}
}

// EmptyDir is an emptyDir volume.
func EmptyDir(name string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
}

// VolumeMount mounts the volume at the path.
func VolumeMount(name, path string) corev1.VolumeMount {
	return corev1.VolumeMount{Name: name, MountPath: path}
}

// AppMount is a spec.appContainerMounts entry; no containers means every app container.
func AppMount(volume, path string, containers ...string) v1alpha1.AppContainerMount {
	return v1alpha1.AppContainerMount{Name: volume, MountPath: path, Containers: containers}
}

// Profile is a namespaced SidecarProfile with the given modifications applied to its spec.
func Profile(name string, mods ...func(*inject.Profile)) inject.Profile {
	p := inject.Profile{Ref: inject.ProfileRef{Kind: inject.KindSidecarProfile, Name: name}, Spec: &v1alpha1.SidecarProfileSpec{}}
	for _, m := range mods {
		m(&p)
	}
	return p
}

// ClusterProfile is a ClusterSidecarProfile with the given modifications applied to its spec.
func ClusterProfile(name string, mods ...func(*inject.Profile)) inject.Profile {
	p := Profile(name, mods...)
	p.Ref.Kind = inject.KindClusterSidecarProfile
	return p
}

// WithSidecars appends sidecars to the profile.
func WithSidecars(cs ...corev1.Container) func(*inject.Profile) {
	return func(p *inject.Profile) {
		for _, c := range cs {
			p.Spec.Sidecars = append(p.Spec.Sidecars, ProfileSidecar(c))
		}
	}
}

// WithProfileVolumes appends volumes to the profile.
func WithProfileVolumes(vs ...corev1.Volume) func(*inject.Profile) {
	return func(p *inject.Profile) {
		for _, v := range vs {
			p.Spec.Volumes = append(p.Spec.Volumes, ProfileVolume(v))
		}
	}
}

// ProfileSidecar and ProfileVolume are the only places that know how the API wraps a container and a volume in
// a profile's spec.
func ProfileSidecar(c corev1.Container) v1alpha1.Sidecar { return v1alpha1.Sidecar{Container: c} }

// ProfileVolume: see ProfileSidecar.
func ProfileVolume(v corev1.Volume) v1alpha1.ProfileVolume { return v1alpha1.ProfileVolume{Volume: v} }

// WithAppMounts appends spec.appContainerMounts entries to the profile.
func WithAppMounts(ms ...v1alpha1.AppContainerMount) func(*inject.Profile) {
	return func(p *inject.Profile) { p.Spec.AppContainerMounts = append(p.Spec.AppContainerMounts, ms...) }
}

// WithOrder sets the profile's spec.order.
func WithOrder(o int32) func(*inject.Profile) { return func(p *inject.Profile) { p.Spec.Order = o } }

// WithPlacement sets the profile's spec.placement.
func WithPlacement(pl v1alpha1.Placement) func(*inject.Profile) {
	return func(p *inject.Profile) { p.Spec.Placement = pl }
}

// AsKeepOnly is p as the reconciler gives a profile with updatePolicy OnCreate.
func AsKeepOnly(p inject.Profile) inject.Profile {
	p.KeepOnly = true
	return p
}

// LogShipper is the profile of the seed example: a log shipper tailing /opt/logs.txt from an emptyDir the app
// containers write to.
func LogShipper(name string, mods ...func(*inject.Profile)) inject.Profile {
	base := []func(*inject.Profile){
		WithSidecars(corev1.Container{
			Name:         "logshipper",
			Image:        "alpine:latest",
			Command:      []string{"sh", "-c", "tail -F /opt/logs.txt"},
			VolumeMounts: []corev1.VolumeMount{VolumeMount("data", "/opt")},
		}),
		WithProfileVolumes(EmptyDir("data")),
		WithAppMounts(AppMount("data", "/opt")),
	}
	return Profile(name, append(base, mods...)...)
}

// WithSpec returns p with a deep copy of its spec modified by mod: the same profile in a new revision.
func WithSpec(p inject.Profile, mod func(*v1alpha1.SidecarProfileSpec)) inject.Profile {
	p.Spec = p.Spec.DeepCopy()
	mod(p.Spec)
	return p
}
