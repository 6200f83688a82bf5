package offline

import (
	"context"
	"encoding/json"
	"testing"

	jsonpatchv4 "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/catalog"
	"github.com/outrigger-dev/outrigger/internal/webhook"
)

// The CLI's promise: every workload's pod template is the one the admission webhook gives it at creation. The
// webhook runs here on a fake cluster holding the same profiles and namespaces, and its patch is applied with
// the apiserver's JSON patch library.
func TestPredict_AgreesWithTheAdmissionWebhook(t *testing.T) {
	for _, tc := range []struct {
		name             string
		inputs, profiles []string
	}{
		{"Seed", []string{"../../test/testdata/seed/deployment-plain.yaml", "../../test/testdata/seed/job-plain.yaml"},
			[]string{"../../cmd/outrigger/testdata/logshipper-profile.yaml"}},
		{"GitOps", []string{"../../cmd/outrigger/testdata/gitops/manifests"}, []string{"../../cmd/outrigger/testdata/gitops/profiles"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inputs, err := (&Reader{}).Read(tc.inputs)
			if err != nil {
				t.Fatal(err)
			}
			profiles, err := (&Reader{}).Read(tc.profiles)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Predict(inputs, profiles, Options{Namespace: "default", OutriggerNamespace: "outrigger-system"})
			if err != nil {
				t.Fatal(err)
			}
			injector := &webhook.Injector{Catalog: catalog.Catalog{Reader: fakeCluster(t, append(inputs, profiles...))}}
			checked, injected := 0, 0
			for _, out := range res.Documents {
				kind, ok := workloadKind(out.Doc)
				if !ok || selectionSkips(out.Doc) {
					continue
				}
				want := admit(t, injector, kind.NewObject, out.Doc)
				got := kind.NewObject()
				if err := sigsyaml.Unmarshal(out.Text, got); err != nil {
					t.Fatal(err)
				}
				if !equality.Semantic.DeepEqual(kind.Template(got), kind.Template(want)) {
					g, _ := sigsyaml.Marshal(kind.Template(got))
					w, _ := sigsyaml.Marshal(kind.Template(want))
					t.Errorf("%s: the CLI gives\n%s\nthe webhook gives\n%s", out.Doc.Where(), g, w)
				}
				checked++
				if out.Changed {
					injected++
				}
			}
			if checked == 0 || injected == 0 {
				t.Fatalf("%d workloads checked, %d injected: the test checks nothing", checked, injected)
			}
		})
	}
}

// selectionSkips: the webhook configuration's objectSelector keeps opted-out workloads from the webhook.
func selectionSkips(d *Document) bool {
	return d.meta.Labels[v1alpha1.InjectLabel] == v1alpha1.InjectDisabled
}

// admit sends the workload to the webhook as the apiserver would (its own serialization, in a create request)
// and applies the answer.
func admit(t *testing.T, h *webhook.Injector, newObject func() client.Object, d *Document) client.Object {
	t.Helper()
	obj := newObject()
	if err := json.Unmarshal(d.json, obj); err != nil {
		t.Fatal(err)
	}
	if obj.GetNamespace() == "" {
		obj.SetNamespace("default")
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	resp := h.Handle(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Kind:      metav1.GroupVersionKind{Group: obj.GetObjectKind().GroupVersionKind().Group, Kind: d.meta.Kind},
		Operation: admissionv1.Create, Namespace: obj.GetNamespace(), Object: runtime.RawExtension{Raw: raw},
	}})
	if len(resp.Patch) > 0 {
		patch, err := jsonpatchv4.DecodePatch(resp.Patch)
		if err != nil {
			t.Fatal(err)
		}
		if raw, err = patch.Apply(raw); err != nil {
			t.Fatal(err)
		}
	}
	out := newObject()
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// fakeCluster holds the profiles (defaulted, as the apiserver stores them) and namespaces among docs, and every
// namespace a workload is in, with the labels the apiserver gives them.
func fakeCluster(t *testing.T, docs []*Document) client.Reader {
	t.Helper()
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	namespaces := map[string]map[string]string{"default": nil}
	var objs []client.Object
	for _, d := range docs {
		if d.meta.Namespace != "" && namespaces[d.meta.Namespace] == nil {
			namespaces[d.meta.Namespace] = nil
		}
		if d.meta.Kind == "Namespace" {
			namespaces[d.meta.Name] = d.meta.Labels
			continue
		}
		// The profiles as the apiserver stores them: defaulted.
		p, where, errs := decodeProfile(d, "default")
		if where == "" {
			continue
		}
		if p == nil {
			t.Fatalf("%s: %v", where, errs)
		}
		objs = append(objs, p.Profile)
	}
	for name, labels := range namespaces {
		l := map[string]string{corev1.LabelMetadataName: name}
		for k, v := range labels {
			l[k] = v
		}
		objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}})
	}
	return fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
}
