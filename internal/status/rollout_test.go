package status

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// fleetOf is n Deployments ranked in name order, carrying live, their sidecars ready since t1 in one pod each.
func fleetOf(n int, live string, mods ...func(i int, w *WorkloadObservation)) []WorkloadObservation {
	var ws []WorkloadObservation
	for i := range n {
		w := dep("shop", fmt.Sprintf("w%02d", i), func(w *WorkloadObservation) {
			w.LiveRevision, w.Rank = live, fmt.Sprintf("1%02d", i)
			w.Sidecars = []SidecarObservation{{Pod: w.Name + "-pod", Name: "log-shipper", Revision: live, Started: true, Ready: true, PodStarted: &t1}}
		})
		for _, m := range mods {
			m(i, &w)
		}
		ws = append(ws, w)
	}
	return ws
}

// carries makes the first k workloads carry the revision, in their pods too.
func carries(k int, r string) func(int, *WorkloadObservation) {
	return func(i int, w *WorkloadObservation) {
		if i < k {
			w.LiveRevision = r
			for j := range w.Sidecars {
				w.Sidecars[j].Revision = r
			}
		}
	}
}

func at(d time.Duration) metav1.Time { return metav1.NewTime(t1.Add(d)) }

func TestCompute_RolloutInWaves(t *testing.T) {
	strategy := v1alpha1.RolloutStrategy{Waves: []intstr.IntOrString{intstr.FromInt32(1), intstr.FromString("50%")}, MinHealthySeconds: ptr.To[int32](60)}
	wave1 := &v1alpha1.RolloutStatus{StableRevision: oldRev, CandidateRevision: rev, Wave: 1, Waves: 3, Rank: "100", WaveOpened: &t1}
	crashing := func(i int, w *WorkloadObservation) {
		if i == 0 {
			w.Sidecars[0].Waiting, w.Sidecars[0].RestartCount = "CrashLoopBackOff", 4
		}
	}
	for _, tc := range []struct {
		name     string
		prev     *v1alpha1.RolloutStatus
		ws       []WorkloadObservation
		strategy v1alpha1.RolloutStrategy
		now      time.Duration
		// want
		wave, waves   int32
		stable, cand  string
		halted        bool
		ready, recon  wantCond
		stalledReason string
	}{
		{
			name: "a new revision opens the canary wave at once", ws: fleetOf(10, oldRev), strategy: strategy,
			prev: &v1alpha1.RolloutStatus{StableRevision: oldRev},
			wave: 1, waves: 3, stable: oldRev, cand: rev,
			ready:         wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonRolloutInWaves, msg: []string{"0 of 10 selected workloads carry it", "wave 1 of 3 is open", "Deployment shop/w00 does not carry the candidate yet", "1 writes pending"}},
			recon:         wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonRolloutInWaves},
			stalledReason: v1alpha1.ReasonSucceeded,
		},
		{
			name: "the canary healthy for less than minHealthySeconds keeps the gate shut", ws: fleetOf(10, oldRev, carries(1, rev)), strategy: strategy,
			prev: wave1, now: 30 * time.Second,
			wave: 1, waves: 3, stable: oldRev, cand: rev,
			ready:         wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonRolloutInWaves, msg: []string{"1 of 10", "ready for less than minHealthySeconds (1m0s)"}},
			recon:         wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonRolloutInWaves},
			stalledReason: v1alpha1.ReasonSucceeded,
		},
		{
			name: "the canary healthy long enough opens the next wave", ws: fleetOf(10, oldRev, carries(1, rev)), strategy: strategy,
			prev: wave1, now: 61 * time.Second,
			wave: 2, waves: 3, stable: oldRev, cand: rev,
			ready:         wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonRolloutInWaves, msg: []string{"wave 2 of 3 is open"}},
			recon:         wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonRolloutInWaves},
			stalledReason: v1alpha1.ReasonSucceeded,
		},
		{
			name: "a crash-looping sidecar in the canary halts the rollout", ws: fleetOf(10, oldRev, carries(1, rev), crashing), strategy: strategy,
			prev: wave1, now: 10 * time.Second,
			wave: 1, waves: 3, stable: oldRev, cand: rev, halted: true,
			ready:         wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonRolloutHalted},
			recon:         wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonRolloutHalted},
			stalledReason: v1alpha1.ReasonRolloutHalted,
		},
		{
			name: "a wave past its progress deadline halts the rollout", ws: fleetOf(10, oldRev, carries(1, rev), func(i int, w *WorkloadObservation) {
				if i == 0 {
					w.Rollout.Done = false
				}
			}), strategy: strategy,
			prev: wave1, now: 11 * time.Minute,
			wave: 1, waves: 3, stable: oldRev, cand: rev, halted: true,
			ready:         wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonRolloutHalted, msg: []string{"progressDeadlineSeconds", "Deployment shop/w00 has not rolled the candidate out yet"}},
			recon:         wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonRolloutHalted},
			stalledReason: v1alpha1.ReasonRolloutHalted,
		},
		{
			name: "paused: no further wave opens", ws: fleetOf(10, oldRev, carries(1, rev)),
			strategy: v1alpha1.RolloutStrategy{Waves: strategy.Waves, MinHealthySeconds: ptr.To[int32](0), Paused: true},
			prev:     wave1, now: time.Hour,
			wave: 1, waves: 3, stable: oldRev, cand: rev,
			ready:         wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonWavesPaused, msg: []string{"paused at wave 1 of 3", "spec.rollout.paused to false"}},
			recon:         wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonWavesPaused},
			stalledReason: v1alpha1.ReasonSucceeded,
		},
		{
			name: "every wave through: the candidate is stable, Ready", ws: fleetOf(10, rev), strategy: strategy,
			prev: &v1alpha1.RolloutStatus{StableRevision: oldRev, CandidateRevision: rev, Wave: 3, Waves: 3, Rank: "109", WaveOpened: &t1}, now: 2 * time.Minute,
			stable:        rev,
			ready:         wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonSucceeded},
			recon:         wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonSucceeded},
			stalledReason: v1alpha1.ReasonSucceeded,
		},
		{
			name: "an upgrade from a version without waves: what the workloads carry is stable", ws: fleetOf(10, rev), strategy: strategy,
			stable:        rev,
			ready:         wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonSucceeded},
			recon:         wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonSucceeded},
			stalledReason: v1alpha1.ReasonSucceeded,
		},
		{
			name: "a revert to the stable revision ends the rollout: the canary gets it back", strategy: strategy,
			prev: wave1, now: time.Minute,
			stable:        rev,
			ready:         wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonProgressing, msg: []string{"9 of 10", "1 writes pending"}},
			recon:         wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonProgressing},
			stalledReason: v1alpha1.ReasonSucceeded,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Generation: 2, Revision: rev, Now: at(tc.now), Workloads: tc.ws, Strategy: tc.strategy,
				Revisions: RevisionStore{Namespace: "outrigger-system", Profile: "logs"}}
			// A revert: the current revision is what was stable.
			if strings.HasPrefix(tc.name, "a revert") {
				in.Revision = oldRev
				in.Workloads = fleetOf(10, oldRev, carries(1, rev))
				tc.prev = &v1alpha1.RolloutStatus{StableRevision: oldRev, CandidateRevision: rev, Wave: 1, Waves: 3, Rank: "100", WaveOpened: &t1}
				tc.stable = oldRev
			}
			st := Compute(v1alpha1.SidecarProfileStatus{Rollout: tc.prev}, in)
			checkInvariants(t, in, st)
			r := st.Rollout
			if r == nil {
				t.Fatal("no status.rollout")
			}
			if r.Wave != tc.wave || r.Waves != tc.waves || r.StableRevision != tc.stable || r.CandidateRevision != tc.cand || (r.Halted != "") != tc.halted {
				t.Errorf("rollout = wave %d of %d, stable %q, candidate %q, halted %q; want wave %d of %d, stable %q, candidate %q, halted %v",
					r.Wave, r.Waves, r.StableRevision, r.CandidateRevision, r.Halted, tc.wave, tc.waves, tc.stable, tc.cand, tc.halted)
			}
			checkCond(t, st, v1alpha1.ConditionReady, tc.ready)
			checkCond(t, st, v1alpha1.ConditionReconciling, tc.recon)
			if c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionStalled); c.Reason != tc.stalledReason {
				t.Errorf("Stalled reason %s (%s), want %s", c.Reason, c.Message, tc.stalledReason)
			}
		})
	}
}

