package offline

import (
	"encoding/json"
	"fmt"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
)

// judges are the objects among the inputs that judge a workload's pods, by namespace: the ResourceQuotas,
// LimitRanges and HorizontalPodAutoscalers the pitfall checks read (internal/pitfall). The CLI knows only those
// it is given: a quota that is in the cluster but not among the manifests is not checked.
type judges struct {
	quotas      []corev1.ResourceQuota
	limitRanges []corev1.LimitRange
	autoscalers []autoscalingv2.HorizontalPodAutoscaler
}

// addDocuments takes the quotas, limit ranges and autoscalers among docs; a document that names no namespace is
// in defaultNS, as kubectl would create it.
func (j *judges) addDocuments(docs []*Document, defaultNS string) error {
	for _, d := range docs {
		if !d.isObject() {
			continue
		}
		var err error
		switch d.meta.APIVersion + "/" + d.meta.Kind {
		case "v1/ResourceQuota":
			var q corev1.ResourceQuota
			if err = json.Unmarshal(d.json, &q); err == nil {
				q.Namespace = namespaceOr(q.Namespace, defaultNS)
				j.quotas = append(j.quotas, q)
			}
		case "v1/LimitRange":
			var l corev1.LimitRange
			if err = json.Unmarshal(d.json, &l); err == nil {
				l.Namespace = namespaceOr(l.Namespace, defaultNS)
				j.limitRanges = append(j.limitRanges, l)
			}
		case "autoscaling/v2/HorizontalPodAutoscaler":
			var h autoscalingv2.HorizontalPodAutoscaler
			if err = json.Unmarshal(d.json, &h); err == nil {
				h.Namespace = namespaceOr(h.Namespace, defaultNS)
				j.autoscalers = append(j.autoscalers, h)
			}
		case "autoscaling/v1/HorizontalPodAutoscaler":
			var h autoscalingv1.HorizontalPodAutoscaler
			if err = json.Unmarshal(d.json, &h); err == nil {
				h.Namespace = namespaceOr(h.Namespace, defaultNS)
				j.autoscalers = append(j.autoscalers, autoscalerV2(h))
			}
		}
		if err != nil {
			return fmt.Errorf("%s: cannot read the %s: %w", d.Where(), d.meta.Kind, err)
		}
	}
	return nil
}

func namespaceOr(ns, def string) string {
	if ns == "" {
		return def
	}
	return ns
}

// autoscalerV2 is an autoscaling/v1 autoscaler as autoscaling/v2 serves it: v1 scales on the pods' CPU
// utilization only (80% when unset).
func autoscalerV2(h autoscalingv1.HorizontalPodAutoscaler) autoscalingv2.HorizontalPodAutoscaler {
	target := int32(80)
	if h.Spec.TargetCPUUtilizationPercentage != nil {
		target = *h.Spec.TargetCPUUtilizationPercentage
	}
	return autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: h.ObjectMeta, Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
		ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: h.Spec.ScaleTargetRef.Kind, Name: h.Spec.ScaleTargetRef.Name,
			APIVersion: h.Spec.ScaleTargetRef.APIVersion},
		MinReplicas: h.Spec.MinReplicas, MaxReplicas: h.Spec.MaxReplicas,
		Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
			Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &target}}}},
	}}
}
