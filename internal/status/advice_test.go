package status

import (
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/advice"
	"github.com/outrigger-dev/outrigger/internal/inject"
)

func advised(reason, sidecar, msg string) func(*WorkloadObservation) {
	return func(w *WorkloadObservation) {
		w.Advice = append(w.Advice, advice.Advice{Profile: inject.ProfileRef{Kind: inject.KindSidecarProfile, Name: "logs"},
			Sidecar: sidecar, Reason: reason, Message: msg})
	}
}

var probeAdvice = advised(v1alpha1.ReasonStartupProbeInJob, "proxy", "has a startupProbe in a pod with restartPolicy Never")

// Advice is listed, ranked below sidecar problems and above what is left alone on purpose, and changes no condition.
func TestCompute_AdviceIsListedBelowSidecarProblemsAndChangesNoCondition(t *testing.T) {
	for _, tc := range []struct {
		name      string
		workloads []WorkloadObservation
		order     []string // name/reason of the entries
		ready     wantCond
		stalled   metav1.ConditionStatus
		degraded  metav1.ConditionStatus
	}{{
		name:      "advice alone: Ready, with the advice counted in the message",
		workloads: []WorkloadObservation{dep("shop", "web", probeAdvice)},
		order:     []string{"web/" + v1alpha1.ReasonStartupProbeInJob},
		ready: wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonSucceeded,
			msg: []string{"1 pieces of advice"}, notMsg: []string{"left as they are"}},
		stalled: metav1.ConditionFalse, degraded: metav1.ConditionFalse,
	}, {
		name: "below a sidecar problem, above an outdated workload",
		workloads: []WorkloadObservation{
			dep("shop", "a-outdated", kept),
			dep("shop", "b-advised", probeAdvice),
			dep("shop", "c-degraded", pods(sidecarIn("c-1", notReady))),
		},
		order: []string{"c-degraded/" + v1alpha1.ReasonSidecarNotReady, "b-advised/" + v1alpha1.ReasonStartupProbeInJob,
			"a-outdated/" + v1alpha1.ReasonOutdated},
		ready:   wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonSidecarNotReady},
		stalled: metav1.ConditionFalse, degraded: metav1.ConditionTrue,
	}, {
		name: "below a conflict, which alone stalls",
		workloads: []WorkloadObservation{
			dep("shop", "a-advised", probeAdvice),
			dep("shop", "z-conflicted", conflicted(containerClash)),
		},
		order:   []string{"z-conflicted/" + v1alpha1.ReasonConflict, "a-advised/" + v1alpha1.ReasonStartupProbeInJob},
		ready:   wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonConflict, msg: []string{"z-conflicted"}},
		stalled: metav1.ConditionTrue, degraded: metav1.ConditionFalse,
	}, {
		name:      "two pieces on one workload, ordered by sidecar then reason",
		workloads: []WorkloadObservation{dep("shop", "web", advised(v1alpha1.ReasonQuotaRefusesSidecars, "", "quota"), probeAdvice)},
		order:     []string{"web/" + v1alpha1.ReasonQuotaRefusesSidecars, "web/" + v1alpha1.ReasonStartupProbeInJob},
		ready:     wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonSucceeded, msg: []string{"2 pieces of advice"}},
		stalled:   metav1.ConditionFalse, degraded: metav1.ConditionFalse,
	}, {
		name:      "a workload the profile no longer selects: no advice",
		workloads: []WorkloadObservation{dep("shop", "web", probeAdvice, notSelected, live(""))},
		ready:     wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonSucceeded, notMsg: []string{"advice"}},
		stalled:   metav1.ConditionFalse, degraded: metav1.ConditionFalse,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Generation: 1, Revision: rev, Now: t1, Workloads: tc.workloads}
			st := Compute(v1alpha1.SidecarProfileStatus{}, in)
			checkInvariants(t, in, st)
			var got []string
			for _, a := range st.NeedsAttention {
				got = append(got, a.Name+"/"+a.Reason)
			}
			if strings.Join(got, " ") != strings.Join(tc.order, " ") {
				t.Errorf("needsAttention %v, want %v", got, tc.order)
			}
			checkCond(t, st, v1alpha1.ConditionReady, tc.ready)
			checkCond(t, st, v1alpha1.ConditionStalled, wantCond{status: tc.stalled, reason: stalledReasonFor(tc.stalled)})
			if c := condition(st, v1alpha1.ConditionDegraded); c.Status != tc.degraded {
				t.Errorf("Degraded = %s, want %s", c.Status, tc.degraded)
			}
		})
	}
}

func stalledReasonFor(s metav1.ConditionStatus) string {
	if s == metav1.ConditionTrue {
		return v1alpha1.ReasonConflict
	}
	return v1alpha1.ReasonSucceeded
}

func condition(st v1alpha1.SidecarProfileStatus, typ string) metav1.Condition {
	for _, c := range st.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{}
}

// The entry carries the sidecar, the reason and the message of the advice, cut to the CRD's bound.
func TestCompute_AdviceEntryCarriesSidecarReasonAndBoundedMessage(t *testing.T) {
	long := strings.Repeat("é", 800)
	in := Input{Generation: 1, Revision: rev, Now: t1, Workloads: []WorkloadObservation{
		dep("shop", "web", advised(v1alpha1.ReasonGracePeriodTooShort, "proxy", long))}}
	st := Compute(v1alpha1.SidecarProfileStatus{}, in)
	checkInvariants(t, in, st)
	if len(st.NeedsAttention) != 1 {
		t.Fatalf("needsAttention = %+v", st.NeedsAttention)
	}
	a := st.NeedsAttention[0]
	if a.Sidecar != "proxy" || a.Reason != v1alpha1.ReasonGracePeriodTooShort || !strings.HasSuffix(a.Message, "...") {
		t.Errorf("entry = %s/%s %q...", a.Sidecar, a.Reason, a.Message[:20])
	}
	if a != AdviceEntry(in.Workloads[0], in.Workloads[0].Advice[0]) {
		t.Errorf("AdviceEntry differs from the status entry: the reconciler would tell it again at every reconcile")
	}
}

// Advice never pushes a problem out of the bounded list: 25 workloads with advice and one conflicted, the
// conflict is first.
func TestCompute_AdviceNeverHidesWhatStalls(t *testing.T) {
	var ws []WorkloadObservation
	for i := range 25 {
		ws = append(ws, dep("shop", fmt.Sprintf("a-%02d", i), probeAdvice))
	}
	ws = append(ws, dep("shop", "z-conflicted", conflicted(containerClash)))
	in := Input{Generation: 1, Revision: rev, Now: t1, Workloads: ws}
	st := Compute(v1alpha1.SidecarProfileStatus{}, in)
	checkInvariants(t, in, st)
	if st.NeedsAttention[0].Name != "z-conflicted" || st.NeedsAttentionOmitted != 6 {
		t.Errorf("first entry %s, %d omitted; want z-conflicted, 6", st.NeedsAttention[0].Name, st.NeedsAttentionOmitted)
	}
}
