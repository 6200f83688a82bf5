package policy_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/admission/policy"
	"github.com/outrigger-dev/outrigger/internal/selection"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// The namespaces the manager protects (kube-system, its own, --excluded-namespaces) are left out of every policy,
// as the mutating webhook's namespaceSelector leaves them out: no ClusterSidecarProfile reaches them, and a
// SidecarProfile inside one gets no policy of its own. The bindings narrow nothing and widen nothing.
func TestCompile_PoliciesLeaveTheProtectedNamespacesOut(t *testing.T) {
	notIn := func(names ...string) metav1.LabelSelectorRequirement {
		return metav1.LabelSelectorRequirement{Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpNotIn, Values: names}
	}
	in := func(name string) metav1.LabelSelectorRequirement {
		return metav1.LabelSelectorRequirement{Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpIn, Values: []string{name}}
	}
	for _, tc := range []struct {
		name      string
		protected selection.Protected
		profiles  []selection.Profile
		// want is each policy's namespaceSelector, by the policy's name.
		want map[string][]metav1.LabelSelectorRequirement
	}{
		{"a ClusterSidecarProfile, with namespaces excluded",
			selection.ProtectedNamespaces("outrigger-system", "monitoring", "istio-system"),
			[]selection.Profile{clusterProfile("logs")},
			map[string][]metav1.LabelSelectorRequirement{
				"outrigger.deployments.apps": {notIn("kube-system", "outrigger-system", "monitoring", "istio-system")},
			}},
		{"a ClusterSidecarProfile, with nothing excluded",
			selection.ProtectedNamespaces("outrigger-system"),
			[]selection.Profile{clusterProfile("logs")},
			map[string][]metav1.LabelSelectorRequirement{
				"outrigger.deployments.apps": {notIn("kube-system", "outrigger-system")},
			}},
		{"SidecarProfiles inside and outside an excluded namespace, and a ClusterSidecarProfile",
			selection.ProtectedNamespaces("outrigger-system", "monitoring"),
			[]selection.Profile{clusterProfile("logs"), localProfile("shop", "proxy"), localProfile("monitoring", "agent")},
			map[string][]metav1.LabelSelectorRequirement{
				"outrigger.deployments.apps.shop": {in("shop"), notIn("kube-system", "outrigger-system", "monitoring")},
				"outrigger.deployments.apps":      {notIn("kube-system", "outrigger-system", "monitoring", "shop")},
			}},
		{"only a SidecarProfile inside an excluded namespace",
			selection.ProtectedNamespaces("outrigger-system", "monitoring"),
			[]selection.Profile{localProfile("monitoring", "agent")},
			map[string][]metav1.LabelSelectorRequirement{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs, err := compileFor(t, workload.Deployment, tc.profiles, policy.Options{Protected: tc.protected})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]metav1.LabelSelectorRequirement{}
			for _, c := range cs {
				got[c.Policy.Name] = c.Policy.Spec.MatchConstraints.NamespaceSelector.MatchExpressions
				if c.Binding.Spec.MatchResources != nil || c.Binding.Spec.PolicyName != c.Policy.Name {
					t.Errorf("binding %s: policy %s, matchResources %+v; want the policy's own, with no matchResources",
						c.Binding.Name, c.Binding.Spec.PolicyName, c.Binding.Spec.MatchResources)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("the policies' namespaceSelectors (-want +got):\n%s", diff)
			}
		})
	}
}

// compileFor compiles the policies of the kind for the profiles, each at its spec.
func compileFor(t *testing.T, kind workload.Kind, profiles []selection.Profile, o policy.Options) ([]policy.Compiled, error) {
	t.Helper()
	var in []policy.Profile
	for _, p := range profiles {
		c, err := policy.FromProfile(p, p.ProfileSpec())
		if err != nil {
			t.Fatal(err)
		}
		in = append(in, c)
	}
	return policy.Compile(kind, in, o)
}

func clusterProfile(name string) *v1alpha1.ClusterSidecarProfile {
	p := &v1alpha1.ClusterSidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: name}}
	p.Spec.SidecarProfileSpec = sidecarSpec(name)
	return p
}

func localProfile(namespace, name string) *v1alpha1.SidecarProfile {
	return &v1alpha1.SidecarProfile{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Spec: sidecarSpec(name)}
}

// sidecarSpec selects every Deployment and adds one sidecar named after the profile.
func sidecarSpec(name string) v1alpha1.SidecarProfileSpec {
	return v1alpha1.SidecarProfileSpec{Selector: &metav1.LabelSelector{},
		Sidecars: []v1alpha1.Sidecar{{Container: corev1.Container{Name: name, Image: "busybox"}}}}
}
