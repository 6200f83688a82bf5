package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/catalog"
)

// malformedProfile selects every workload of namespace shop, so that every well-formed request would be patched.
var malformedProfile = &v1alpha1.SidecarProfile{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "all"},
	Spec: v1alpha1.SidecarProfileSpec{Selector: &metav1.LabelSelector{},
		Sidecars: []v1alpha1.Sidecar{{Container: corev1.Container{Name: "proxy", Image: "proxy:1"}}}}}

// review wraps a request in an AdmissionReview body as the apiserver sends it.
func review(kind, op, object string) string {
	return `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1",` +
		`"kind":{"group":"apps","version":"v1","kind":"` + kind + `"},"operation":"` + op + `","namespace":"shop","object":` + object + `}}`
}

// Malformed HTTP bodies, sent to the handler the manager serves (admission.Webhook over the Injector, panic
// recovery off so that a panic fails the test). The envelope is controller-runtime's to read: what it cannot
// read gets a 400 with the reason (the apiserver never sends such a body; failurePolicy Ignore covers a webhook
// that cannot answer). What is inside the envelope is the Injector's: it never refuses and never patches what
// it cannot read, and it says why in a warning.
func TestInjector_MalformedHTTPRequests(t *testing.T) {
	hook := (&admission.Webhook{Handler: &Injector{Catalog: catalogOf(t, malformedProfile)}}).WithRecoverPanic(false)
	huge := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","annotations":{"big":"` + strings.Repeat("x", 8<<20) + `"}}}`
	for _, tc := range []struct {
		name, body, contentType string
		// allowed, or else the refusal's message contains wantError; a warning contains wantWarning.
		allowed                bool
		wantError, wantWarning string
		wantPatch              bool
	}{
		{name: "empty body", body: "", wantError: "request body is empty"},
		{name: "not JSON", body: "hello", wantError: "couldn't get version/kind"},
		{name: "truncated JSON", body: review("Deployment", "CREATE", `{"spec":{"template":`)[:90], wantError: "unexpected end of JSON input"},
		{name: "wrong content type", body: review("Deployment", "CREATE", rawDeployment), contentType: "text/plain", wantError: "expected application/json"},
		{name: "JSON null", body: "null", allowed: true},                                          // an empty review: no kind, nothing to inject
		{name: "not an AdmissionReview", body: `{"apiVersion":"v1","kind":"Pod"}`, allowed: true}, // read as an empty review
		{name: "huge body", body: review("Deployment", "CREATE", huge), wantError: "request entity is too large"},
		{name: "review without a request", body: `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, allowed: true},
		{name: "request null", body: `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":null}`, allowed: true},
		{name: "v1beta1 review", body: strings.Replace(review("Deployment", "CREATE", rawDeployment), "admission.k8s.io/v1", "admission.k8s.io/v1beta1", 1),
			allowed: true, wantPatch: true},
		{name: "missing uid", body: strings.Replace(review("Deployment", "CREATE", rawDeployment), `"uid":"u1",`, "", 1), allowed: true, wantPatch: true},
		{name: "object not JSON", body: review("Deployment", "CREATE", `"not an object"`), allowed: true, wantWarning: "cannot read the Deployment"},
		{name: "object null", body: review("Deployment", "CREATE", "null"), allowed: true, wantWarning: "cannot read the Deployment"},
		{name: "object missing", body: strings.Replace(review("Deployment", "CREATE", "null"), `,"object":null`, "", 1), allowed: true,
			wantWarning: "cannot read the Deployment"},
		{name: "a Pod", body: review("Pod", "CREATE", `{"apiVersion":"v1","kind":"Pod","spec":{"containers":[]}}`), allowed: true},
		{name: "unknown operation", body: review("Deployment", "TOUCH", rawDeployment), allowed: true, wantPatch: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, MutateWorkloadsPath, strings.NewReader(tc.body))
			if tc.body == "" {
				req = httptest.NewRequest(http.MethodPost, MutateWorkloadsPath, http.NoBody)
			}
			ct := tc.contentType
			if ct == "" {
				ct = "application/json"
			}
			req.Header.Set("Content-Type", ct)
			rec := httptest.NewRecorder()
			hook.ServeHTTP(rec, req)
			var got admissionv1.AdmissionReview
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.Response == nil {
				t.Fatalf("the answer is no AdmissionReview with a response (%v): %q", err, rec.Body.String())
			}
			checkAnswer(t, got.Response, tc.allowed, tc.wantError, tc.wantWarning, tc.wantPatch)
		})
	}
}

