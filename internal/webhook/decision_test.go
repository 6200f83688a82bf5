package webhook

import (
	"context"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/metrics"
	"github.com/outrigger-dev/outrigger/internal/selection"
)

// deploymentJSON is a Deployment of namespace ns with the labels and the pod spec given as JSON.
func deploymentJSON(ns, labels, podSpec string) string {
	return `{"apiVersion": "apps/v1", "kind": "Deployment",
  "metadata": {"name": "web", "namespace": "` + ns + `", "labels": ` + labels + `},
  "spec": {"selector": {"matchLabels": {"app": "web"}},
    "template": {"metadata": {"labels": {"app": "web"}}, "spec": ` + podSpec + `}}}`
}

const appOnly = `{"containers": [{"name": "app", "image": "busybox"}]}`

// injectedDeployment is rawDeployment as the webhook injected it with logsProfile.
func injectedDeployment(t *testing.T) string {
	t.Helper()
	h := &Injector{Catalog: catalogOf(t, logsProfile())}
	resp := h.Handle(context.Background(), admissionRequest("apps", "Deployment", admissionv1.Create, rawDeployment))
	out, err := applyPatch(resp.Patch, []byte(rawDeployment))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func admissionRequest(group, kind string, op admissionv1.Operation, object string) admission.Request {
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Kind: metav1.GroupVersionKind{Group: group, Version: "v1", Kind: kind}, Namespace: "shop",
		Operation: op, Object: runtime.RawExtension{Raw: []byte(object)},
	}}
}

func TestInjector_CountsEachDecisionByKindOutcomeAndReason(t *testing.T) {
	missingVolume := logsProfile()
	missingVolume.Spec.Volumes = nil // the sidecar mounts "data", which nothing declares
	everywhere := &v1alpha1.ClusterSidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: "mesh"},
		Spec: v1alpha1.ClusterSidecarProfileSpec{SidecarProfileSpec: v1alpha1.SidecarProfileSpec{
			Sidecars: []v1alpha1.Sidecar{{Container: corev1.Container{Name: "proxy", Image: "envoy"}}}}}}
	for _, tc := range []struct {
		name      string
		profiles  []*v1alpha1.SidecarProfile
		cluster   *v1alpha1.ClusterSidecarProfile
		protected selection.Protected
		req       admission.Request
		outcome   metrics.Outcome
		reason    metrics.Reason
	}{
		{name: "a selected Deployment is injected", profiles: []*v1alpha1.SidecarProfile{logsProfile()},
			req: admissionRequest("apps", "Deployment", admissionv1.Create, rawDeployment), outcome: metrics.Injected},
		{name: "an injected Deployment updated is unchanged", profiles: []*v1alpha1.SidecarProfile{logsProfile()},
			req: admissionRequest("apps", "Deployment", admissionv1.Update, injectedDeployment(t)), outcome: metrics.Unchanged},
		{name: "a Deployment no profile selects is skipped", profiles: []*v1alpha1.SidecarProfile{logsProfile()},
			req:     admissionRequest("apps", "Deployment", admissionv1.Create, deploymentJSON("shop", `{"app": "other"}`, appOnly)),
			outcome: metrics.Skipped, reason: metrics.NoProfile},
		{name: "an opted-out Deployment is skipped", profiles: []*v1alpha1.SidecarProfile{logsProfile()},
			req: admissionRequest("apps", "Deployment", admissionv1.Create,
				deploymentJSON("shop", `{"app": "web", "sidecars.outrigger.dev/inject": "disabled"}`, appOnly)),
			outcome: metrics.Skipped, reason: metrics.OptedOut},
		{name: "a Deployment of a protected namespace is skipped", cluster: everywhere, protected: selection.ProtectedNamespaces("shop"),
			req:     admissionRequest("apps", "Deployment", admissionv1.Create, deploymentJSON("shop", `{"app": "web"}`, appOnly)),
			outcome: metrics.Skipped, reason: metrics.ProtectedNamespace},
		{name: "a Deployment whose container has the sidecar's name is a conflict", profiles: []*v1alpha1.SidecarProfile{logsProfile()},
			req: admissionRequest("apps", "Deployment", admissionv1.Create, deploymentJSON("shop", `{"app": "web"}`,
				`{"containers": [{"name": "logshipper", "image": "busybox"}]}`)),
			outcome: metrics.Conflict, reason: metrics.NameConflict},
		{name: "a profile mounting an undeclared volume is a conflict", profiles: []*v1alpha1.SidecarProfile{missingVolume},
			req:     admissionRequest("apps", "Deployment", admissionv1.Create, rawDeployment),
			outcome: metrics.Conflict, reason: metrics.MissingVolume},
		{name: "a Job update is skipped", profiles: []*v1alpha1.SidecarProfile{logsProfile()},
			req:     admissionRequest("batch", "Job", admissionv1.Update, `{}`),
			outcome: metrics.Skipped, reason: metrics.TemplateImmutable},
		{name: "a kind not served is skipped",
			req:     admissionRequest("", "Pod", admissionv1.Create, `{}`),
			outcome: metrics.Skipped, reason: metrics.KindNotServed},
		{name: "a Rollout without a template is skipped",
			req: admissionRequest("argoproj.io", "Rollout", admissionv1.Create,
				`{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "web", "namespace": "shop"},
				  "spec": {"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}}}`),
			outcome: metrics.Skipped, reason: metrics.NoPodTemplate},
		{name: "an object that cannot be read is an error",
			req:     admissionRequest("apps", "Deployment", admissionv1.Create, `{"spec": 42}`),
			outcome: metrics.Error},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cat := catalogOf(t, tc.profiles...)
			if tc.cluster != nil {
				r := cat.Reader.(fuzzReader)
				r.cluster = append(r.cluster, *tc.cluster)
				cat.Reader = r
			}
			cat.Protected = tc.protected
			h := metrics.InstrumentAdmission(&Injector{Catalog: cat})
			kind := tc.req.Kind.Kind
			before, beforeCount := decisionCounts(t), handled(t, kind)
			h.Handle(context.Background(), tc.req)
			after := decisionCounts(t)
			decided := kind + "/" + string(tc.outcome) + "/" + string(tc.reason)
			if _, ok := after[decided]; !ok {
				t.Errorf("no series %s", decided)
			}
			for key, n := range after {
				want := before[key]
				if key == decided {
					want++
				}
				if n != want {
					t.Errorf("%s: %v, want %v", key, n, want)
				}
			}
			if got := handled(t, kind); got != beforeCount+1 {
				t.Errorf("%s observed %d times in the histogram, want %d", kind, got, beforeCount+1)
			}
		})
	}
}

// decisionCounts reads outrigger_admission_decisions_total from the registry the manager serves, by
// "kind/outcome/reason".
func decisionCounts(t *testing.T) map[string]float64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != metrics.AdmissionDecisions {
			continue
		}
		for _, m := range f.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			out[strings.Join([]string{l["kind"], l["outcome"], l["reason"]}, "/")] = m.GetCounter().GetValue()
		}
	}
	return out
}

// handled is the count of the admission duration histogram of a kind.
func handled(t *testing.T, kind string) uint64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != metrics.AdmissionDuration {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, p := range m.GetLabel() {
				if p.GetName() == "kind" && p.GetValue() == kind {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}
