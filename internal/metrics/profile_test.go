package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

func attention(kind v1alpha1.WorkloadKind, name, sidecar, reason string) v1alpha1.WorkloadAttention {
	return v1alpha1.WorkloadAttention{Kind: kind, Namespace: "shop", Name: name, Sidecar: sidecar, Reason: reason}
}

// degraded is the status of a profile with a sidecar restarting in two Deployments (one of them for two sidecars)
// and a conflict in a Job.
var degraded = v1alpha1.SidecarProfileStatus{
	ObservedGeneration: 3, Matched: 4, Injected: 3, UpToDate: 3, RolledOut: 2, Healthy: 1,
	Conditions: []metav1.Condition{
		{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonConflict},
		{Type: v1alpha1.ConditionStalled, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonConflict},
	},
	NeedsAttention: []v1alpha1.WorkloadAttention{
		attention(v1alpha1.KindJob, "batch", "", v1alpha1.ReasonConflict),
		attention(v1alpha1.KindDeployment, "api", "logshipper", v1alpha1.ReasonSidecarRestarting),
		attention(v1alpha1.KindDeployment, "api", "proxy", v1alpha1.ReasonSidecarRestarting),
		attention(v1alpha1.KindDeployment, "web", "logshipper", v1alpha1.ReasonSidecarRestarting),
		attention(v1alpha1.KindDeployment, "odd", "", "not a code"),
	},
	NeedsAttentionOmitted: 7,
}

