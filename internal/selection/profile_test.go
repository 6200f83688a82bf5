package selection_test

import (
	"testing"

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