// A halted rollout says where it stopped, what the others have, and both ways on, with the command that shows
// the stable revision's content.
func TestCompute_HaltedMessageGivesTheWayOn(t *testing.T) {
	ws := fleetOf(10, oldRev, carries(1, rev), func(i int, w *WorkloadObservation) {
		if i == 0 {
			w.Sidecars[0].Waiting, w.Sidecars[0].RestartCount = "CrashLoopBackOff", 4
		}
	})
	prev := &v1alpha1.RolloutStatus{StableRevision: oldRev, CandidateRevision: rev, Wave: 1, Waves: 3, Rank: "100", WaveOpened: &t1}
	in := Input{Generation: 2, Revision: rev, Now: at(time.Second), Workloads: ws, Revisions: RevisionStore{Namespace: "outrigger-system", Profile: "logs"}}
	st := Compute(v1alpha1.SidecarProfileStatus{Rollout: prev}, in)
	checkCond(t, st, v1alpha1.ConditionStalled, wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonRolloutHalted, msg: []string{
		"the rollout of revision rev-2 halted: wave 1 of 3: Deployment shop/w00",
		"CrashLoopBackOff",
		"1 of 10 selected workloads carry it, the others and new workloads keep revision rev-1",
		"Fix the sidecar in spec",
		"kubectl get controllerrevision -n outrigger-system logs-rev-1",
	}})
	// Halted stays halted, whatever the workloads do next, until the spec changes.
	healed := fleetOf(10, oldRev, carries(1, rev))
	again := Compute(st, Input{Generation: 2, Revision: rev, Now: at(time.Hour), Workloads: healed})
	if again.Rollout.Halted == "" {
		t.Errorf("a halt cleared itself: %+v", again.Rollout)
	}
	fixed := Compute(st, Input{Generation: 3, Revision: "rev-3", Now: at(time.Hour), Workloads: healed})
	if r := fixed.Rollout; r.Halted != "" || r.CandidateRevision != "rev-3" || r.Wave != 1 || r.StableRevision != oldRev {
		t.Errorf("a new spec after a halt: %+v, want rev-3 from wave 1 with rev-1 stable", r)
	}
}

