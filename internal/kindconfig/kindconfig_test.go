package kindconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/outrigger-dev/outrigger/internal/workload"
)

const cloneSet = `{group: apps.kruise.io, version: v1alpha1, kind: CloneSet, resource: clonesets, podTemplatePath: spec.template, podSelectorPath: spec.selector}`

func TestLoad(t *testing.T) {
	for _, tc := range []struct {
		name  string
		file  string
		kinds []string // the kinds served
		errs  []string // substrings of each error, in order
	}{
		{"one good entry", "kinds: [" + cloneSet + "]", []string{"CloneSet"}, nil},
		{"a bad entry does not stop the others", "kinds:\n- " + cloneSet + "\n- {group: example.com, version: v1, kind: Widget, resource: Widgets, podTemplatePath: spec..template, rollout: argo}",
			[]string{"CloneSet"}, []string{`kinds[1] (example.com/v1 Widget) in `, `resource: "Widgets" is not a resource name (the plural, lower case: clonesets)`,
				`podTemplatePath: "spec..template" is not a field path (spec.template)`, `rollout: "argo" is not a rollout reading: kstatus is the one there is`, "the other kinds are served"}},
		{"named like a built-in kind", "kinds: [{group: example.com, version: v1, kind: Deployment, resource: deployments, podTemplatePath: spec.template}]",
			nil, []string{"kind: Deployment is already a built-in kind, and profiles name kinds by kind alone"}},
		{"twice", "kinds: [" + cloneSet + ", " + cloneSet + "]", []string{"CloneSet"}, []string{"kinds[1]", "kind: CloneSet is already kinds[0]"}},
		{"an unknown field", "kinds: [{group: apps.kruise.io, version: v1alpha1, kind: CloneSet, resource: clonesets, templatePath: spec.template}]",
			nil, []string{`unknown field "templatePath"`, "the file is {kinds: [{group, version, kind, resource, podTemplatePath"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kinds.yaml")
			if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			kinds, errs := Load(path, workload.All)
			var names []string
			for _, k := range kinds {
				names = append(names, string(k.Name))
			}
			if strings.Join(names, ",") != strings.Join(tc.kinds, ",") {
				t.Errorf("kinds %v, want %v", names, tc.kinds)
			}
			if len(tc.errs) == 0 && len(errs) > 0 {
				t.Fatalf("errors %v", errs)
			}
			if len(tc.errs) > 0 && len(errs) != 1 {
				t.Fatalf("errors %v, want one", errs)
			}
			for _, want := range tc.errs {
				if !strings.Contains(errs[0].Error(), want) {
					t.Errorf("error %q does not say %q", errs[0], want)
				}
			}
		})
	}
}

func TestCheckSchema(t *testing.T) {
	object := func(props map[string]apiextensionsv1.JSONSchemaProps) apiextensionsv1.JSONSchemaProps {
		return apiextensionsv1.JSONSchemaProps{Type: "object", Properties: props}
	}
	template := object(map[string]apiextensionsv1.JSONSchemaProps{
		"metadata": {Type: "object"},
		"spec":     object(map[string]apiextensionsv1.JSONSchemaProps{"containers": {Type: "array"}}),
	})
	crd := func(version string, spec apiextensionsv1.JSONSchemaProps) *apiextensionsv1.CustomResourceDefinition {
		root := object(map[string]apiextensionsv1.JSONSchemaProps{"spec": spec})
		return &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: "clonesets.apps.kruise.io"},
			Spec: apiextensionsv1.CustomResourceDefinitionSpec{Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: version, Served: true, Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &root}}}}}
	}
	crdWith := func(spec apiextensionsv1.JSONSchemaProps) *apiextensionsv1.CustomResourceDefinition {
		return crd("v1alpha1", spec)
	}
	kind := func(path string) Kind {
		k, err := Entry{Group: "apps.kruise.io", Version: "v1alpha1", Kind: "CloneSet", Resource: "clonesets", PodTemplatePath: path}.kind()
		if err != nil {
			t.Fatal(err)
		}
		return Kind{Kind: k}
	}
	for _, tc := range []struct {
		name string
		crd  *apiextensionsv1.CustomResourceDefinition
		kind Kind
		want string
	}{
		{"a pod template", crdWith(object(map[string]apiextensionsv1.JSONSchemaProps{"template": template})), kind("spec.template"), ""},
		{"unknown fields kept on the way", crdWith(apiextensionsv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: ptr.To(true)}), kind("spec.template"), ""},
		{"a path the schema does not have", crdWith(object(map[string]apiextensionsv1.JSONSchemaProps{"template": template})), kind("spec.tmpl"),
			"podTemplatePath: the CRD clonesets.apps.kruise.io (v1alpha1) has no field tmpl on the way to spec.tmpl: correct the path"},
		{"not a pod template", crdWith(object(map[string]apiextensionsv1.JSONSchemaProps{"template": template})), kind("spec"),
			"podTemplatePath: spec is not a pod template in the CRD clonesets.apps.kruise.io (v1alpha1): it has no spec.containers"},
		{"a version not served", crd("v1beta1", template), kind("spec.template"), "version: the CRD clonesets.apps.kruise.io does not serve v1alpha1: configure a version it serves"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckSchema(tc.crd, tc.kind)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("CheckSchema: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("CheckSchema: %v, want %q", err, tc.want)
			}
		})
	}
}
