package controller

import (
	"context"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/outrigger-dev/outrigger/internal/kindconfig"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// A configured kind is served only when its CRD has a pod template where the configuration says; the error
// names the entry. A built-in kind, and a kind with no CRD to read (an aggregated API), are not checked.
func TestCheckConfigured(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	object := func(props map[string]apiextensionsv1.JSONSchemaProps) apiextensionsv1.JSONSchemaProps {
		return apiextensionsv1.JSONSchemaProps{Type: "object", Properties: props}
	}
	podSpec := object(map[string]apiextensionsv1.JSONSchemaProps{"containers": {Type: "array"}})
	root := object(map[string]apiextensionsv1.JSONSchemaProps{"spec": object(map[string]apiextensionsv1.JSONSchemaProps{
		"template": object(map[string]apiextensionsv1.JSONSchemaProps{"spec": podSpec})})})
	crd := &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: "clonesets.apps.kruise.io"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
			Name: "v1alpha1", Served: true, Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &root}}}}}
	configured := func(kind, resource, path string) kindconfig.Kind {
		gvk := schema.GroupVersionKind{Group: "apps.kruise.io", Version: "v1alpha1", Kind: kind}
		return kindconfig.Kind{Kind: workload.Custom(gvk, resource, path, "/spec/selector"), Entry: "kinds[0] (" + kind + ")"}
	}
	for _, tc := range []struct {
		name string
		kind kindconfig.Kind
		want string
	}{
		{"the template is where configured", configured("CloneSet", "clonesets", "/spec/template"), ""},
		{"the path is wrong", configured("CloneSet", "clonesets", "/spec/tmpl"),
			"kinds[0] (CloneSet): podTemplatePath: the CRD clonesets.apps.kruise.io (v1alpha1) has no field tmpl"},
		{"no CRD to read", configured("StatefulSet2", "statefulset2s", "/spec/template"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &setup{o: Options{Configured: []kindconfig.Kind{tc.kind}},
				crds: fake.NewClientBuilder().WithScheme(scheme).WithObjects(crd.DeepCopy()).Build()}
			err := s.checkConfigured(context.Background(), tc.kind.Kind)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("checkConfigured: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("checkConfigured: %v, want %q", err, tc.want)
			}
			if err := s.checkConfigured(context.Background(), workload.Deployment); err != nil {
				t.Errorf("a built-in kind: %v", err)
			}
		})
	}
}
