package selection_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/selection"
)

func TestDisjoint(t *testing.T) {
	req := func(key string, op metav1.LabelSelectorOperator, values ...string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: key, Operator: op, Values: values}}}
	}
	match := func(kv ...string) *metav1.LabelSelector {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return &metav1.LabelSelector{MatchLabels: m}
	}
	for _, tc := range []struct {
		name string
		a, b *metav1.LabelSelector
		want bool
	}{
		{"both select everything", &metav1.LabelSelector{}, &metav1.LabelSelector{}, false},
		{"same label", match("app", "web"), match("app", "web"), false},
		{"other value of one key", match("app", "web"), match("app", "api"), true},
		{"different keys may both hold", match("app", "web"), match("tier", "front"), false},
		{"In sets that share a value", req("app", metav1.LabelSelectorOpIn, "web", "api"), req("app", metav1.LabelSelectorOpIn, "api"), false},
		{"In sets that share none", req("app", metav1.LabelSelectorOpIn, "web"), req("app", metav1.LabelSelectorOpIn, "api", "db"), true},
		{"value excluded by NotIn", match("app", "web"), req("app", metav1.LabelSelectorOpNotIn, "web"), true},
		{"NotIn leaves room", match("app", "web"), req("app", metav1.LabelSelectorOpNotIn, "api"), false},
		{"Exists against DoesNotExist", req("app", metav1.LabelSelectorOpExists), req("app", metav1.LabelSelectorOpDoesNotExist), true},
		{"a value against DoesNotExist", match("app", "web"), req("app", metav1.LabelSelectorOpDoesNotExist), true},
		{"nil selects nothing", nil, &metav1.LabelSelector{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := selection.Disjoint(tc.a, tc.b); got != tc.want {
				t.Errorf("Disjoint(a, b) = %v, want %v", got, tc.want)
			}
			if got := selection.Disjoint(tc.b, tc.a); got != tc.want {
				t.Errorf("Disjoint(b, a) = %v, want %v (must be symmetric)", got, tc.want)
			}
		})
	}
}

func TestMayOverlap(t *testing.T) {
	all := &metav1.LabelSelector{}
	local := func(ns string, kinds ...v1alpha1.WorkloadKind) selection.Profile {
		return &v1alpha1.SidecarProfile{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "p-" + ns},
			Spec: v1alpha1.SidecarProfileSpec{Selector: all, WorkloadKinds: kinds}}
	}
	cluster := func(nsSel *metav1.LabelSelector) selection.Profile {
		return &v1alpha1.ClusterSidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: "c"},
			Spec: v1alpha1.ClusterSidecarProfileSpec{SidecarProfileSpec: v1alpha1.SidecarProfileSpec{Selector: all}, NamespaceSelector: nsSel}}
	}
	team := func(v string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{"team": v}}
	}
	nsLabels := func(ns string) map[string]string {
		return map[string]string{"kubernetes.io/metadata.name": ns, "team": map[string]string{"shop": "payments", "blog": "content"}[ns]}
	}
	for _, tc := range []struct {
		name string
		a, b selection.Profile
		want bool
	}{
		{"two profiles of one namespace", local("shop"), local("shop"), true},
		{"profiles of two namespaces", local("shop"), local("blog"), false},
		{"disjoint workload kinds", local("shop", v1alpha1.KindJob), local("shop", v1alpha1.KindDeployment, v1alpha1.KindCronJob), false},
		{"a shared kind", local("shop", v1alpha1.KindJob), local("shop"), true},
		{"cluster profile selecting the namespace", local("shop"), cluster(team("payments")), true},
		{"cluster profile selecting other namespaces", local("shop"), cluster(team("content")), false},
		{"cluster profile with no namespace selector", cluster(nil), local("blog"), true},
		{"cluster profiles, disjoint namespace selectors", cluster(team("payments")), cluster(team("content")), false},
		{"cluster profiles, one selecting all namespaces", cluster(nil), cluster(team("content")), true},
		{"kube-system is out of a cluster profile's reach", local("kube-system"), cluster(nil), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := selection.MayOverlap(tc.a, tc.b, nsLabels, selection.ProtectedNamespaces("outrigger-system")); got != tc.want {
				t.Errorf("MayOverlap = %v, want %v", got, tc.want)
			}
		})
	}
}
