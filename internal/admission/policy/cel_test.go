package policy

import (
	"testing"

	"k8s.io/apimachinery/pkg/labels"
)

func TestLiteral(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   any
		want string
	}{
		{"string with quotes, escapes and HTML", "say \"hi\" \\ <all> & 'you'\n", `"say \"hi\" \\ <all> & 'you'\n"`},
		{"int", 8080, "8080"},
		{"bool and null", map[string]any{"a": true, "b": nil}, `{"a": dyn(true), "b": dyn(null)}`},
		{"a mixed map, keys sorted, values dyn", map[string]any{"name": "x", "ports": []any{map[string]any{"containerPort": 1}}},
			`{"name": dyn("x"), "ports": dyn([dyn({"containerPort": dyn(1)})])}`},
		{"empty list and map", map[string]any{"l": []any{}, "m": map[string]any{}}, `{"l": dyn([]), "m": dyn({})}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := literal(tc.in)
			if err != nil || got != tc.want {
				t.Errorf("literal = %s (%v), want %s", got, err, tc.want)
			}
		})
	}
}

func TestLabelSelector(t *testing.T) {
	for _, tc := range []struct {
		selector string
		want     string
	}{
		{"", "true"},
		{"app=web", `("app" in l && l["app"] in ["web"])`},
		{"app in (b,a)", `("app" in l && l["app"] in ["a", "b"])`},
		{"app!=web", `(!("app" in l) || !(l["app"] in ["web"]))`},
		{"tier", `("tier" in l)`},
		{"!tier,app=web", `("app" in l && l["app"] in ["web"]) && !("tier" in l)`},
	} {
		t.Run(tc.selector, func(t *testing.T) {
			s, err := labels.Parse(tc.selector)
			if err != nil {
				t.Fatal(err)
			}
			got, err := labelSelector(s, "l")
			if err != nil || got != tc.want {
				t.Errorf("labelSelector(%q) = %s (%v), want %s", tc.selector, got, err, tc.want)
			}
		})
	}
	if got, _ := labelSelector(labels.Nothing(), "l"); got != "false" {
		t.Errorf("a selector of nothing is %s, want false", got)
	}
}

func TestFieldPath(t *testing.T) {
	for _, tc := range []struct{ pointer, want string }{
		{"/spec/template", "object.spec.template"},
		{"/spec/jobTemplate/spec/template", "object.spec.jobTemplate.spec.template"},
		{"/spec/pod-template", `object.spec["pod-template"]`},
		{"/spec/in/a~1b", `object.spec["in"]["a/b"]`},
	} {
		if got := fieldPath("object", tc.pointer); got != tc.want {
			t.Errorf("fieldPath(%q) = %s, want %s", tc.pointer, got, tc.want)
		}
	}
}
