package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	jsonpatchv4 "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/catalog"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// FuzzInjector feeds the mutating webhook two things per input and checks that it never panics:
//
//	(a) body, as the raw HTTP body of an AdmissionReview, through controller-runtime's admission.Webhook (with
//	    panic recovery off, so a panic fails the test): the answer is always an AdmissionReview with a response,
//	    and a patch in it applies to the request's object;
//	(b) a request built from choices: a Deployment, Job or CronJob as JSON, often malformed in one place (the
//	    template null, missing or of the wrong type, fields of the wrong type, unknown fields, a broken
//	    injection annotation), with 0-3 profiles read through a fake client. When the webhook patches, the
//	    patch applies to the raw object, the result decodes as the kind, and its pod template is what the
//	    engine computes directly (inject.Inject with the catalog's input), with the profiles the webhook held
//	    back (a sidecar mount of a volume the pod lacks) left KeepOnly; and the patched object, sent again as an
//	    update, needs no further patch.
func FuzzInjector(f *testing.F) {
	for _, seed := range []struct {
		body    string
		choices []byte
	}{
		{"", nil},
		{"not json", []byte("outrigger injects native sidecars")},
		{`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","kind":{"group":"apps","version":"v1","kind":"Deployment"},"operation":"CREATE","namespace":"shop","object":` + rawDeployment + `}}`,
			[]byte{1, 0, 0, 1, 2, 1, 0, 1, 1, 0, 2, 1, 0, 3, 1, 1}},
		{`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"2","kind":{"group":"batch","version":"v1","kind":"Job"},"operation":"CREATE","object":{"spec":{"template":null}}}}`,
			[]byte{2, 3, 0, 0, 1, 5, 5, 1, 2, 3}},
		{`{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"kind":{"kind":"CronJob"},"object":{"spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"app"}]}}}}}}}}`,
			[]byte(strings.Repeat("\x02\x01\x03", 30))},
		{`{"request":{"kind":{"kind":"Deployment"},"object":{"spec":{"template":"x"}}}}`, []byte(strings.Repeat("\xff\x80\x07\x11", 20))},
		{`{"request":{"kind":{"kind":"Deployment"},"object":`, []byte{0, 7, 7, 7, 7, 7, 7, 7}},
		{`{"request":null}`, []byte{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
	} {
		f.Add([]byte(seed.body), seed.choices)
	}
	hook := fuzzWebhook(f)
	f.Fuzz(func(t *testing.T, body, choices []byte) {
		checkHTTP(t, hook, body)
		checkRequest(t, &fuzzChoices{data: choices})
	})
}

// fuzzWebhook is the Injector as the manager serves it, with panic recovery off and one profile that selects
// every workload in namespace shop.
func fuzzWebhook(tb testing.TB) *admission.Webhook {
	p := &v1alpha1.SidecarProfile{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "all"},
		Spec: v1alpha1.SidecarProfileSpec{Selector: &metav1.LabelSelector{},
			Sidecars: []v1alpha1.Sidecar{{Container: corev1.Container{Name: "proxy", Image: "proxy:1"}}}}}
	return (&admission.Webhook{Handler: &Injector{Catalog: catalog.Catalog{Reader: fakeReader(tb, p)}}}).WithRecoverPanic(false)
}

// fakeReader serves the profiles and namespace shop, labelled team=a: a small in-memory reader, since a fake
// client per input would cost most of the fuzzer's time.
func fakeReader(tb testing.TB, objs ...client.Object) client.Reader {
	tb.Helper()
	r := fuzzReader{}
	for _, o := range objs {
		switch p := o.(type) {
		case *v1alpha1.SidecarProfile:
			r.local = append(r.local, *p)
		case *v1alpha1.ClusterSidecarProfile:
			r.cluster = append(r.cluster, *p)
		default:
			tb.Fatalf("fuzzReader cannot serve a %T", o)
		}
	}
	return r
}

// fuzzReader answers the catalog's reads: Get of namespace shop, List of the profiles (namespace shop only).
type fuzzReader struct {
	local   []v1alpha1.SidecarProfile
	cluster []v1alpha1.ClusterSidecarProfile
}

func (r fuzzReader) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	ns, ok := obj.(*corev1.Namespace)
	if !ok || key.Name != "shop" {
		return apierrors.NewNotFound(corev1.Resource("namespaces"), key.Name)
	}
	*ns = corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"team": "a"}}}
	return nil
}

