package statusview

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var now = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) *metav1.Time { t := metav1.NewTime(now.Add(-d)); return &t }

func condition(typ string, status metav1.ConditionStatus, reason, message string, generation int64) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: message, ObservedGeneration: generation,
		LastTransitionTime: *ago(7 * time.Minute)}
}

// ready is the status of a profile at generation 1 whose every workload is as it says.
func ready(n int32) v1alpha1.SidecarProfileStatus {
	return v1alpha1.SidecarProfileStatus{ObservedGeneration: 1, Matched: n, Injected: n, UpToDate: n, RolledOut: n, Healthy: n,
		Conditions: []metav1.Condition{
			condition(v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonSucceeded, "every selected workload is up to date", 1),
			condition(v1alpha1.ConditionReconciling, metav1.ConditionFalse, v1alpha1.ReasonSucceeded, "", 1),
			condition(v1alpha1.ConditionStalled, metav1.ConditionFalse, v1alpha1.ReasonSucceeded, "", 1),
			condition(v1alpha1.ConditionDegraded, metav1.ConditionFalse, v1alpha1.ReasonHealthy, "", 1),
		},
		Rollout: &v1alpha1.RolloutStatus{StableRevision: "ecf2d1cdb305026d", Revisions: []v1alpha1.RevisionCount{{Revision: "ecf2d1cdb305026d", Workloads: n}}},
	}
}

// fleet is a cluster's profiles, one of each situation the view explains.
func fleet() []Profile {
	logshipper := Profile{Kind: KindClusterSidecarProfile, Name: "platform-logshipper", Generation: 1, Status: ready(12)}

	// A rollout in waves halted in its second wave by a sidecar restarting, with more workloads than status lists.
	mesh := Profile{Kind: KindClusterSidecarProfile, Name: "mesh-proxy", Generation: 3, Status: v1alpha1.SidecarProfileStatus{
		ObservedGeneration: 3, Matched: 40, Injected: 40, UpToDate: 5, RolledOut: 4, Healthy: 39,
		Conditions: []metav1.Condition{
			condition(v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonRolloutHalted,
				"the rollout of revision 4bbeed3e15ea8f9f halted in wave 2 of 4: a sidecar restarts", 3),
			condition(v1alpha1.ConditionReconciling, metav1.ConditionFalse, v1alpha1.ReasonRolloutHalted,
				"the rollout of revision 4bbeed3e15ea8f9f halted in wave 2 of 4: a sidecar restarts", 3),
			condition(v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonRolloutHalted,
				"fix the sidecar (a new spec starts again from the canary), or revert to the stable revision", 3),
			condition(v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonSidecarRestarting,
				"sidecar envoy restarts in 1 workload", 3),
		},
		NeedsAttention: []v1alpha1.WorkloadAttention{
			{Kind: v1alpha1.WorkloadKind("Deployment"), Namespace: "payments", Name: "api", Sidecar: "envoy",
				Reason: v1alpha1.ReasonSidecarRestarting, Message: "sidecar envoy restarted 4 times\nin pod api-7d9f-x2x", Since: ago(3 * time.Minute)},
			{Kind: v1alpha1.WorkloadKind("Job"), Namespace: "payments", Name: "backfill",
				Reason: v1alpha1.ReasonNotInjected, Message: "a Job gets sidecars only at its creation: it existed before the profile"},
			{Kind: v1alpha1.WorkloadKind("Deployment"), Namespace: "shop", Name: "web", Sidecar: "envoy",
				Reason: v1alpha1.ReasonConflict, Message: "the workload has a container named envoy: rename the profile's sidecar", Since: ago(50 * time.Hour)},
		},
		NeedsAttentionOmitted: 2,
		Rollout: &v1alpha1.RolloutStatus{StableRevision: "ecf2d1cdb305026d", CandidateRevision: "4bbeed3e15ea8f9f", Wave: 2, Waves: 4,
			WaveOpened: ago(20 * time.Minute), Halted: "sidecar envoy restarts in Deployment payments/api",
			Revisions: []v1alpha1.RevisionCount{{Revision: "ecf2d1cdb305026d", Workloads: 35}, {Revision: "4bbeed3e15ea8f9f", Workloads: 5}}},
	}}

	// Ready, but a sidecar is not ready in a pod.
	egress := Profile{Kind: KindSidecarProfile, Namespace: "payments", Name: "egress-proxy", Generation: 1, Status: ready(3)}
	egress.Status.Healthy = 2
	egress.Status.Conditions[3] = condition(v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonSidecarNotReady,
		"sidecar proxy is not ready in 1 workload", 1)
	egress.Status.NeedsAttention = []v1alpha1.WorkloadAttention{{Kind: v1alpha1.WorkloadKind("StatefulSet"), Namespace: "payments",
		Name: "ledger", Sidecar: "proxy", Reason: v1alpha1.ReasonSidecarNotReady, Message: "readiness probe failed: HTTP 503", Since: ago(90 * time.Second)}}

	// Changed a moment ago: its status is of the previous spec.
	stale := Profile{Kind: KindSidecarProfile, Namespace: "payments", Name: "metrics-agent", Generation: 2, Status: ready(1)}

	// Created, never seen by Outrigger (the manager is not running).
	unseen := Profile{Kind: KindSidecarProfile, Namespace: "shop", Name: "logshipper", Generation: 1,
		Status: v1alpha1.SidecarProfileStatus{ObservedGeneration: -1}}

	profiles := []Profile{unseen, stale, egress, mesh, logshipper}
	Sort(profiles)
	return profiles
}

