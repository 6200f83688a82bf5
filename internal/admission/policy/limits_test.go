package policy_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/admission/policy"
	"github.com/outrigger-dev/outrigger/internal/selection"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// A policy the apiserver would refuse is an error naming it, the limit and what to change, with the profiles it
// would hold, so that the manager reports them; the kind's other policies are compiled all the same.
func TestCompile_APolicyBeyondTheAPIServersLimitsIsAnErrorNamingItAndWhatToChange(t *testing.T) {
	for _, tc := range []struct {
		name     string
		profiles []selection.Profile
		// want are the policy that cannot be compiled, its namespace, its profiles and the field too large.
		wantPolicy, wantNamespace string
		wantProfiles              int
		wantField                 string
		// compiled are the policies compiled all the same.
		compiled []string
	}{
		{name: "a namespace's profiles too large to store: the other namespaces' policy is compiled",
			profiles: append(large("big", 60, 30_000), clusterProfile("logs")), wantPolicy: "outrigger.deployments.apps.big", wantNamespace: "big",
			wantProfiles: 61, wantField: "the policy as stored", compiled: []string{"outrigger.deployments.apps"}},
		{name: "a sidecar too large for one expression",
			profiles: large("", 1, 120_000), wantPolicy: "outrigger.deployments.apps", wantProfiles: 1, wantField: "expression (c0)"},
		{name: "too many profiles to list in the policy's annotation",
			profiles: longNamed(1200), wantPolicy: "outrigger.deployments.apps", wantProfiles: 1200, wantField: "metadata.annotations"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs, err := compileFor(t, workload.Deployment, tc.profiles, policy.Options{})
			var compiled []string
			for _, c := range cs {
				compiled = append(compiled, c.Policy.Name)
			}
			if fmt.Sprint(compiled) != fmt.Sprint(tc.compiled) {
				t.Errorf("compiled %v, want %v", compiled, tc.compiled)
			}
			shards := policy.ShardErrors(err)
			if len(shards) != 1 {
				t.Fatalf("%d policies could not be compiled (%v), want 1", len(shards), err)
			}
			got := shards[0]
			var limit *policy.LimitError
			if got.Policy != tc.wantPolicy || got.Namespace != tc.wantNamespace || len(got.Profiles) != tc.wantProfiles || !errors.As(got, &limit) ||
				!strings.Contains(limit.Field, tc.wantField) {
				t.Fatalf("got policy %q, namespace %q, %d profiles, error %v; want %q, %q, %d profiles, a limit on %s",
					got.Policy, got.Namespace, len(got.Profiles), got.Err, tc.wantPolicy, tc.wantNamespace, tc.wantProfiles, tc.wantField)
			}
			for _, says := range []string{tc.wantField, "--admission=webhook", "fewer or smaller", "do not get these profiles' sidecars at admission"} {
				if !strings.Contains(got.Error(), says) {
					t.Errorf("the error does not say %q: %v", says, got)
				}
			}
		})
	}
}

// large are n profiles, SidecarProfiles of namespace (ClusterSidecarProfiles for ""), each with a sidecar whose
// environment holds size bytes.
func large(namespace string, n, size int) []selection.Profile {
	var out []selection.Profile
	for i := range n {
		name := fmt.Sprintf("large-%d", i)
		spec := sidecarSpec(name)
		spec.Sidecars[0].Env = []corev1.EnvVar{{Name: "BLOB", Value: strings.Repeat("x", size)}}
		if namespace == "" {
			p := clusterProfile(name)
			p.Spec.SidecarProfileSpec = spec
			out = append(out, p)
			continue
		}
		out = append(out, &v1alpha1.SidecarProfile{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Spec: spec})
	}
	return out
}

// longNamed are n small ClusterSidecarProfiles of names as long as the apiserver takes (253).
func longNamed(n int) []selection.Profile {
	var out []selection.Profile
	for i := range n {
		name := fmt.Sprintf("%s-%04d", strings.Repeat("a", 248), i)
		out = append(out, clusterProfile(name))
	}
	return out
}