func TestProfileMetrics_ExportTheStatusCountsConditionsAndWorkloadsByReason(t *testing.T) {
	c := newProfileCollector()
	c.set(types.NamespacedName{Namespace: "shop", Name: "logs"}, snapshotOf(degraded))
	c.set(types.NamespacedName{Name: "mesh"}, snapshotOf(v1alpha1.SidecarProfileStatus{Matched: 2, Injected: 2, UpToDate: 2, RolledOut: 2, Healthy: 2,
		Conditions: []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue}}}))
	want := `
# HELP outrigger_profile_condition The profile's conditions (Ready, Reconciling, Stalled, Degraded): 1 for the status the condition has, 0 for the others.
# TYPE outrigger_profile_condition gauge
outrigger_profile_condition{profile_kind="ClusterSidecarProfile",profile_name="mesh",profile_namespace="",status="False",type="Ready"} 0
outrigger_profile_condition{profile_kind="ClusterSidecarProfile",profile_name="mesh",profile_namespace="",status="True",type="Ready"} 1
outrigger_profile_condition{profile_kind="ClusterSidecarProfile",profile_name="mesh",profile_namespace="",status="Unknown",type="Ready"} 0
outrigger_profile_condition{profile_kind="SidecarProfile",profile_name="logs",profile_namespace="shop",status="False",type="Ready"} 1
outrigger_profile_condition{profile_kind="SidecarProfile",profile_name="logs",profile_namespace="shop",status="False",type="Stalled"} 0
outrigger_profile_condition{profile_kind="SidecarProfile",profile_name="logs",profile_namespace="shop",status="True",type="Ready"} 0
outrigger_profile_condition{profile_kind="SidecarProfile",profile_name="logs",profile_namespace="shop",status="True",type="Stalled"} 1
outrigger_profile_condition{profile_kind="SidecarProfile",profile_name="logs",profile_namespace="shop",status="Unknown",type="Ready"} 0
outrigger_profile_condition{profile_kind="SidecarProfile",profile_name="logs",profile_namespace="shop",status="Unknown",type="Stalled"} 0
# HELP outrigger_profile_workloads_attention Workloads in the profile's status.needsAttention, by reason (at most 20 entries are listed, most urgent first; outrigger_profile_workloads_attention_omitted counts the others).
# TYPE outrigger_profile_workloads_attention gauge
outrigger_profile_workloads_attention{profile_kind="SidecarProfile",profile_name="logs",profile_namespace="shop",reason="Conflict"} 1
outrigger_profile_workloads_attention{profile_kind="SidecarProfile",profile_name="logs",profile_namespace="shop",reason="Other"} 1
outrigger_profile_workloads_attention{profile_kind="SidecarProfile",profile_name="logs",profile_namespace="shop",reason="SidecarRestarting"} 2
# HELP outrigger_profile_workloads_attention_omitted Workloads needing attention that did not fit in status.needsAttention (status.needsAttentionOmitted).
# TYPE outrigger_profile_workloads_attention_omitted gauge
outrigger_profile_workloads_attention_omitted{profile_kind="ClusterSidecarProfile",profile_name="mesh",profile_namespace=""} 0
outrigger_profile_workloads_attention_omitted{profile_kind="SidecarProfile",profile_name="logs",profile_namespace="shop"} 7
# HELP outrigger_profile_workloads_healthy Selected workloads whose pods' sidecars of the profile are all started, ready and not restarting (status.healthy).
# TYPE outrigger_profile_workloads_healthy gauge
outrigger_profile_workloads_healthy{profile_kind="ClusterSidecarProfile",profile_name="mesh",profile_namespace=""} 2
outrigger_profile_workloads_healthy{profile_kind="SidecarProfile",profile_name="logs",profile_namespace="shop"} 1
# HELP outrigger_profile_workloads_injected Selected workloads that carry the profile's sidecars, in any revision (status.injected).
# TYPE outrigger_profile_workloads_injected gauge
outrigger_profile_workloads_injected{profile_kind="ClusterSidecarProfile",profile_name="mesh",profile_namespace=""} 2
outrigger_profile_workloads_injected{profile_kind="SidecarProfile",profile_name="logs",profile_namespace="shop"} 3
# HELP outrigger_profile_workloads_matched Workloads the profile selects (status.matched).
# TYPE outrigger_profile_workloads_matched gauge
outrigger_profile_workloads_matched{profile_kind="ClusterSidecarProfile",profile_name="mesh",profile_namespace=""} 2
outrigger_profile_workloads_matched{profile_kind="SidecarProfile",profile_name="logs",profile_namespace="shop"} 4
# HELP outrigger_profile_workloads_rolled_out Up-to-date workloads whose own rollout is done (status.rolledOut).
# TYPE outrigger_profile_workloads_rolled_out gauge
outrigger_profile_workloads_rolled_out{profile_kind="ClusterSidecarProfile",profile_name="mesh",profile_namespace=""} 2
outrigger_profile_workloads_rolled_out{profile_kind="SidecarProfile",profile_name="logs",profile_namespace="shop"} 2
# HELP outrigger_profile_workloads_up_to_date Selected workloads that carry the profile's current revision (status.upToDate).
# TYPE outrigger_profile_workloads_up_to_date gauge
outrigger_profile_workloads_up_to_date{profile_kind="ClusterSidecarProfile",profile_name="mesh",profile_namespace=""} 2
outrigger_profile_workloads_up_to_date{profile_kind="SidecarProfile",profile_name="logs",profile_namespace="shop"} 3
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

func TestProfileMetrics_ANewStatusDropsTheSeriesOfReasonsAndConditionsItNoLongerHas(t *testing.T) {
	c := newProfileCollector()
	key := types.NamespacedName{Namespace: "shop", Name: "logs"}
	c.set(key, snapshotOf(degraded))
	c.set(key, snapshotOf(v1alpha1.SidecarProfileStatus{Matched: 4,
		Conditions: []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue}}}))
	if n := testutil.CollectAndCount(c, ProfileAttention); n != 0 {
		t.Errorf("%d %s series left, want none", n, ProfileAttention)
	}
	if n := testutil.CollectAndCount(c, ProfileCondition); n != 3 {
		t.Errorf("%d %s series, want 3 (Ready: True, False, Unknown)", n, ProfileCondition)
	}
}

func TestProfileMetrics_AForgottenProfileHasNoSeriesLeft(t *testing.T) {
	c := newProfileCollector()
	gone, kept := types.NamespacedName{Namespace: "shop", Name: "logs"}, types.NamespacedName{Namespace: "shop", Name: "mesh"}
	c.set(gone, snapshotOf(degraded))
	c.set(kept, snapshotOf(degraded))
	c.forget(gone)
	c.forget(types.NamespacedName{Name: "never-seen"})
	// kept's series only: 5 counts, 6 conditions, 3 reasons, the omitted count.
	if n := testutil.CollectAndCount(c); n != 15 {
		t.Errorf("%d series, want the 15 of the profile kept", n)
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(`
# HELP outrigger_profile_workloads_matched Workloads the profile selects (status.matched).
# TYPE outrigger_profile_workloads_matched gauge
outrigger_profile_workloads_matched{profile_kind="SidecarProfile",profile_name="mesh",profile_namespace="shop"} 4
`), ProfileMatched); err != nil {
		t.Error(err)
	}
}

// The package's collector is the one on controller-runtime's registry: SetProfile and ForgetProfile reach it.
func TestProfileMetrics_SetAndForgetReachTheManagersRegistry(t *testing.T) {
	key := types.NamespacedName{Namespace: "registry-test", Name: "logs"}
	SetProfile(key, degraded)
	if n := testutil.CollectAndCount(profiles, ProfileHealthy); n < 1 {
		t.Fatalf("no %s after SetProfile", ProfileHealthy)
	}
	ForgetProfile(key)
	if n := testutil.CollectAndCount(profiles, ProfileHealthy); n != 0 {
		t.Fatalf("%d %s series after ForgetProfile, want none", n, ProfileHealthy)
	}
}
