package advisor

import (
	"context"
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// countingReader serves one quota and counts the lists.
type countingReader struct {
	lists int
	quota corev1.ResourceQuota
}

func (r *countingReader) Get(context.Context, client.ObjectKey, client.Object, ...client.GetOption) error {
	return fmt.Errorf("not served")
}

func (r *countingReader) List(_ context.Context, list client.ObjectList, _ ...client.ListOption) error {
	r.lists++
	if l, ok := list.(*corev1.ResourceQuotaList); ok {
		l.Items = []corev1.ResourceQuota{r.quota}
	}
	return nil
}

func TestAdvise_ReadsTheNamespaceOnlyForATemplateThatCarriesTheProfiles(t *testing.T) {
	logs := inject.ProfileRef{Kind: inject.KindSidecarProfile, Name: "logs"}
	spec := &v1alpha1.SidecarProfileSpec{Sidecars: []v1alpha1.Sidecar{{Container: corev1.Container{Name: "shipper", Image: "s:1"}}}}
	bare := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}
	res, err := inject.Inject(&bare, []inject.Profile{{Ref: logs, Spec: spec}})
	if err != nil {
		t.Fatal(err)
	}
	quota := corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "compute", Namespace: "shop"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceLimitsMemory: resource.MustParse("1Gi")}}}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"}}
	for _, tc := range []struct {
		name       string
		tmpl       *corev1.PodTemplateSpec
		profiles   []inject.Profile
		wantLists  int
		wantAdvice int
	}{
		{"carries the profile: read and judged", res.Template, []inject.Profile{{Ref: logs, Spec: spec}}, 3, 1},
		{"carries nothing: nothing read", &bare, []inject.Profile{{Ref: logs, Spec: spec}}, 0, 0},
		{"carries another profile: nothing read", res.Template, []inject.Profile{{Ref: inject.ProfileRef{Kind: inject.KindSidecarProfile, Name: "other"}, Spec: spec}}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &countingReader{quota: quota}
			got, err := Advisor{Reader: r}.Advise(context.Background(), Workload{Kind: workload.Deployment, Object: dep, Template: tc.tmpl, Profiles: tc.profiles})
			if err != nil {
				t.Fatal(err)
			}
			if r.lists != tc.wantLists || len(got) != tc.wantAdvice {
				t.Errorf("%d lists and advice %+v; want %d lists and %d pieces", r.lists, got, tc.wantLists, tc.wantAdvice)
			}
		})
	}
}

// The cache keeps of a quota, a limit range and an autoscaler what the checks read, and the watch passes an
// update only when that changes: a quota's used, an autoscaler's status, change every few seconds.
func TestTrimAndChanged_KeepWhatTheChecksReadAndPassOnlyItsChanges(t *testing.T) {
	meta := metav1.ObjectMeta{Name: "q", Namespace: "shop", ResourceVersion: "1", Labels: map[string]string{"a": "b"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}}
	quota := &corev1.ResourceQuota{ObjectMeta: meta, Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}},
		Status: corev1.ResourceQuotaStatus{Used: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}
	trimmed, _ := Trim(quota)
	q := trimmed.(*corev1.ResourceQuota)
	if q.Status.Used != nil || q.ManagedFields != nil || q.Labels != nil || q.Spec.Hard.Cpu().String() != "4" {
		t.Errorf("trimmed quota = %+v", q)
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: meta, Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 3,
		Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{}}, Status: autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 2}}
	trimmedHPA, _ := Trim(hpa)
	if h := trimmedHPA.(*autoscalingv2.HorizontalPodAutoscaler); h.Status.CurrentReplicas != 0 || h.Spec.Behavior != nil || h.Spec.MaxReplicas != 3 {
		t.Errorf("trimmed autoscaler = %+v", h)
	}

	usedMore := quota.DeepCopy()
	usedMore.ResourceVersion, usedMore.Status.Used = "2", corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}
	if Changed.Update(event.UpdateEvent{ObjectOld: quota, ObjectNew: usedMore}) {
		t.Error("a change of the quota's used passes the watch")
	}
	harder := quota.DeepCopy()
	harder.ResourceVersion, harder.Spec.Hard = "3", corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8")}
	if !Changed.Update(event.UpdateEvent{ObjectOld: quota, ObjectNew: harder}) {
		t.Error("a change of the quota's hard limits does not pass the watch")
	}
}

// emptyReader lists nothing: a namespace without quotas, limit ranges or autoscalers, the common case.
type emptyReader struct{}

func (emptyReader) Get(context.Context, client.ObjectKey, client.Object, ...client.GetOption) error {
	return fmt.Errorf("not served")
}
func (emptyReader) List(context.Context, client.ObjectList, ...client.ListOption) error { return nil }

// BenchmarkAdvise is the advice's cost per workload in the profile reconciler, which asks for every workload a
// profile selects at every status computation: a converged Deployment in a namespace with nothing to judge it by,
// with the injection record read by Advise, or given (as the reconciler does for a workload at the current
// revision, whose record it has read already).
func BenchmarkAdvise(b *testing.B) {
	logs := inject.ProfileRef{Kind: inject.KindSidecarProfile, Name: "logs"}
	spec := &v1alpha1.SidecarProfileSpec{Sidecars: []v1alpha1.Sidecar{{Container: corev1.Container{Name: "shipper", Image: "s:1",
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m")}}}}}}
	bare := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}
	res, err := inject.Inject(&bare, []inject.Profile{{Ref: logs, Spec: spec}})
	if err != nil {
		b.Fatal(err)
	}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"}, Spec: appsv1.DeploymentSpec{Template: *res.Template}}
	rec, err := inject.ReadRecord(&dep.Spec.Template)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		record *inject.Record
	}{{"record-read", nil}, {"record-given", &rec}} {
		w := Workload{Kind: workload.Deployment, Object: dep, Template: &dep.Spec.Template, Record: bc.record,
			Profiles: []inject.Profile{{Ref: logs, Spec: spec}}}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := (Advisor{Reader: emptyReader{}}).Advise(context.Background(), w); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
