package pitfall

import (
	"fmt"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/advice"
)

// autoscalers: a HorizontalPodAutoscaler that scales the workload on a Resource metric averages over every
// container of the pods, the sidecars (restartable init containers) included: their usage, and for a
// Utilization target their requests, move the app's scaling. And for a Utilization target, a sidecar without a
// request for the resource stops the autoscaler: it cannot compute the pods' utilization at all
// (FailedGetResourceMetric). A ContainerResource metric naming the app container counts the app alone.
func autoscalers(w *workload, ns Namespace) []advice.Advice {
	var out []advice.Advice
	for _, h := range ns.Autoscalers {
		if !targets(h.Spec.ScaleTargetRef, w.in.GVK, w.in.Object.GetName()) {
			continue
		}
		for i, m := range h.Spec.Metrics {
			if m.Type != autoscalingv2.ResourceMetricSourceType || m.Resource == nil {
				continue
			}
			for _, ref := range w.profiles() {
				var unrequested []string
				for _, name := range w.sidecarsOf(ref) {
					if _, ok := sidecarIn(w.pod(), name).Resources.Requests[m.Resource.Name]; !ok {
						unrequested = append(unrequested, name)
					}
				}
				msg := fmt.Sprintf("HorizontalPodAutoscaler %s scales the %s on the pods' %s (spec.metrics[%d], a Resource metric), which counts "+
					"the sidecars %s as well as the app", h.Name, w.in.GVK.Kind, m.Resource.Name, i, quoted(w.sidecarsOf(ref)))
				if m.Resource.Target.Type == autoscalingv2.UtilizationMetricType && len(unrequested) > 0 {
					msg += fmt.Sprintf(", and %s requests no %s, so it cannot compute the utilization and does not scale at all",
						quoted(unrequested), m.Resource.Name)
				}
				msg += fmt.Sprintf(": use a ContainerResource metric naming the app container (type: ContainerResource, containerResource: "+
					"{name: %s, container: %s, target: ...})", m.Resource.Name, appContainerName(w))
				out = append(out, advice.Advice{Profile: ref, Reason: v1alpha1.ReasonAutoscalerCountsSidecars, Message: msg})
			}
		}
	}
	return out
}

// targets reports whether a scaleTargetRef names the workload: its kind, name and API group (the version may
// differ; an apiVersion left out matches any group).
func targets(ref autoscalingv2.CrossVersionObjectReference, gvk schema.GroupVersionKind, name string) bool {
	if ref.Kind != gvk.Kind || ref.Name != name {
		return false
	}
	if ref.APIVersion == "" {
		return true
	}
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	return err == nil && gv.Group == gvk.Group
}

// appContainerName is the app container a metric should name: the only one, or the first.
func appContainerName(w *workload) string {
	apps := w.appContainers()
	if len(apps) == 0 {
		return "<app>"
	}
	return apps[0]
}