// Workloads outside the open waves are not pending: they wait for their wave, and need no write now.
func TestCompute_WorkloadsOutsideTheWavesAreNotPending(t *testing.T) {
	prev := &v1alpha1.RolloutStatus{StableRevision: oldRev, CandidateRevision: rev, Wave: 1, Waves: 3, Rank: "100", WaveOpened: &t1}
	st := Compute(v1alpha1.SidecarProfileStatus{Rollout: prev}, Input{Generation: 2, Revision: rev, Now: at(time.Second), Workloads: fleetOf(10, oldRev, carries(1, rev))})
	if st.UpToDate != 1 || st.Matched != 10 {
		t.Errorf("upToDate %d of %d, want 1 of 10", st.UpToDate, st.Matched)
	}
	checkCond(t, st, v1alpha1.ConditionReady, wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonRolloutInWaves, msg: []string{"1 of 10 selected workloads carry it"}})
	if c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionReady); strings.Contains(c.Message, "writes pending") {
		t.Errorf("Ready message counts the workloads outside the waves as pending: %s", c.Message)
	}
	if len(st.Rollout.Revisions) != 2 || st.Rollout.Revisions[0] != (v1alpha1.RevisionCount{Revision: oldRev, Workloads: 9}) {
		t.Errorf("revisions = %+v, want rev-1: 9, rev-2: 1", st.Rollout.Revisions)
	}
}