// inNamespace is what Load reads for the view of a namespace: its SidecarProfiles and every
// ClusterSidecarProfile.
func inNamespace(profiles []Profile, namespace string) []Profile {
	var out []Profile
	for _, p := range profiles {
		if p.Kind == KindClusterSidecarProfile || p.Namespace == namespace {
			out = append(out, p)
		}
	}
	return out
}

// golden compares got with testdata/name, or writes it there with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update to accept); got:\n%s", path, got)
	}
}

func TestWriteText_MatchesGoldenViews(t *testing.T) {
	only := func(name string) []Profile {
		for _, p := range fleet() {
			if p.Name == name {
				return []Profile{p}
			}
		}
		t.Fatalf("no profile %s", name)
		return nil
	}
	for _, tc := range []struct {
		golden   string
		profiles []Profile
		opts     Options
	}{
		{"all-namespaces.txt", fleet(), Options{Now: now}},
		{"namespace-shop.txt", inNamespace(fleet(), "shop"), Options{Now: now, Namespace: "shop"}},
		{"one-profile-halted.txt", only("mesh-proxy"), Options{Now: now, Detail: true}},
		{"one-profile-ready.txt", only("platform-logshipper"), Options{Now: now, Detail: true}},
		{"all-ready.txt", []Profile{{Kind: KindClusterSidecarProfile, Name: "platform-logshipper", Generation: 1, Status: ready(12)}}, Options{Now: now}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			var out bytes.Buffer
			if err := WriteText(&out, tc.profiles, tc.opts); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.golden, out.String())
		})
	}
}

func TestWriteJSONAndYAML_MatchGoldenDocuments(t *testing.T) {
	for _, tc := range []struct {
		golden string
		write  func(*bytes.Buffer, []Profile) error
	}{
		{"all-namespaces.json", func(b *bytes.Buffer, p []Profile) error { return WriteJSON(b, p) }},
		{"all-namespaces.yaml", func(b *bytes.Buffer, p []Profile) error { return WriteYAML(b, p) }},
		{"empty.json", func(b *bytes.Buffer, _ []Profile) error { return WriteJSON(b, nil) }},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			var out bytes.Buffer
			profiles := fleet()
			if err := tc.write(&out, profiles); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.golden, out.String())
		})
	}
}

