package status

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// Sidecar observation builders: one sidecar in one pod, healthy unless changed.
func sidecarIn(pod string, mods ...func(*SidecarObservation)) SidecarObservation {
	started := metav1.NewTime(t1.Add(-time.Hour))
	s := SidecarObservation{Pod: pod, Name: "log-shipper", Revision: rev, Started: true, Ready: true, PodStarted: &started}
	for _, m := range mods {
		m(&s)
	}
	return s
}

func notReady(s *SidecarObservation) { s.Ready = false }

func terminated(ago time.Duration, restarts int32, reason string) func(*SidecarObservation) {
	return func(s *SidecarObservation) {
		at := metav1.NewTime(t1.Add(-ago))
		s.RestartCount, s.LastTerminationTime, s.LastTerminationReason = restarts, &at, reason
	}
}

func crashLooping(s *SidecarObservation) { s.Waiting = "CrashLoopBackOff" }
func stripped(s *SidecarObservation)     { s.RestartPolicyStripped = true }
func atRevision(r string) func(*SidecarObservation) {
	return func(s *SidecarObservation) { s.Revision = r }
}

func pods(ss ...SidecarObservation) func(*WorkloadObservation) {
	return func(w *WorkloadObservation) { w.Sidecars = ss }
}

func rollingOut(msg string) func(*WorkloadObservation) {
	return func(w *WorkloadObservation) { w.Rollout = workload.Rollout{Message: msg} }
}

func stuck(w *WorkloadObservation) {
	w.Rollout = workload.Rollout{Stuck: true, Message: "ReplicaSet web-abc has timed out progressing", Since: &t2}
}