// Malformed requests given straight to Injector.Handle: wrong kinds, objects that are not the kind they claim,
// templates missing, null or of the wrong type, a broken injection record. Every one is allowed; what cannot be
// injected is not patched and has a warning that says why. Each row that was a bug names it.
func TestInjector_MalformedRequests(t *testing.T) {
	h := &Injector{Catalog: catalogOf(t, malformedProfile)}
	gvk := func(group, version, kind string) metav1.GroupVersionKind {
		return metav1.GroupVersionKind{Group: group, Version: version, Kind: kind}
	}
	deployment := gvk("apps", "v1", "Deployment")
	for _, tc := range []struct {
		name   string
		kind   metav1.GroupVersionKind
		op     admissionv1.Operation
		object string
		// wantWarning is a substring of the one warning; wantPatch says the request is injected.
		wantWarning string
		wantPatch   bool
	}{
		{name: "well-formed Deployment", kind: deployment, object: rawDeployment, wantPatch: true},
		{name: "no object", kind: deployment, object: "", wantWarning: "cannot read the Deployment"},
		{name: "truncated object", kind: deployment, object: rawDeployment[:120], wantWarning: "cannot read the Deployment"},
		{name: "object is a string", kind: deployment, object: `"web"`, wantWarning: "cannot read the Deployment"},
		{name: "spec of the wrong type", kind: deployment, object: `{"spec":42}`, wantWarning: "cannot read the Deployment"},
		{name: "containers of the wrong type", kind: deployment, object: `{"spec":{"template":{"metadata":{},"spec":{"containers":{"name":"app"}}}}}`,
			wantWarning: "cannot read the Deployment"},
		// Found by FuzzInjector: the patch added under a template, metadata or spec the raw object does not
		// have, which the apiserver cannot apply (failing the request whatever the failurePolicy).
		{name: "object null", kind: deployment, object: "null", wantWarning: "pod template at /spec/template is missing or not an object"},
		{name: "template null", kind: deployment, object: `{"metadata":{"name":"web"},"spec":{"template":null}}`,
			wantWarning: "pod template at /spec/template is missing or not an object"},
		{name: "template missing", kind: deployment, object: `{"metadata":{"name":"web"},"spec":{}}`,
			wantWarning: "pod template at /spec/template is missing or not an object"},
		{name: "template metadata missing", kind: deployment, object: `{"metadata":{"name":"web"},"spec":{"template":{"spec":{"containers":[{"name":"app","image":"x"}]}}}}`,
			wantWarning: "pod template at /spec/template is missing or not an object"},
		{name: "CronJob without a jobTemplate", kind: gvk("batch", "v1", "CronJob"), object: `{"metadata":{"name":"nightly"},"spec":{"schedule":"@daily"}}`,
			wantWarning: "pod template at /spec/jobTemplate/spec/template is missing or not an object"},
		{name: "template of the wrong type", kind: deployment, object: `{"spec":{"template":"x"}}`, wantWarning: "cannot read the Deployment"},
		{name: "broken injection record", kind: deployment, object: `{"spec":{"template":{"metadata":{"annotations":{"` + v1alpha1.InjectionAnnotation + `":"{"}},"spec":{}}}}`,
			wantWarning: "annotation " + v1alpha1.InjectionAnnotation + " on the pod template is not valid"},
		{name: "a Job that claims to be a Deployment", kind: deployment,
			object:    `{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"j"},"spec":{"template":{"metadata":{},"spec":{"containers":[{"name":"app","image":"x"}]}}}}`,
			wantPatch: true}, // read as a Deployment, whose template is at the same path: harmless
		{name: "a Deployment that claims to be a CronJob", kind: gvk("batch", "v1", "CronJob"), object: rawDeployment,
			wantWarning: "pod template at /spec/jobTemplate/spec/template is missing"},
		{name: "kind unknown", kind: gvk("apps", "v1", "StatefulSet"), object: rawDeployment},
		{name: "kind empty", kind: metav1.GroupVersionKind{}, object: rawDeployment},
		{name: "wrong API version", kind: gvk("apps", "v1beta1", "Deployment"), object: rawDeployment, wantPatch: true}, // the webhook configuration decides the versions sent
		{name: "Job update", kind: gvk("batch", "v1", "Job"), op: admissionv1.Update, object: rawDeployment},
		{name: "Deployment delete, no object", kind: deployment, op: admissionv1.Delete, object: "", wantWarning: "cannot read the Deployment"},
		{name: "namespace only in the URL", kind: deployment, object: strings.Replace(rawDeployment, `"namespace": "shop", `, "", 1), wantPatch: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op := tc.op
			if op == "" {
				op = admissionv1.Create
			}
			var raw []byte
			if tc.object != "" {
				raw = []byte(tc.object)
			}
			resp := h.Handle(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
				UID: "u1", Kind: tc.kind, Namespace: "shop", Operation: op, Object: runtime.RawExtension{Raw: raw},
			}})
			checkAnswer(t, &resp.AdmissionResponse, true, "", tc.wantWarning, tc.wantPatch)
			if tc.wantPatch {
				if _, err := applyPatch(resp.Patch, raw); err != nil {
					t.Errorf("the patch does not apply to the object: %v\n%s", err, resp.Patch)
				}
			}
		})
	}
}