func (r fuzzReader) List(_ context.Context, list client.ObjectList, opts ...client.ListOption) error {
	var o client.ListOptions
	o.ApplyOptions(opts)
	switch l := list.(type) {
	case *v1alpha1.SidecarProfileList:
		l.Items = nil
		if o.Namespace == "" || o.Namespace == "shop" {
			for _, p := range r.local {
				l.Items = append(l.Items, *p.DeepCopy())
			}
		}
	case *v1alpha1.ClusterSidecarProfileList:
		l.Items = nil
		for _, p := range r.cluster {
			l.Items = append(l.Items, *p.DeepCopy())
		}
	default:
		return fmt.Errorf("fuzzReader cannot list %T", list)
	}
	return nil
}

// serve posts body to the webhook and decodes its answer, which must always be an AdmissionReview with a
// response.
func serve(t *testing.T, hook http.Handler, body []byte) admissionv1.AdmissionReview {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, MutateWorkloadsPath, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	hook.ServeHTTP(rec, req)
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &review); err != nil || review.Response == nil {
		t.Fatalf("the answer is not an AdmissionReview with a response (%v): %q", err, rec.Body.String())
	}
	return review
}

func checkHTTP(t *testing.T, hook http.Handler, body []byte) {
	review := serve(t, hook, body)
	resp := review.Response
	if !resp.Allowed && (resp.Result == nil || resp.Result.Message == "") {
		t.Fatalf("a refusal without a message: %+v", resp)
	}
	if len(resp.Patch) == 0 {
		return
	}
	var sent admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &sent); err != nil || sent.Request == nil {
		t.Fatalf("a patch for a body that is no AdmissionReview (%v): %s", err, resp.Patch)
	}
	if _, err := applyPatch(resp.Patch, sent.Request.Object.Raw); err != nil {
		t.Fatalf("the patch does not apply to the request's object: %v\nobject %s\npatch  %s", err, sent.Request.Object.Raw, resp.Patch)
	}
}

func applyPatch(patch, doc []byte) ([]byte, error) {
	p, err := jsonpatchv4.DecodePatch(patch)
	if err != nil {
		return nil, err
	}
	return p.Apply(doc)
}

