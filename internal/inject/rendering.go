package inject

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// Rendering is what one profile adds to a pod template that has none of its names yet, exactly as Inject places
// it. The admission policy compiler places this and nothing else, so the apiserver and the engine agree.
type Rendering struct {
	Placement v1alpha1.Placement
	// Sidecars are the native sidecars (restartPolicy Always), in start order.
	Sidecars []corev1.Container
	// Volumes are appended to the pod's volumes.
	Volumes []corev1.Volume
	// Mounts are appended, in order, to the app containers each names.
	Mounts []AppMount
}

// AppMount is a volume mount and the app containers it goes into: Containers names them, or is empty for all.
type AppMount struct {
	Mount      corev1.VolumeMount
	Containers []string
}

// Render returns what a profile at this spec adds to a template: Inject's own rendering.
func Render(spec *v1alpha1.SidecarProfileSpec) Rendering {
	r := render(spec)
	out := Rendering{Placement: r.placement, Sidecars: r.sidecars, Volumes: r.volumes}
	for i, m := range r.mounts {
		out.Mounts = append(out.Mounts, AppMount{Mount: m, Containers: r.mountSpecs[i].Containers})
	}
	return out
}
