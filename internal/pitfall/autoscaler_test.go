package pitfall

import (
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

type (
	autoscalingv2HPA  = autoscalingv2.HorizontalPodAutoscaler
	autoscalingMetric = autoscalingv2.MetricSpec
)

// hpa is an autoscaler of the Deployment "web"'s namespace, targeting kind/target.
func hpa(target, kind, apiVersion string, metrics ...autoscalingv2.MetricSpec) autoscalingv2.HorizontalPodAutoscaler {
	return autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: target, Namespace: "shop"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 10, Metrics: metrics,
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: kind, Name: target, APIVersion: apiVersion}}}
}

func resourceMetric(name string, utilization bool) autoscalingv2.MetricSpec {
	target := autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType}
	if utilization {
		target = autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](80)}
	}
	return autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceName(name), Target: target}}
}

func containerMetric(name, container string) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{Type: autoscalingv2.ContainerResourceMetricSourceType,
		ContainerResource: &autoscalingv2.ContainerResourceMetricSource{Name: corev1.ResourceName(name), Container: container,
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](80)}}}
}

func TestPitfalls_WarnsWhenAnAutoscalerCountsTheSidecars(t *testing.T) {
	app := resources(list("cpu", "500m"), nil)
	utilization := func(name string, kind, apiVersion string, metrics ...autoscalingMetric) Namespace {
		return Namespace{Autoscalers: []autoscalingv2HPA{hpa(name, kind, apiVersion, metrics...)}}
	}
	runResourceCases(t, v1alpha1.ReasonAutoscalerCountsSidecars, []resourceCase{
		{name: "a Resource cpu utilization metric, the sidecar requests cpu", app: app, sidecar: resources(list("cpu", "100m"), nil),
			ns: utilization("web", "Deployment", "apps/v1", resourceMetric("cpu", true)),
			want: []string{`HorizontalPodAutoscaler web scales the Deployment on the pods' cpu (spec.metrics[0], a Resource metric), which counts the sidecars "proxy"`,
				"type: ContainerResource, containerResource: {name: cpu, container: app"}},
		{name: "utilization, and the sidecar requests no cpu: the autoscaler stops", app: app,
			ns:   utilization("web", "Deployment", "apps/v1", resourceMetric("cpu", true)),
			want: []string{`, and "proxy" requests no cpu, so it cannot compute the utilization and does not scale at all`}},
		{name: "an average value still counts the sidecars' usage", app: app,
			ns:   utilization("web", "Deployment", "apps/v1", resourceMetric("memory", false)),
			want: []string{"pods' memory (spec.metrics[0], a Resource metric)"}},
		{name: "a ContainerResource metric already", app: app, ns: utilization("web", "Deployment", "apps/v1", containerMetric("cpu", "app"))},
		{name: "an autoscaler of another workload", app: app, ns: utilization("other", "Deployment", "apps/v1", resourceMetric("cpu", true))},
		{name: "an autoscaler of another kind of the same name", app: app, ns: utilization("web", "StatefulSet", "apps/v1", resourceMetric("cpu", true))},
	})
}