func TestCompute_RolloutAndHealth(t *testing.T) {
	type want struct {
		rolledOut, healthy          int32
		ready, reconciling, stalled string // "Type=Status/Reason"
		degraded                    string
		entries                     []string // "name/sidecar/reason"
		messageHas                  []string // in the first entry's message
		since                       *metav1.Time
	}
	for _, tc := range []struct {
		name string
		in   Input
		want want
	}{
		{
			name: "rolled out and healthy: Ready",
			in:   Input{Workloads: []WorkloadObservation{dep("shop", "web", pods(sidecarIn("web-1"), sidecarIn("web-2")))}},
			want: want{rolledOut: 1, healthy: 1, ready: "True/Succeeded", reconciling: "False/Succeeded", stalled: "False/Succeeded", degraded: "False/Healthy"},
		},
		{
			name: "a rollout under way: Reconciling RollingOut, not Ready",
			in:   Input{Workloads: []WorkloadObservation{dep("shop", "web", rollingOut("1 of 3 replicas updated"))}},
			want: want{rolledOut: 0, healthy: 1, ready: "False/RollingOut", reconciling: "True/RollingOut", stalled: "False/Succeeded", degraded: "False/Healthy"},
		},
		{
			name: "pods of the old revision still running: not rolled out",
			in:   Input{Workloads: []WorkloadObservation{dep("shop", "web", pods(sidecarIn("web-new"), sidecarIn("web-old", atRevision(oldRev))))}},
			want: want{rolledOut: 0, healthy: 1, ready: "False/RollingOut", reconciling: "True/RollingOut", stalled: "False/Succeeded", degraded: "False/Healthy"},
		},
		{
			name: "a stuck rollout: Stalled RolloutStuck, with the workload's own words and when",
			in:   Input{Workloads: []WorkloadObservation{dep("shop", "web", stuck)}},
			want: want{rolledOut: 0, healthy: 1, ready: "False/RolloutStuck", reconciling: "False/Succeeded", stalled: "True/RolloutStuck", degraded: "False/Healthy",
				entries: []string{"web//RolloutStuck"}, messageHas: []string{"timed out progressing", "kubectl describe deployment -n shop web"}, since: &t2},
		},
		{
			name: "a sidecar not ready: Degraded SidecarNotReady naming it, since the pod started",
			in:   Input{Workloads: []WorkloadObservation{dep("shop", "web", pods(sidecarIn("web-1", notReady), sidecarIn("web-2", notReady), sidecarIn("web-3")))}},
			want: want{rolledOut: 1, healthy: 0, ready: "False/SidecarNotReady", reconciling: "False/Succeeded", stalled: "False/Succeeded", degraded: "True/SidecarNotReady",
				entries: []string{"web/log-shipper/SidecarNotReady"}, messageHas: []string{`sidecar "log-shipper" is not ready in pod web-1 (and 1 more pods)`, "readinessProbe"}},
		},
		{
			name: "restarted 3 times, the last a minute ago: SidecarRestarting with the reason and where to look",
			in:   Input{Workloads: []WorkloadObservation{dep("shop", "web", pods(sidecarIn("web-1", terminated(time.Minute, 3, "Error"))))}},
			want: want{rolledOut: 1, healthy: 0, ready: "False/SidecarRestarting", reconciling: "False/Succeeded", stalled: "False/Succeeded", degraded: "True/SidecarRestarting",
				entries: []string{"web/log-shipper/SidecarRestarting"}, messageHas: []string{"restarted 3 times in pod web-1", "last terminated: Error", "--previous"}},
		},
		{
			name: "CrashLoopBackOff: SidecarRestarting",
			in:   Input{Workloads: []WorkloadObservation{dep("shop", "web", pods(sidecarIn("web-1", notReady, crashLooping, terminated(30*time.Second, 5, "Error"))))}},
			want: want{rolledOut: 1, healthy: 0, ready: "False/SidecarRestarting", reconciling: "False/Succeeded", stalled: "False/Succeeded", degraded: "True/SidecarRestarting",
				entries: []string{"web/log-shipper/SidecarRestarting"}, messageHas: []string{"CrashLoopBackOff after 5 restarts"}},
		},
		{
			name: "a restart long ago is history: healthy",
			in:   Input{Workloads: []WorkloadObservation{dep("shop", "web", pods(sidecarIn("web-1", terminated(2*time.Hour, 1, "Error"))))}},
			want: want{rolledOut: 1, healthy: 1, ready: "True/Succeeded", reconciling: "False/Succeeded", stalled: "False/Succeeded", degraded: "False/Healthy"},
		},
		{
			name: "restartPolicy stripped by another webhook: Degraded with the fix",
			in:   Input{Workloads: []WorkloadObservation{dep("shop", "web", pods(sidecarIn("web-1", stripped, notReady)))}},
			want: want{rolledOut: 1, healthy: 0, ready: "False/RestartPolicyStripped", reconciling: "False/Succeeded", stalled: "False/Succeeded", degraded: "True/RestartPolicyStripped",
				entries: []string{"web/log-shipper/RestartPolicyStripped"}, messageHas: []string{"without restartPolicy Always", "mutatingwebhookconfigurations"}},
		},
		{
			name: "a cluster without native sidecars: Stalled with the fix",
			in:   Input{NativeSidecarsUnsupported: "the cluster runs Kubernetes v1.28; native sidecars need 1.29 or newer: upgrade the cluster"},
			want: want{ready: "False/NativeSidecarsUnsupported", reconciling: "False/Succeeded", stalled: "True/NativeSidecarsUnsupported", degraded: "False/Healthy"},
		},
		{
			name: "a conflict outranks a sidecar problem in the list and in Ready",
			in: Input{Workloads: []WorkloadObservation{
				dep("shop", "a-web", pods(sidecarIn("a-web-1", notReady))),
				dep("shop", "z-api", conflicted(containerClash)),
			}},
			want: want{rolledOut: 1, healthy: 0, ready: "False/Conflict", reconciling: "False/Succeeded", stalled: "True/Conflict", degraded: "True/SidecarNotReady",
				entries: []string{"z-api//Conflict", "a-web/log-shipper/SidecarNotReady"}},
		},
		{
			name: "two sidecars with problems in one workload: one entry each",
			in: Input{Workloads: []WorkloadObservation{dep("shop", "web", pods(
				sidecarIn("web-1", notReady), sidecarIn("web-1", func(s *SidecarObservation) { s.Name = "proxy" }, terminated(time.Minute, 1, "OOMKilled"))))}},
			want: want{rolledOut: 1, healthy: 0, ready: "False/SidecarNotReady", reconciling: "False/Succeeded", stalled: "False/Succeeded", degraded: "True/SidecarNotReady",
				entries: []string{"web/log-shipper/SidecarNotReady", "web/proxy/SidecarRestarting"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Generation, tc.in.Revision, tc.in.Now = 3, rev, t1
			st := Compute(v1alpha1.SidecarProfileStatus{}, tc.in)
			checkInvariants(t, tc.in, st)
			if st.RolledOut != tc.want.rolledOut || st.Healthy != tc.want.healthy {
				t.Errorf("rolledOut/healthy = %d/%d, want %d/%d", st.RolledOut, st.Healthy, tc.want.rolledOut, tc.want.healthy)
			}
			for typ, w := range map[string]string{v1alpha1.ConditionReady: tc.want.ready, v1alpha1.ConditionReconciling: tc.want.reconciling,
				v1alpha1.ConditionStalled: tc.want.stalled, v1alpha1.ConditionDegraded: tc.want.degraded} {
				parts := strings.SplitN(w, "/", 2)
				checkCond(t, st, typ, wantCond{status: metav1.ConditionStatus(parts[0]), reason: parts[1]})
			}
			var got []string
			for _, a := range st.NeedsAttention {
				got = append(got, a.Name+"/"+a.Sidecar+"/"+a.Reason)
			}
			if strings.Join(got, " ") != strings.Join(tc.want.entries, " ") {
				t.Errorf("needsAttention = %v, want %v", got, tc.want.entries)
			}
			for _, m := range tc.want.messageHas {
				if len(st.NeedsAttention) == 0 || !strings.Contains(st.NeedsAttention[0].Message, m) {
					t.Errorf("first entry's message does not contain %q: %+v", m, st.NeedsAttention)
				}
			}
			if tc.want.since != nil && (len(st.NeedsAttention) == 0 || !st.NeedsAttention[0].Since.Equal(tc.want.since)) {
				t.Errorf("since = %v, want %v", st.NeedsAttention, tc.want.since)
			}
		})
	}
}

// A recent restart keeps the profile Degraded only for RecentRestartWindow: the reconciler is asked to look
// again when the window closes, although nothing else may change.
func TestRecheckAfter(t *testing.T) {
	in := Input{Now: t1, Workloads: []WorkloadObservation{dep("shop", "web", pods(
		sidecarIn("web-1", terminated(4*time.Minute, 1, "Error")), sidecarIn("web-2", terminated(8*time.Minute, 1, "Error"))))}}
	if got, want := RecheckAfter(in), 2*time.Minute+time.Second; got != want {
		t.Errorf("RecheckAfter = %v, want %v (when web-2's restart leaves the window)", got, want)
	}
	in.Workloads = []WorkloadObservation{dep("shop", "web", pods(sidecarIn("web-1")))}
	if got := RecheckAfter(in); got != 0 {
		t.Errorf("RecheckAfter = %v with no recent restart, want 0", got)
	}
}