// checkRequest builds a request and its profiles from choices and checks the webhook's answer against the
// engine's.
func checkRequest(t *testing.T, c *fuzzChoices) {
	kind := pick(c, workload.All)
	raw := c.workloadJSON(kind)
	profiles := c.profiles()
	op := admissionv1.Create
	if c.intn(3) == 0 {
		op = admissionv1.Update
	}
	h := &Injector{Catalog: catalog.Catalog{Reader: fakeReader(t, profiles...)}}
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: "fuzz", Kind: metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: string(kind.Name)},
		Namespace: "shop", Operation: op, Object: runtime.RawExtension{Raw: raw},
	}}
	resp := h.Handle(context.Background(), req)
	if !resp.Allowed {
		t.Fatalf("the webhook refused a request: %+v\nobject %s", resp.AdmissionResponse, raw)
	}
	want, wantErr := engineResult(t, h, kind, req, resp.Warnings)
	if kind.Immutable && op != admissionv1.Create {
		want, wantErr = nil, nil
	}
	if len(resp.Patch) == 0 {
		// The only excuse: the raw template has no metadata or spec to add to (see applies in mutate.go).
		if want != nil && templateShaped(raw, kind.TemplatePath) {
			t.Fatalf("no patch, but the engine injects:\nobject %s\nwant   %s\nwarnings %q", raw, dump(want), resp.Warnings)
		}
		return
	}
	if wantErr != nil || want == nil {
		t.Fatalf("a patch, but the engine says %v (no change: %v)\nobject %s\npatch %s", wantErr, want == nil, raw, resp.Patch)
	}
	out, err := applyPatch(resp.Patch, raw)
	if err != nil {
		t.Fatalf("the patch does not apply to the raw object: %v\nobject %s\npatch  %s", err, raw, resp.Patch)
	}
	obj := kind.NewObject()
	if err := json.Unmarshal(out, obj); err != nil {
		t.Fatalf("the patched object is not a %s: %v\n%s", kind.Name, err, out)
	}
	if got := templateOf(kind, obj); !equality.Semantic.DeepEqual(got, want) {
		t.Fatalf("the patched template is not the engine's:\nobject %s\npatch  %s\ngot    %s\nwant   %s", raw, resp.Patch, dump(got), dump(want))
	}
	// What the workload brought (its own broken mounts, a record claiming them) is its business; the patch
	// adds no mount of a missing volume.
	in := kind.NewObject()
	_ = json.Unmarshal(raw, in)
	had := missingMounts(templateOf(kind, in))
	for _, m := range missingMounts(templateOf(kind, obj)) {
		if !slices.Contains(had, m) {
			t.Fatalf("the patch adds a mount of a volume the pod does not declare: %s\n%s", m, dump(templateOf(kind, obj)))
		}
	}
	// Idempotent: the injected object, sent back as an update, needs nothing more.
	req.Operation, req.Object.Raw = admissionv1.Update, out
	if again := h.Handle(context.Background(), req); !kind.Immutable && len(again.Patch) > 0 {
		t.Fatalf("a second patch on the injected object: %s\nobject %s", again.Patch, out)
	}
}

// templateShaped says whether the raw object has a pod template at path whose metadata and spec are objects.
func templateShaped(raw []byte, path string) bool {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return false
	}
	for _, key := range strings.Split(strings.TrimPrefix(path, "/"), "/") {
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		v = m[key]
	}
	tmpl, ok := v.(map[string]any)
	if !ok {
		return false
	}
	_, metaOK := tmpl["metadata"].(map[string]any)
	_, specOK := tmpl["spec"].(map[string]any)
	return metaOK && specOK
}

// engineResult is the template the engine makes of the request's object (nil when nothing changes), computed
// without the webhook's code: the catalog's input, the profiles the webhook's warnings say it held back made
// KeepOnly, and inject.Inject.
func engineResult(t *testing.T, h *Injector, kind workload.Kind, req admission.Request, warnings []string) (*corev1.PodTemplateSpec, error) {
	obj := kind.NewObject()
	if err := json.Unmarshal(req.Object.Raw, obj); err != nil {
		return nil, err
	}
	if obj.GetNamespace() == "" {
		obj.SetNamespace(req.Namespace)
	}
	input, err := h.Catalog.EngineInput(context.Background(), kind, obj, catalog.Admission)
	if err != nil {
		return nil, err
	}
	for i, p := range input {
		if slices.ContainsFunc(warnings, func(w string) bool {
			return strings.HasPrefix(w, "Outrigger did not inject "+p.Ref.String()+": ") && strings.Contains(w, "mounts volume")
		}) {
			input[i].KeepOnly = true
		}
	}
	tmpl, err := kind.PodTemplate(obj) // a typed copy for a kind read as unstructured (an Argo Rollout)
	if none := (*workload.NoTemplateError)(nil); errors.As(err, &none) {
		return nil, nil // a Rollout with workloadRef: nothing to inject
	}
	if err != nil {
		return nil, err
	}
	res, err := inject.Inject(tmpl, input, kind.InjectOptions(obj)...)
	if err != nil || !res.Changed {
		return nil, err
	}
	return res.Template, nil
}

// templateOf is a workload's pod template, typed (a copy for a kind read as unstructured); nil when it has none.
func templateOf(kind workload.Kind, obj client.Object) *corev1.PodTemplateSpec {
	tmpl, _ := kind.PodTemplate(obj)
	return tmpl
}