func TestReady_IsUnknownUntilOutriggerObservesTheCurrentSpec(t *testing.T) {
	for _, tc := range []struct {
		name       string
		generation int64
		status     v1alpha1.SidecarProfileStatus
		want       metav1.ConditionStatus
		reason     string
	}{
		{"NewProfile", 1, v1alpha1.SidecarProfileStatus{ObservedGeneration: -1}, metav1.ConditionUnknown, ReasonNotObserved},
		{"ObservedWithoutConditions", 1, v1alpha1.SidecarProfileStatus{ObservedGeneration: 1}, metav1.ConditionUnknown, ReasonNotObserved},
		{"SpecChangedSince", 2, ready(1), metav1.ConditionUnknown, ReasonStale},
		{"CurrentAndReady", 1, ready(1), metav1.ConditionTrue, v1alpha1.ReasonSucceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Ready(Profile{Kind: KindSidecarProfile, Name: "p", Generation: tc.generation, Status: tc.status})
			if got.Status != tc.want || got.Reason != tc.reason {
				t.Errorf("got %s %s (%s), want %s %s", got.Status, got.Reason, got.Message, tc.want, tc.reason)
			}
		})
	}
}

func TestNeedsAttention_CountsOnlyTheViewsNamespaceButEveryUnlistedWorkload(t *testing.T) {
	mesh := fleet()[0]
	mesh.Generation, mesh.Status.Conditions = 1, ready(1).Conditions // a healthy profile, but for its workloads
	mesh.Status.NeedsAttentionOmitted = 0
	for _, tc := range []struct {
		name      string
		namespace string
		omitted   int32
		want      bool
	}{
		{"AllNamespaces", "", 0, true},
		{"NamespaceWithWorkloads", "payments", 0, true},
		{"NamespaceWithout", "billing", 0, false},
		{"NamespaceWithoutButSomeUnlisted", "billing", 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mesh
			p.Status.NeedsAttentionOmitted = tc.omitted
			if got := NeedsAttention(p, tc.namespace); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRolloutCell_SaysWhereTheWavesStand(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   *v1alpha1.RolloutStatus
		want string
	}{
		{"NoRollout", nil, "-"},
		{"NothingYet", &v1alpha1.RolloutStatus{}, "-"},
		{"Stable", &v1alpha1.RolloutStatus{StableRevision: "aaaa"}, "stable aaaa"},
		{"FirstRevisionInWaves", &v1alpha1.RolloutStatus{CandidateRevision: "bbbb", Wave: 1, Waves: 4}, "wave 1/4: candidate bbbb"},
		{"BeforeTheCanary", &v1alpha1.RolloutStatus{StableRevision: "aaaa", CandidateRevision: "bbbb", Waves: 4}, "before wave 1/4: candidate bbbb, stable aaaa"},
		{"Halted", &v1alpha1.RolloutStatus{StableRevision: "aaaa", CandidateRevision: "bbbb", Wave: 2, Waves: 4, Halted: "x"}, "halted at wave 2/4: candidate bbbb, stable aaaa"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := RolloutCell(tc.in); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestExplain_SaysWhatToDo(t *testing.T) {
	gr := schema.GroupResource{Group: v1alpha1.GroupVersion.Group, Resource: "clustersidecarprofiles"}
	for _, tc := range []struct {
		name string
		err  error
		want []string
	}{
		{"NoKubeconfig", clientcmd.ErrEmptyConfig, []string{"no kubeconfig was found", "KUBECONFIG"}},
		{"NoCRDs", &meta.NoKindMatchError{GroupKind: schema.GroupKind{Group: gr.Group, Kind: "SidecarProfile"}},
			[]string{"does not have Outrigger's CRDs", "--context"}},
		{"Forbidden", apierrors.NewForbidden(gr, "", errors.New("no RBAC policy matched")),
			[]string{"is forbidden", "clustersidecarprofile-viewer", "ClusterRoleBinding"}},
		{"Unauthorized", apierrors.NewUnauthorized("token expired"), []string{"credentials"}},
		{"Other", fmt.Errorf("boom"), []string{"boom"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Explain(tc.err).Error()
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("%q does not say %q", got, w)
				}
			}
		})
	}
}
