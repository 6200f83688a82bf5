package admission

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/admission/policy"
)

func TestNotAdmitted_KeepsEachProfilesReasonAndSaysWhichChanged(t *testing.T) {
	logs := &v1alpha1.ClusterSidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: "logs"}}
	proxy := &v1alpha1.SidecarProfile{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "proxy"}}
	long := strings.Repeat("é", 600)
	for _, tc := range []struct {
		name      string
		before    map[profileKey][]string
		problems  map[profileKey][]string
		wantLogs  string
		wantProxy string
		changed   map[profileKey]string
	}{
		{name: "a policy that cannot place its profiles gives each its reason",
			problems: map[profileKey][]string{keyOf(logs): {"too large"}, keyOf(proxy): {"too large"}},
			wantLogs: "too large", wantProxy: "too large",
			changed: map[profileKey]string{keyOf(logs): "too large", keyOf(proxy): "too large"}},
		{name: "a profile several policies cannot place gets the first's reason and how many more",
			problems: map[profileKey][]string{keyOf(logs): {"too large", "refused", "too large"}},
			wantLogs: "too large (and 2 more admission policies that should place it)",
			changed:  map[profileKey]string{keyOf(logs): "too large (and 2 more admission policies that should place it)"}},
		{name: "a profile placed again has no reason any more",
			before: map[profileKey][]string{keyOf(logs): {"too large"}, keyOf(proxy): {"too large"}}, problems: map[profileKey][]string{keyOf(proxy): {"too large"}},
			wantProxy: "too large", changed: map[profileKey]string{keyOf(logs): ""}},
		{name: "the same reason again is no change",
			before: map[profileKey][]string{keyOf(logs): {"too large"}}, problems: map[profileKey][]string{keyOf(logs): {"too large"}},
			wantLogs: "too large", changed: map[profileKey]string{}},
		{name: "a long reason is cut to what a condition takes, on a character's boundary",
			problems: map[profileKey][]string{keyOf(logs): {long}},
			wantLogs: strings.Repeat("é", 510) + "...", changed: map[profileKey]string{keyOf(logs): strings.Repeat("é", 510) + "..."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := NewNotAdmitted()
			n.set(tc.before)
			changed := n.set(tc.problems)
			if !maps.Equal(changed, tc.changed) {
				t.Errorf("changed %q, want %q", changed, tc.changed)
			}
			if got := n.For(logs); got != tc.wantLogs {
				t.Errorf("ClusterSidecarProfile logs: %q, want %q", got, tc.wantLogs)
			}
			if got := n.For(proxy); got != tc.wantProxy {
				t.Errorf("SidecarProfile shop/proxy: %q, want %q", got, tc.wantProxy)
			}
		})
	}
}

// A write the apiserver refuses for the policy itself is the profiles' to hear of; one that fails for a while
// (a conflict, a timeout) is retried, and would only make their status flap.
func TestRefusal_IsOfThePolicyNotOfAPassingFailure(t *testing.T) {
	gr := schema.GroupResource{Group: "admissionregistration.k8s.io", Resource: "mutatingadmissionpolicies"}
	listed := `[{"kind":"ClusterSidecarProfile","name":"a","revision":"1"},{"kind":"ClusterSidecarProfile","name":"b","revision":"2"}]`
	p := &admissionregistrationv1.MutatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "outrigger.deployments.apps",
		Annotations: map[string]string{policy.ProfilesAnnotation: listed}}}
	for _, tc := range []struct {
		name    string
		err     error
		refused bool
	}{
		{"invalid", apierrors.NewInvalid(schema.GroupKind{Group: gr.Group, Kind: "MutatingAdmissionPolicy"}, p.Name, nil), true},
		{"too large for etcd", fmt.Errorf("writing MutatingAdmissionPolicy %s: %w", p.Name, apierrors.NewInternalError(errors.New("etcdserver: request is too large"))), true},
		{"forbidden", apierrors.NewForbidden(gr, p.Name, errors.New("no")), true},
		{"a conflict", apierrors.NewConflict(gr, p.Name, errors.New("changed")), false},
		{"a timeout", apierrors.NewTimeoutError("slow", 1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			why := refusal(p, []error{tc.err})
			if (why != "") != tc.refused {
				t.Fatalf("refusal = %q, want refused: %v", why, tc.refused)
			}
			if tc.refused && (!strings.Contains(why, p.Name+", which should place this profile and 1 more") || !strings.Contains(why, "--admission=webhook")) {
				t.Errorf("the reason does not name the policy, its profiles and what to do: %s", why)
			}
		})
	}
}
