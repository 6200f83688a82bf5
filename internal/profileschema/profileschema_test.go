package profileschema_test

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/outrigger-dev/outrigger/internal/profileschema"
)

func object(t *testing.T, text string) map[string]any {
	t.Helper()
	var obj map[string]any
	if err := utiljson.Unmarshal([]byte(text), &obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

func TestCreate_DefaultsAsTheAPIServerStores(t *testing.T) {
	s, err := profileschema.For("SidecarProfile")
	if err != nil {
		t.Fatal(err)
	}
	obj := object(t, `{"apiVersion": "sidecars.outrigger.dev/v1alpha1", "kind": "SidecarProfile", "metadata": {"name": "p"},
		"spec": {"selector": {}, "sidecars": [{"name": "proxy", "image": "proxy:1", "ports": [{"containerPort": 8080}]}]},
		"status": {"matched": 3}}`)
	unknown, errs := s.Create(context.Background(), obj, "shop")
	if len(unknown) > 0 || len(errs) > 0 {
		t.Fatalf("unknown %v, errors %v", unknown, errs)
	}
	u := unstructured.Unstructured{Object: obj}
	if u.GetNamespace() != "shop" {
		t.Errorf("namespace = %q, want the request's", u.GetNamespace())
	}
	for path, want := range map[string]any{
		"spec.placement": "BeforeInitContainers", "spec.updatePolicy": "Rollout", "spec.order": int64(0),
	} {
		got, _, _ := unstructured.NestedFieldNoCopy(obj, strings.Split(path, ".")...)
		if got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	ports, _, _ := unstructured.NestedSlice(obj, "spec", "sidecars")
	if p := ports[0].(map[string]any)["ports"].([]any)[0].(map[string]any); p["protocol"] != "TCP" {
		t.Errorf("port = %v, want protocol TCP", p)
	}
	if _, ok := obj["status"]; ok {
		t.Error("status was kept: a create cannot set it")
	}
}

func TestCreate_RefusesAsTheAPIServerDoes(t *testing.T) {
	for _, tc := range []struct {
		name, kind, spec string
		unknown, want    []string
	}{
		{"CEL rule", "SidecarProfile", `{"selector": {}, "sidecars": [{"name": "Bad_Name", "image": "x"}]}`, nil,
			[]string{"spec.sidecars[0].name: Invalid value: name must be a DNS label"}},
		{"Required field blocks the CEL rules", "SidecarProfile", `{"sidecars": [{"name": "Bad_Name", "image": "x"}]}`, nil,
			[]string{"spec.selector: Required value", "some validation rules were not checked"}},
		{"Enum", "ClusterSidecarProfile", `{"selector": {}, "placement": "Middle", "sidecars": [{"name": "a", "image": "x"}]}`, nil,
			[]string{`spec.placement: Unsupported value: "Middle": supported values: "BeforeInitContainers", "AfterInitContainers"`}},
		{"List map keys", "SidecarProfile", `{"selector": {}, "sidecars": [{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]}`, nil,
			[]string{`spec.sidecars[1]: Duplicate value: {"name":"a"}`}},
		{"Unknown fields", "SidecarProfile", `{"selector": {}, "namespaceSelector": {}, "sidecars": [{"name": "a", "image": "x", "colour": "red"}]}`,
			[]string{"spec.namespaceSelector", "spec.sidecars[0].colour"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := profileschema.For(tc.kind)
			if err != nil {
				t.Fatal(err)
			}
			obj := object(t, `{"apiVersion": "sidecars.outrigger.dev/v1alpha1", "kind": "`+tc.kind+`", "metadata": {"name": "p"}, "spec": `+tc.spec+`}`)
			unknown, errs := s.Create(context.Background(), obj, "default")
			if strings.Join(unknown, ",") != strings.Join(tc.unknown, ",") {
				t.Errorf("unknown = %v, want %v", unknown, tc.unknown)
			}
			got := errs.ToAggregate()
			for _, w := range tc.want {
				if got == nil || !strings.Contains(got.Error(), w) {
					t.Errorf("errors = %v\nwant %q", got, w)
				}
			}
			if len(tc.want) == 0 && got != nil {
				t.Errorf("errors = %v", got)
			}
		})
	}
}

func TestFor_UnknownKind(t *testing.T) {
	if _, err := profileschema.For("Deployment"); err == nil {
		t.Error("a schema for Deployment")
	}
}
