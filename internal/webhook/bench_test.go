package webhook

import (
	"context"
	"fmt"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/advisor"
	"github.com/outrigger-dev/outrigger/internal/catalog"
)

// BenchmarkInjectorHandle measures the mutating webhook's own work for one admission request: decoding the
// Deployment, reading the profiles in scope, running the engine and writing the JSON patch. The profiles come
// from an in-memory reader that, like the manager's cache with UnsafeDisableDeepCopy, hands out its objects
// without copying them, so the figure is the handler's and not a fake client's.
func BenchmarkInjectorHandle(b *testing.B) {
	profile := logsProfile()
	reader := memReader{profiles: []v1alpha1.SidecarProfile{*profile}, namespaces: map[string]corev1.Namespace{
		"shop": {ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"team": "shop"}}},
	}}
	h := &Injector{Catalog: catalog.Catalog{Reader: reader}}
	// With the advice: the namespace's quota, limit range and autoscaler read and judged for every request that
	// injects (the manager's webhook always has its Advisor).
	judged := reader
	judged.quotas = []corev1.ResourceQuota{{ObjectMeta: metav1.ObjectMeta{Name: "compute", Namespace: "shop"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceLimitsMemory: resource.MustParse("8Gi")}}}}
	judged.limitRanges = []corev1.LimitRange{{ObjectMeta: metav1.ObjectMeta{Name: "defaults", Namespace: "shop"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer, Max: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}}}}}}
	judged.autoscalers = []autoscalingv2.HorizontalPodAutoscaler{{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "other"}}}}
	advised := &Injector{Catalog: catalog.Catalog{Reader: judged}, Advisor: &advisor.Advisor{Reader: judged}}
	unjudged := &Injector{Catalog: catalog.Catalog{Reader: reader}, Advisor: &advisor.Advisor{Reader: reader}}
	for _, bc := range []struct {
		name      string
		h         *Injector
		selected  bool
		wantPatch bool
	}{
		{"selected", h, true, true},                   // a profile selects it: the answer is a patch
		{"not-selected", h, false, false},             // no profile selects it: allowed as it is
		{"selected-with-advice", advised, true, true}, // and the pitfalls judged against the namespace's objects
		{"selected-no-quotas", unjudged, true, true},  // the same in a namespace without quotas, limit ranges, autoscalers
	} {
		raw := []byte(rawDeployment)
		if !bc.selected {
			raw = []byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"db","namespace":"shop","labels":{"app":"db"}},` +
				`"spec":{"selector":{"matchLabels":{"app":"db"}},"template":{"metadata":{"labels":{"app":"db"}},"spec":{"containers":[{"name":"db","image":"postgres"}]}}}}`)
		}
		req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
			UID: "1", Kind: metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, Namespace: "shop",
			Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw},
		}}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				resp := bc.h.Handle(context.Background(), req)
				if !resp.Allowed || (len(resp.Patch) > 0) != bc.wantPatch {
					b.Fatalf("allowed %v, patch %s", resp.Allowed, resp.Patch)
				}
			}
		})
	}
}

// memReader serves SidecarProfiles and Namespaces from memory, without copies.
type memReader struct {
	profiles    []v1alpha1.SidecarProfile
	namespaces  map[string]corev1.Namespace
	quotas      []corev1.ResourceQuota
	limitRanges []corev1.LimitRange
	autoscalers []autoscalingv2.HorizontalPodAutoscaler
}

func (m memReader) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return fmt.Errorf("memReader: cannot get a %T", obj)
	}
	*ns = m.namespaces[key.Name]
	return nil
}

func (m memReader) List(_ context.Context, list client.ObjectList, _ ...client.ListOption) error {
	switch l := list.(type) {
	case *v1alpha1.SidecarProfileList:
		l.Items = m.profiles
	case *v1alpha1.ClusterSidecarProfileList:
		l.Items = nil
	case *corev1.ResourceQuotaList:
		l.Items = m.quotas
	case *corev1.LimitRangeList:
		l.Items = m.limitRanges
	case *autoscalingv2.HorizontalPodAutoscalerList:
		l.Items = m.autoscalers
	default:
		return fmt.Errorf("memReader: cannot list %T", list)
	}
	return nil
}