// missingMounts lists the mounts of injected init containers whose volume the template does not declare.
func missingMounts(tmpl *corev1.PodTemplateSpec) []string {
	rec, err := inject.ReadRecord(tmpl)
	if err != nil {
		return []string{err.Error()}
	}
	vols := map[string]bool{}
	for _, v := range tmpl.Spec.Volumes {
		vols[v.Name] = true
	}
	var out []string
	for _, e := range rec.Profiles {
		for _, c := range tmpl.Spec.InitContainers {
			if !slices.Contains(e.InitContainers, c.Name) {
				continue
			}
			for _, m := range c.VolumeMounts {
				if !vols[m.Name] {
					out = append(out, c.Name+"/"+m.Name)
				}
			}
		}
	}
	return out
}

func dump(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// fuzzChoices turns fuzz bytes into choices; past the end every choice is 0.
type fuzzChoices struct {
	data []byte
	i    int
}

func (c *fuzzChoices) intn(n int) int {
	if c.i >= len(c.data) {
		return 0
	}
	c.i++
	return int(c.data[c.i-1]) % n
}

func pick[T any](c *fuzzChoices, from []T) T { return from[c.intn(len(from))] }

var (
	fuzzNames = []string{"a", "app", "data", "log", "proxy"}
	fuzzPaths = []string{"/a", "/data", "/log"}
)

// workloadJSON is an object of the kind: usually a well-formed one, often with one thing broken.
func (c *fuzzChoices) workloadJSON(kind workload.Kind) []byte {
	tmpl := c.template()
	var obj map[string]any
	switch kind.Name {
	case v1alpha1.KindCronJob:
		obj = map[string]any{"apiVersion": "batch/v1", "kind": "CronJob",
			"spec": map[string]any{"schedule": "* * * * *", "jobTemplate": map[string]any{"spec": map[string]any{"template": tmpl}}}}
	case v1alpha1.KindJob:
		obj = map[string]any{"apiVersion": "batch/v1", "kind": "Job", "spec": map[string]any{"template": tmpl}}
	default:
		obj = map[string]any{"apiVersion": "apps/v1", "kind": "Deployment",
			"spec": map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"app": "web"}}, "template": tmpl}}
	}
	obj["metadata"] = map[string]any{"name": "web", "labels": map[string]any{"app": pick(c, []string{"web", "other"})}}
	if c.intn(2) == 0 {
		obj["metadata"].(map[string]any)["namespace"] = "shop"
	}
	c.breakSomething(obj, kind)
	b, err := json.Marshal(obj)
	if err != nil {
		panic(err)
	}
	return b
}

// template is a pod template as JSON, with unknown fields the webhook must leave alone.
func (c *fuzzChoices) template() map[string]any {
	used := map[string]bool{}
	containers := func(n int) []any {
		var out []any
		for range n {
			name := pick(c, fuzzNames)
			if used[name] {
				continue
			}
			used[name] = true
			ctr := map[string]any{"name": name, "image": "img:1"}
			if c.intn(3) == 0 {
				ctr["volumeMounts"] = []any{map[string]any{"name": pick(c, fuzzNames), "mountPath": pick(c, fuzzPaths)}}
			}
			if c.intn(4) == 0 {
				ctr["futureField"] = map[string]any{"x": 1}
			}
			out = append(out, ctr)
		}
		return out
	}
	spec := map[string]any{"containers": containers(1 + c.intn(3))}
	if inits := containers(c.intn(3)); len(inits) > 0 {
		spec["initContainers"] = inits
	}
	var vols []any
	for _, n := range fuzzNames[:c.intn(4)] {
		vols = append(vols, map[string]any{"name": n, "emptyDir": map[string]any{}})
	}
	if len(vols) > 0 {
		spec["volumes"] = vols
	}
	meta := map[string]any{"labels": map[string]any{"app": "web"}}
	if c.intn(3) == 0 {
		meta["annotations"] = map[string]any{"team": "a"}
	}
	return map[string]any{"metadata": meta, "spec": spec}
}

