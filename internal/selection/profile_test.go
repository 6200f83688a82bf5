package selection_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/selection"
)

func TestName(t *testing.T) {
	if got := selection.Name(sp("team-a", "logs", everything)); got != "SidecarProfile team-a/logs" {
		t.Errorf("Name = %q", got)
	}
	if got := selection.Name(csp("logs", everything, nil)); got != "ClusterSidecarProfile logs" {
		t.Errorf("Name = %q", got)
	}
}

func TestDecodeProfile(t *testing.T) {
	raw := []byte(`{"metadata": {"name": "p", "namespace": "x"}, "spec": {"selector": {}, "future": 1}}`)
	for _, tc := range []struct {
		kind, namespace, wantNS string
	}{
		{"SidecarProfile", "default", "x"},
		{"ClusterSidecarProfile", "default", ""}, // cluster-scoped: the apiserver clears the namespace
	} {
		p, err := selection.DecodeProfile(tc.kind, raw, tc.namespace)
		if err != nil {
			t.Fatalf("%s: %v", tc.kind, err)
		}
		if p.GetName() != "p" || p.GetNamespace() != tc.wantNS || p.ProfileSpec().Selector == nil {
			t.Errorf("%s: decoded %s in %q, selector %v", tc.kind, p.GetName(), p.GetNamespace(), p.ProfileSpec().Selector)
		}
	}
	p, err := selection.DecodeProfile("SidecarProfile", []byte(`{"metadata": {"name": "p"}}`), "shop")
	if err != nil || p.GetNamespace() != "shop" {
		t.Errorf("a SidecarProfile naming no namespace: %v, namespace %q; want the request's, shop", err, p.GetNamespace())
	}
	if _, err := selection.DecodeProfile("Deployment", raw, ""); err == nil {
		t.Error("a Deployment was decoded as a profile")
	}
	if _, err := selection.DecodeProfile("SidecarProfile", []byte(`{"spec": []}`), ""); err == nil {
		t.Error("a spec that is a list was decoded")
	}
}

func TestCheck_NamesTheSelectorAndTheFix(t *testing.T) {
	_, err := selection.Check(sp("a", "p", matchLabels("bad key!", "x")), selection.Protected{})
	if err == nil || !strings.Contains(err.Error(), "spec.selector is invalid") || !strings.Contains(err.Error(), "fix the selector's label keys and values") {
		t.Errorf("err = %v", err)
	}
	if _, err := selection.Check(sp("a", "p", everything), selection.Protected{}); err != nil {
		t.Errorf("a valid selector: %v", err)
	}
}

func TestCollision(t *testing.T) {
	withSidecar := func(name string) func(*v1alpha1.SidecarProfileSpec) {
		return func(s *v1alpha1.SidecarProfileSpec) {
			s.Sidecars = []v1alpha1.Sidecar{{Container: corev1.Container{Name: name}}}
		}
	}
	p, q := sp("a", "second", everything, withSidecar("proxy")), sp("a", "first", everything, withSidecar("proxy"))
	want := `sidecar "proxy" (spec.sidecars[0].name) collides with SidecarProfile a/first, which can select the same workloads: rename it`
	if got := selection.Collision(p, q); !strings.HasPrefix(got, want) {
		t.Errorf("Collision = %q\nwant it to start with %q", got, want)
	}
	if got := selection.Collision(p, sp("a", "other", everything, withSidecar("logs"))); got != "" {
		t.Errorf("Collision of profiles sharing no name = %q", got)
	}
}
