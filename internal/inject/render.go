package inject

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// rendering is what one profile adds to a pod template.
type rendering struct {
	placement  v1alpha1.Placement
	sidecars   []corev1.Container
	volumes    []corev1.Volume
	mounts     []corev1.VolumeMount // added to every app container the AppContainerMount targets
	mountSpecs []v1alpha1.AppContainerMount
}

// render turns a profile's spec into the items it adds. Sidecars get restartPolicy Always: that is what makes an
// init container a native sidecar.
func render(spec *v1alpha1.SidecarProfileSpec) rendering {
	always := corev1.ContainerRestartPolicyAlways
	r := rendering{placement: placementOf(spec), mountSpecs: spec.AppContainerMounts}
	for _, s := range spec.Sidecars {
		c := *s.Container.DeepCopy()
		c.RestartPolicy = &always
		r.sidecars = append(r.sidecars, c)
	}
	for _, v := range spec.Volumes {
		r.volumes = append(r.volumes, *v.Volume.DeepCopy())
	}
	for _, m := range spec.AppContainerMounts {
		r.mounts = append(r.mounts, corev1.VolumeMount{Name: m.Name, MountPath: m.MountPath, SubPath: m.SubPath, ReadOnly: m.ReadOnly})
	}
	return r
}

func placementOf(spec *v1alpha1.SidecarProfileSpec) v1alpha1.Placement {
	if spec.Placement == v1alpha1.PlacementAfterInitContainers {
		return v1alpha1.PlacementAfterInitContainers
	}
	return v1alpha1.PlacementBeforeInitContainers
}

// Revision is the hash of what a profile renders: it changes exactly when the injected items would. Fields that
// do not change the rendering (selector, order, updatePolicy, workloadKinds) are left out, so editing them rolls
// nothing out. The overrides a profile allows are in: allowing or forbidding one changes what the workloads that
// ask for it get, so it rolls out in waves like any change of the sidecars.
func Revision(spec *v1alpha1.SidecarProfileSpec) string {
	r := render(spec)
	raw, err := json.Marshal(struct {
		Placement v1alpha1.Placement           `json:"placement"`
		Sidecars  []corev1.Container           `json:"sidecars"`
		Volumes   []corev1.Volume              `json:"volumes"`
		Mounts    []v1alpha1.AppContainerMount `json:"mounts"`
		// Overrides are left out when empty, so that profiles written before overrides existed keep their
		// revision, and upgrading Outrigger rolls nothing out.
		Overrides []v1alpha1.SidecarOverride `json:"overrides,omitempty"`
	}{r.placement, r.sidecars, r.volumes, normalizedMounts(r.mountSpecs), normalizedOverrides(spec.Overrides)})
	if err != nil {
		panic(fmt.Sprintf("marshalling a profile spec cannot fail: %v", err))
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:8])
}

// normalizedMounts sorts each mount's container names: the CRD declares them a set, so their order must not
// change the revision (and roll workloads out).
func normalizedMounts(mounts []v1alpha1.AppContainerMount) []v1alpha1.AppContainerMount {
	out := make([]v1alpha1.AppContainerMount, len(mounts))
	for i, m := range mounts {
		m.Containers = append([]string(nil), m.Containers...)
		sort.Strings(m.Containers)
		out[i] = m
	}
	return out
}

// normalizedOverrides sorts what the CRD declares as sets and maps (the sidecars, each one's resources and env
// names), so that reordering them does not change the revision.
func normalizedOverrides(in []v1alpha1.SidecarOverride) []v1alpha1.SidecarOverride {
	out := make([]v1alpha1.SidecarOverride, len(in))
	for i, o := range in {
		o = *o.DeepCopy()
		sort.Strings(o.Env)
		sort.Slice(o.Resources, func(a, b int) bool { return o.Resources[a].Name < o.Resources[b].Name })
		out[i] = o
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Sidecar < out[b].Sidecar })
	return out
}

// mountTargets returns the app containers (by index) an AppContainerMount goes into: all of them, or those named.
func mountTargets(spec v1alpha1.AppContainerMount, containers []corev1.Container) []int {
	var idx []int
	for i, c := range containers {
		if len(spec.Containers) == 0 || contains(spec.Containers, c.Name) {
			idx = append(idx, i)
		}
	}
	return idx
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