// checkAnswer checks a response: allowed (or refused with wantError in its message), with a warning containing
// wantWarning if set (and then none else), and a patch exactly when wantPatch.
func checkAnswer(t *testing.T, resp *admissionv1.AdmissionResponse, allowed bool, wantError, wantWarning string, wantPatch bool) {
	t.Helper()
	if resp.Allowed != allowed {
		t.Fatalf("allowed = %v, want %v: %+v", resp.Allowed, allowed, resp)
	}
	if !allowed {
		if resp.Result == nil || !strings.Contains(resp.Result.Message, wantError) {
			t.Errorf("the refusal does not say %q: %+v", wantError, resp.Result)
		}
		if resp.Result != nil && resp.Result.Code < 400 {
			t.Errorf("a refusal with code %d", resp.Result.Code)
		}
	}
	if wantWarning != "" && (len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], wantWarning)) {
		t.Errorf("warnings = %q, want one containing %q", resp.Warnings, wantWarning)
	}
	if wantWarning == "" && len(resp.Warnings) > 0 {
		t.Errorf("unexpected warnings: %q", resp.Warnings)
	}
	if (len(resp.Patch) > 0) != wantPatch {
		t.Errorf("patch = %s, want a patch: %v", resp.Patch, wantPatch)
	}
	if len(resp.Patch) > 0 && !bytes.HasPrefix(resp.Patch, []byte("[")) {
		t.Errorf("the patch is not a JSON patch: %s", resp.Patch)
	}
}

// catalogOf is a catalog of the profiles, in memory.
func catalogOf(t *testing.T, profiles ...*v1alpha1.SidecarProfile) catalog.Catalog {
	t.Helper()
	r := fuzzReader{}
	for _, p := range profiles {
		r.local = append(r.local, *p)
	}
	return catalog.Catalog{Reader: r}
}