// breakSomething makes one part of the object malformed, or nothing.
func (c *fuzzChoices) breakSomething(obj map[string]any, kind workload.Kind) {
	spec := obj["spec"].(map[string]any)
	if kind.Name == v1alpha1.KindCronJob {
		spec = spec["jobTemplate"].(map[string]any)["spec"].(map[string]any)
	}
	tmpl := spec["template"].(map[string]any)
	tspec := tmpl["spec"].(map[string]any)
	meta := tmpl["metadata"].(map[string]any)
	switch c.intn(14) {
	case 1:
		spec["template"] = nil
	case 2:
		delete(spec, "template")
	case 3:
		spec["template"] = pick(c, []any{"x", 42.0, []any{}, true})
	case 4:
		tmpl["spec"] = nil
	case 5:
		tspec["containers"] = nil
	case 6:
		tspec["initContainers"] = pick(c, []any{nil, "x", []any{nil}, []any{42.0}})
	case 7:
		tspec["volumes"] = pick(c, []any{nil, map[string]any{}, []any{map[string]any{}}})
	case 8:
		meta["annotations"] = map[string]any{v1alpha1.InjectionAnnotation: pick(c, []string{"", "{", "null", `{"profiles":[{"kind":"SidecarProfile","name":"p0","initContainers":["app"]}]}`})}
	case 9:
		tmpl["metadata"] = nil
	case 10:
		obj["metadata"] = pick(c, []any{nil, "x", map[string]any{"name": 42.0}})
	case 11:
		obj["spec"] = pick(c, []any{nil, "x", 42.0})
	case 12:
		tspec["futurePodField"] = []any{1.0, "two", nil}
	case 13:
		meta["labels"] = nil
	}
}

// profiles are 0-3 SidecarProfiles of namespace shop, valid for the CRD or not (a sidecar may mount a volume
// nobody declares), selecting the workload or not.
func (c *fuzzChoices) profiles() []client.Object {
	var out []client.Object
	for i := range c.intn(4) {
		spec := v1alpha1.SidecarProfileSpec{Selector: &metav1.LabelSelector{},
			Order:     int32(c.intn(3)) - 1,
			Placement: pick(c, []v1alpha1.Placement{"", v1alpha1.PlacementBeforeInitContainers, v1alpha1.PlacementAfterInitContainers})}
		switch c.intn(4) {
		case 1:
			spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
		case 2:
			spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"bad key!": "x"}} // unparseable
		case 3:
			spec.WorkloadKinds = []v1alpha1.WorkloadKind{pick(c, []v1alpha1.WorkloadKind{v1alpha1.KindDeployment, v1alpha1.KindJob, v1alpha1.KindCronJob})}
		}
		if c.intn(3) == 0 {
			spec.UpdatePolicy = v1alpha1.UpdatePolicyOnCreate
		}
		for range 1 + c.intn(2) {
			s := corev1.Container{Name: pick(c, fuzzNames), Image: "side:1"}
			if c.intn(2) == 0 {
				s.VolumeMounts = []corev1.VolumeMount{{Name: pick(c, fuzzNames), MountPath: pick(c, fuzzPaths)}}
			}
			spec.Sidecars = append(spec.Sidecars, v1alpha1.Sidecar{Container: s})
		}
		for range c.intn(3) {
			spec.Volumes = append(spec.Volumes, v1alpha1.ProfileVolume{Volume: corev1.Volume{Name: pick(c, fuzzNames),
				VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}})
		}
		if len(spec.Volumes) > 0 && c.intn(2) == 0 {
			spec.AppContainerMounts = []v1alpha1.AppContainerMount{{Name: spec.Volumes[0].Name, MountPath: pick(c, fuzzPaths)}}
		}
		out = append(out, &v1alpha1.SidecarProfile{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: fmt.Sprintf("p%d", i)}, Spec: spec})
	}
	return out
}
