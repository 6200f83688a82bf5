// Package pitfall knows the traps of native sidecars: given one workload as it is after injection, and the
// objects of its namespace that judge its pods (ResourceQuotas, LimitRanges, HorizontalPodAutoscalers), it returns
// what a person should change, as advice (internal/advice). It is pure: no client, no clock; internal/advisor
// reads the namespace's objects. docs/pitfalls.md describes each check.
//
// Only the sidecars Outrigger injected are judged, found by the injection record on the template, and each piece
// of advice names the profile that injected the sidecar concerned: a workload's own init containers and
// containers are its owner's business.
package pitfall

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/internal/advice"
	"github.com/outrigger-dev/outrigger/internal/inject"
)

// Input is one workload after injection and what of its namespace judges its pods.
type Input struct {
	// Object is the workload (a *batchv1.Job, *appsv1.Deployment..., or an unstructured object of a configured
	// kind); GVK is its kind, as an autoscaler's scaleTargetRef names it.
	Object client.Object
	GVK    schema.GroupVersionKind
	// Template is the workload's pod template with the sidecars injected, carrying the injection record.
	Template *corev1.PodTemplateSpec
	// Record is the template's injection record when the caller has read it already (reading it is most of the
	// cost of a check); nil to have Check read it.
	Record *inject.Record
	// Profiles limits the advice to these profiles' sidecars; nil means every profile the record names.
	Profiles []inject.ProfileRef
	// Namespace holds the objects of the workload's namespace that judge its pods.
	Namespace Namespace
}

// Namespace is what of a namespace judges a workload's pods. The CLI knows only those among its manifests.
type Namespace struct {
	Quotas      []corev1.ResourceQuota
	LimitRanges []corev1.LimitRange
	Autoscalers []autoscalingv2.HorizontalPodAutoscaler
}

// Check returns the advice about the injected sidecars of one workload, sorted (advice.Sort). A template without
// an injection record, or with one that cannot be read, gets none: there is nothing of Outrigger's to judge.
func Check(in Input) []advice.Advice {
	w, ok := newWorkload(in)
	if !ok {
		return nil
	}
	var out []advice.Advice
	for _, check := range checks {
		out = append(out, check(w, in.Namespace)...)
	}
	advice.Sort(out)
	return out
}

// checks are every pitfall, each a function of the workload and its namespace.
var checks = []func(*workload, Namespace) []advice.Advice{
	podFailurePolicy,
	startupProbeInJob,
	quotas,
	limitRanges,
	autoscalers,
	gracePeriod,
}

// workload is the input, digested once for every check: the pod spec and the injected sidecars, with the
// profile of each.
type workload struct {
	in   Input
	spec *corev1.PodSpec
	// sidecars are the injected sidecars of the profiles asked about, in the pod's order.
	sidecars []sidecar
	// injected names every container Outrigger injected (for any profile): the others are the workload's own.
	injected map[string]bool
	// admitted is the pod as the apiserver judges it (see admittedPod), made once, when a check needs it.
	admitted *corev1.Pod
}

// pod returns the pod as the apiserver judges it, with the namespace's LimitRanges' defaults.
func (w *workload) pod() *corev1.Pod {
	if w.admitted == nil {
		w.admitted = admittedPod(w.spec, w.in.Namespace.LimitRanges)
	}
	return w.admitted
}

// sidecar is one injected sidecar and the profile that injected it.
type sidecar struct {
	profile   inject.ProfileRef
	container *corev1.Container
}

func newWorkload(in Input) (*workload, bool) {
	if in.Template == nil {
		return nil, false
	}
	rec := in.Record
	if rec == nil {
		read, err := inject.ReadRecord(in.Template)
		if err != nil {
			return nil, false
		}
		rec = &read
	}
	if len(rec.Profiles) == 0 {
		return nil, false
	}
	w := &workload{in: in, spec: &in.Template.Spec, injected: map[string]bool{}}
	owner := map[string]inject.ProfileRef{}
	for _, e := range rec.Profiles {
		for _, name := range e.InitContainers {
			w.injected[name] = true
			if asked(in.Profiles, e.ProfileRef) {
				owner[name] = e.ProfileRef
			}
		}
	}
	for i := range w.spec.InitContainers {
		c := &w.spec.InitContainers[i]
		if ref, ok := owner[c.Name]; ok && isSidecar(c) {
			w.sidecars = append(w.sidecars, sidecar{profile: ref, container: c})
		}
	}
	return w, len(w.sidecars) > 0
}

func asked(profiles []inject.ProfileRef, ref inject.ProfileRef) bool {
	if profiles == nil {
		return true
	}
	for _, p := range profiles {
		if p == ref {
			return true
		}
	}
	return false
}

func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// appContainers names the workload's app containers (spec.containers), for messages.
func (w *workload) appContainers() []string {
	out := make([]string, 0, len(w.spec.Containers))
	for _, c := range w.spec.Containers {
		out = append(out, c.Name)
	}
	return out
}

// profiles lists the profiles of the sidecars asked about, once each, in the pod's order.
func (w *workload) profiles() []inject.ProfileRef {
	var out []inject.ProfileRef
	seen := map[inject.ProfileRef]bool{}
	for _, s := range w.sidecars {
		if !seen[s.profile] {
			seen[s.profile] = true
			out = append(out, s.profile)
		}
	}
	return out
}
