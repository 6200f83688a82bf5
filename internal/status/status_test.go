package status

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/selection"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// Unit tests of the status computation: pure, no apiserver.

const (
	rev    = "rev-2" // the profile's current revision
	oldRev = "rev-1"
	// maxMessage is the MaxLength of status.needsAttention[].message.
	maxMessage = 1024
	// maxConditionMessage is the MaxLength of metav1.Condition.message in the CRD.
	maxConditionMessage = 32768
)

var (
	t1 = metav1.NewTime(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	t2 = metav1.NewTime(time.Date(2025, 3, 1, 13, 0, 0, 0, time.UTC))
)

// obs is a workload observation: selected, carrying the current revision, its own rollout done, unless changed
// by mods.
func obs(kind v1alpha1.WorkloadKind, ns, name string, mods ...func(*WorkloadObservation)) WorkloadObservation {
	w := WorkloadObservation{Kind: kind, Namespace: ns, Name: name, Selected: true, LiveRevision: rev, Outcome: inject.Injected,
		Rollout: workload.Rollout{Done: true}}
	for _, m := range mods {
		m(&w)
	}
	return w
}

func dep(ns, name string, mods ...func(*WorkloadObservation)) WorkloadObservation {
	return obs(v1alpha1.KindDeployment, ns, name, mods...)
}

func live(r string) func(*WorkloadObservation) {
	return func(w *WorkloadObservation) { w.LiveRevision = r }
}

func notSelected(w *WorkloadObservation) { w.Selected, w.Outcome = false, "" }

func kept(w *WorkloadObservation) { w.Outcome, w.LiveRevision = inject.Kept, oldRev }

func notInjected(w *WorkloadObservation) { w.Outcome, w.LiveRevision = inject.Skipped, "" }

func immutable(w *WorkloadObservation) { w.Immutable = true }

func conflicted(cs ...inject.Conflict) func(*WorkloadObservation) {
	return func(w *WorkloadObservation) { w.Outcome, w.LiveRevision, w.Conflicts = inject.Conflicted, "", cs }
}

// failed is a workload whose last write the apiserver refused.
func failed(msg string) func(*WorkloadObservation) {
	return failedWith(v1alpha1.ReasonWriteFailed, msg)
}

// failedWith is a workload Outrigger failed to read or write, for the reason given.
func failedWith(reason, msg string) func(*WorkloadObservation) {
	return func(w *WorkloadObservation) { w.Failure = Failure{Reason: reason, Message: msg} }
}

var containerClash = inject.Conflict{
	Field: "spec.sidecars[0].name", What: "container", Name: "log-shipper", Owner: inject.OwnerWorkload,
}

// notAdmitted is why an admission policy does not place a profile, as the policy reconciler says it.
const notAdmitted = "the admission policy of the Deployments of namespace shop, with its 301 profiles, cannot be compiled: " +
	"MutatingAdmissionPolicy outrigger.deployments.apps.shop: the policy as stored is 1780 KiB, more than the 1520 KiB the apiserver takes"

type wantCond struct {
	status metav1.ConditionStatus
	reason string
	// msg: the message must contain each of these.
	msg []string
	// exact, when set, is the whole message.
	exact string
	// notMsg: the message must contain none of these.
	notMsg []string
}

func checkCond(t *testing.T, st v1alpha1.SidecarProfileStatus, typ string, want wantCond) {
	t.Helper()
	c := meta.FindStatusCondition(st.Conditions, typ)
	if c == nil {
		t.Errorf("no %s condition in %+v", typ, st.Conditions)
		return
	}
	if c.Status != want.status || c.Reason != want.reason {
		t.Errorf("%s = %s/%s (%q), want %s/%s", typ, c.Status, c.Reason, c.Message, want.status, want.reason)
	}
	if want.exact != "" && c.Message != want.exact {
		t.Errorf("%s message = %q, want %q", typ, c.Message, want.exact)
	}
	for _, m := range want.msg {
		if !strings.Contains(c.Message, m) {
			t.Errorf("%s message %q does not contain %q", typ, c.Message, m)
		}
	}
	for _, m := range want.notMsg {
		if strings.Contains(c.Message, m) {
			t.Errorf("%s message %q contains %q", typ, c.Message, m)
		}
	}
}

// checkInvariants holds for every status Compute returns.
func checkInvariants(t *testing.T, in Input, st v1alpha1.SidecarProfileStatus) {
	t.Helper()
	if st.ObservedGeneration != in.Generation {
		t.Errorf("observedGeneration = %d, want %d", st.ObservedGeneration, in.Generation)
	}
	for _, typ := range []string{v1alpha1.ConditionReady, v1alpha1.ConditionReconciling, v1alpha1.ConditionStalled, v1alpha1.ConditionDegraded} {
		if meta.FindStatusCondition(st.Conditions, typ) == nil {
			t.Errorf("condition %s missing", typ)
		}
	}
	for _, c := range st.Conditions {
		if c.ObservedGeneration != in.Generation {
			t.Errorf("%s observedGeneration = %d, want %d", c.Type, c.ObservedGeneration, in.Generation)
		}
		if c.Reason == "" {
			t.Errorf("%s has no reason", c.Type)
		}
		if len(c.Message) > maxConditionMessage {
			t.Errorf("%s message is %d bytes, more than the CRD's %d", c.Type, len(c.Message), maxConditionMessage)
		}
	}
	if len(st.NeedsAttention) > v1alpha1.MaxNeedsAttention {
		t.Errorf("%d needsAttention entries, more than %d", len(st.NeedsAttention), v1alpha1.MaxNeedsAttention)
	}
	if !sort.SliceIsSorted(st.NeedsAttention, func(i, j int) bool {
		a, b := st.NeedsAttention[i], st.NeedsAttention[j]
		if severity(a) != severity(b) {
			return severity(a) < severity(b)
		}
		if attentionKey(a) != attentionKey(b) {
			return attentionKey(a) < attentionKey(b)
		}
		return a.Sidecar < b.Sidecar
	}) {
		t.Errorf("needsAttention not sorted: conflicts and refused writes first, then by kind/namespace/name: %+v", st.NeedsAttention)
	}
	for _, a := range st.NeedsAttention {
		if len(a.Message) > maxMessage {
			t.Errorf("needsAttention %s/%s message is %d bytes, more than %d", a.Namespace, a.Name, len(a.Message), maxMessage)
		}
	}
	ready := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionReady)
	stalled := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionStalled)
	if ready != nil && stalled != nil && ready.Status == metav1.ConditionTrue && stalled.Status == metav1.ConditionTrue {
		t.Errorf("Ready and Stalled both True")
	}
}

type wantAttention struct {
	name, reason string
	msg          []string // substrings of the entry's message
}

func TestCompute(t *testing.T) {
	succeeded := wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonSucceeded}
	tests := []struct {
		name                        string
		in                          Input
		matched, injected, upToDate int32
		ready, reconciling, stalled wantCond
		attention                   []wantAttention
	}{
		{
			name:        "no workloads",
			in:          Input{Generation: 7, Revision: rev},
			ready:       wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonSucceeded, exact: "no workload matches the selector"},
			reconciling: succeeded,
			stalled:     succeeded,
		},
		{
			name: "a workload no longer selected that carries nothing is ignored",
			in: Input{Generation: 1, Revision: rev, Workloads: []WorkloadObservation{
				dep("team-a", "web", notSelected, live("")),
			}},
			ready:       wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonSucceeded, exact: "no workload matches the selector"},
			reconciling: succeeded,
			stalled:     succeeded,
		},
		{
			name: "all selected workloads up to date",
			in: Input{Generation: 3, Revision: rev, Workloads: []WorkloadObservation{
				dep("team-a", "web"),
				dep("team-a", "api"),
				obs(v1alpha1.KindCronJob, "team-b", "nightly"),
			}},
			matched: 3, injected: 3, upToDate: 3,
			ready: wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonSucceeded,
				exact: "3 of 3 selected workloads carry the current sidecars (revision rev-2)"},
			reconciling: succeeded,
			stalled:     succeeded,
		},
		{
			name: "a selected workload not injected yet",
			in: Input{Generation: 2, Revision: rev, Workloads: []WorkloadObservation{
				dep("team-a", "web"),
				dep("team-a", "api", live("")),
			}},
			matched: 2, injected: 1, upToDate: 1,
			ready:       wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonProgressing, msg: []string{"1 of 2", "rev-2"}},
			reconciling: wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonProgressing, msg: []string{"1 of 2", "1 writes pending"}},
			stalled:     succeeded,
		},
		{
			name: "a selected workload at an older revision (Rollout)",
			in: Input{Generation: 2, Revision: rev, Workloads: []WorkloadObservation{
				dep("team-a", "web", live(oldRev)),
				dep("team-a", "api", live(oldRev)),
				dep("team-a", "db"),
			}},
			matched: 3, injected: 3, upToDate: 1,
			ready:       wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonProgressing, msg: []string{"1 of 3"}},
			reconciling: wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonProgressing, msg: []string{"1 of 3", "2 writes pending"}},
			stalled:     succeeded,
		},
		{
			name: "a workload no longer selected that still carries the profile: pending removal",
			in: Input{Generation: 4, Revision: rev, Workloads: []WorkloadObservation{
				dep("team-a", "web"),
				dep("team-a", "old", notSelected, live(oldRev)),
			}},
			matched: 1, injected: 1, upToDate: 1,
			ready:       wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonProgressing, msg: []string{"1 of 1"}},
			reconciling: wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonProgressing, msg: []string{"1 writes pending"}},
			stalled:     succeeded,
		},
		{
			name: "one conflict",
			in: Input{Generation: 5, Revision: rev, Workloads: []WorkloadObservation{
				dep("team-a", "web"),
				dep("team-a", "api", conflicted(containerClash)),
			}},
			matched: 2, injected: 1, upToDate: 1,
			ready: wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonConflict,
				exact: "Deployment team-a/api: " + containerClash.Message()},
			reconciling: succeeded,
			stalled: wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonConflict,
				exact: "Deployment team-a/api: " + containerClash.Message()},
			attention: []wantAttention{{name: "api", reason: v1alpha1.ReasonConflict, msg: []string{containerClash.Message()}}},
		},
		{
			name: "a listed kind the manager refused stalls the profile, over a conflict",
			in: Input{Generation: 5, Revision: rev, KindsNotServed: []string{"CloneSet: kinds[0] (apps.kruise.io/v1alpha1 CloneSet): podTemplatePath: no field tmpl"},
				Workloads: []WorkloadObservation{dep("team-a", "web"), dep("team-a", "api", conflicted(containerClash))}},
			matched: 2, injected: 1, upToDate: 1,
			ready:       wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonKindNotServed, msg: []string{"CloneSet: kinds[0]"}},
			reconciling: succeeded,
			stalled: wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonKindNotServed,
				exact: "workloadKinds lists a kind the manager does not serve, so its workloads get no sidecars: " +
					"CloneSet: kinds[0] (apps.kruise.io/v1alpha1 CloneSet): podTemplatePath: no field tmpl"},
			attention: []wantAttention{{name: "api", reason: v1alpha1.ReasonConflict, msg: []string{containerClash.Message()}}},
		},
		{
			name: "an admission policy that cannot place the profile stalls it, over a conflict",
			in: Input{Generation: 5, Revision: rev, NotAdmitted: notAdmitted,
				Workloads: []WorkloadObservation{dep("team-a", "web"), dep("team-a", "api", conflicted(containerClash))}},
			matched: 2, injected: 1, upToDate: 1,
			ready:       wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonAdmissionPolicyFailed, exact: notAdmitted},
			reconciling: succeeded,
			stalled:     wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonAdmissionPolicyFailed, exact: notAdmitted},
			attention:   []wantAttention{{name: "api", reason: v1alpha1.ReasonConflict, msg: []string{containerClash.Message()}}},
		},
		{
			name: "a conflict with several clashes joins them",
			in: Input{Generation: 5, Revision: rev, Workloads: []WorkloadObservation{
				dep("team-a", "api", conflicted(containerClash, inject.Conflict{
					Field: "spec.volumes[0].name", What: "volume", Name: "logs", Owner: "ClusterSidecarProfile/other",
				})),
			}},
			matched: 1,
			ready: wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonConflict,
				msg: []string{"Deployment team-a/api", `container "log-shipper"`, `; volume "logs"`, "ClusterSidecarProfile/other"}},
			reconciling: succeeded,
			stalled:     wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonConflict, msg: []string{`volume "logs"`}},
			attention: []wantAttention{{name: "api", reason: v1alpha1.ReasonConflict,
				msg: []string{`container "log-shipper"`, `volume "logs"`}}},
		},
		{
			name: "a conflict that kept an older revision",
			in: Input{Generation: 5, Revision: rev, Workloads: []WorkloadObservation{
				dep("team-a", "api", conflicted(containerClash), live(oldRev)),
			}},
			matched: 1, injected: 1, upToDate: 0,
			ready:       wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonConflict, msg: []string{"Deployment team-a/api"}},
			reconciling: succeeded,
			stalled:     wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonConflict},
			attention:   []wantAttention{{name: "api", reason: v1alpha1.ReasonConflict}},
		},
		{
			name: "several conflicts: the first by name is named, the others counted",
			in: Input{Generation: 5, Revision: rev, Workloads: []WorkloadObservation{
				dep("team-b", "zeta", conflicted(containerClash)),
				dep("team-a", "beta", conflicted(containerClash)),
				dep("team-a", "alpha", conflicted(containerClash)),
				dep("team-a", "ok"),
			}},
			matched: 4, injected: 1, upToDate: 1,
			ready: wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonConflict,
				msg: []string{"Deployment team-a/alpha: ", "(and 2 more workloads, see status.needsAttention)"}},
			reconciling: succeeded,
			stalled: wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonConflict,
				msg: []string{"Deployment team-a/alpha: ", "(and 2 more workloads"}},
			attention: []wantAttention{
				{name: "alpha", reason: v1alpha1.ReasonConflict},
				{name: "beta", reason: v1alpha1.ReasonConflict},
				{name: "zeta", reason: v1alpha1.ReasonConflict},
			},
		},
		{
			name: "a refused write",
			in: Input{Generation: 6, Revision: rev, Workloads: []WorkloadObservation{
				dep("team-a", "web", live(""), failed("admission webhook \"policy\" denied the request")),
			}},
			matched: 1,
			ready: wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonWriteFailed,
				exact: `Deployment team-a/web: admission webhook "policy" denied the request`},
			// The failed write is not counted as pending: retrying is on a timer, and Stalled says why.
			reconciling: succeeded,
			stalled: wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonWriteFailed,
				exact: `Deployment team-a/web: admission webhook "policy" denied the request`},
			attention: []wantAttention{{name: "web", reason: v1alpha1.ReasonWriteFailed, msg: []string{"denied the request"}}},
		},
		{
			name: "a failure wins over the outcome of the same workload, with its own reason",
			in: Input{Generation: 6, Revision: rev, Workloads: []WorkloadObservation{
				dep("team-a", "web", conflicted(containerClash), failedWith(v1alpha1.ReasonInvalidRecord, "record unreadable")),
			}},
			matched: 1,
			ready:   wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonInvalidRecord, msg: []string{"record unreadable"}},
			// Failures and conflicts are counted once per workload: no "and 1 more".
			reconciling: succeeded,
			stalled:     wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonInvalidRecord, notMsg: []string{"more workloads"}},
			attention:   []wantAttention{{name: "web", reason: v1alpha1.ReasonInvalidRecord}},
		},
		{
			name: "a failed read is told as such, not as a refused write",
			in: Input{Generation: 6, Revision: rev, Workloads: []WorkloadObservation{
				dep("team-a", "web", live(""), failedWith(v1alpha1.ReasonReadFailed, "listing SidecarProfiles: timeout")),
			}},
			matched: 1,
			ready: wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonReadFailed,
				exact: "Deployment team-a/web: listing SidecarProfiles: timeout"},
			reconciling: succeeded,
			stalled:     wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonReadFailed},
			attention:   []wantAttention{{name: "web", reason: v1alpha1.ReasonReadFailed, msg: []string{"timeout"}}},
		},
		{
			name: "a conflict and a refused write: reason Conflict",
			in: Input{Generation: 6, Revision: rev, Workloads: []WorkloadObservation{
				dep("team-a", "b-conflict", conflicted(containerClash)),
				dep("team-a", "a-failed", live(oldRev), failed("forbidden")),
			}},
			matched: 2, injected: 1,
			ready: wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonConflict,
				msg: []string{"Deployment team-a/a-failed: forbidden", "(and 1 more workloads"}},
			reconciling: succeeded,
			stalled:     wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonConflict, msg: []string{"(and 1 more workloads"}},
			attention: []wantAttention{
				{name: "a-failed", reason: v1alpha1.ReasonWriteFailed},
				{name: "b-conflict", reason: v1alpha1.ReasonConflict},
			},
		},
		{
			name: "a conflict while writes are pending: Stalled and Reconciling",
			in: Input{Generation: 6, Revision: rev, Workloads: []WorkloadObservation{
				dep("team-a", "api", conflicted(containerClash)),
				dep("team-a", "web", live(oldRev)),
			}},
			matched: 2, injected: 1,
			ready:       wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonConflict, msg: []string{"team-a/api"}},
			reconciling: wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonProgressing, msg: []string{"0 of 2", "1 writes pending"}},
			stalled:     wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonConflict},
			attention:   []wantAttention{{name: "api", reason: v1alpha1.ReasonConflict}},
		},
		{
			name: "Kept (OnCreate, outdated): Ready, reported as Outdated",
			in: Input{Generation: 8, Revision: rev, Workloads: []WorkloadObservation{
				dep("team-a", "web", kept),
				dep("team-a", "api"),
			}},
			matched: 2, injected: 2, upToDate: 1,
			ready: wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonSucceeded,
				msg: []string{"1 of 2", "1 left as they are (updatePolicy OnCreate", "status.needsAttention"}},
			reconciling: succeeded,
			stalled:     succeeded,
			attention: []wantAttention{{name: "web", reason: v1alpha1.ReasonOutdated,
				msg: []string{"rev-1", "rev-2", "updatePolicy", "OnCreate", "Deployment is recreated", "Rollout"}}},
		},
		{
			name: "Skipped (OnCreate, existed before): Ready, reported as NotInjected",
			in: Input{Generation: 8, Revision: rev, Workloads: []WorkloadObservation{
				obs(v1alpha1.KindCronJob, "team-a", "nightly", notInjected),
			}},
			matched: 1, injected: 0, upToDate: 0,
			ready: wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonSucceeded,
				msg: []string{"0 of 1", "1 left as they are (updatePolicy OnCreate"}},
			reconciling: succeeded,
			stalled:     succeeded,
			attention: []wantAttention{{name: "nightly", reason: v1alpha1.ReasonNotInjected,
				msg: []string{"existed before the profile", "updatePolicy is OnCreate", "CronJob is recreated"}}},
		},
		{
			name: "Job created before the profile: Ready, reported as NotInjected with how to fix it",
			in: Input{Generation: 8, Revision: rev, Workloads: []WorkloadObservation{
				obs(v1alpha1.KindJob, "team-a", "backfill", notInjected, immutable),
			}},
			matched: 1, injected: 0, upToDate: 0,
			ready: wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonSucceeded,
				msg: []string{"0 of 1", "1 left as they are", "Jobs that cannot change"}},
			reconciling: succeeded,
			stalled:     succeeded,
			attention: []wantAttention{{name: "backfill", reason: v1alpha1.ReasonNotInjected,
				msg: []string{"created before the profile", "admission webhook was unavailable", "re-create it"}}},
		},
		{
			name: "Job at an older revision: reported as Outdated, never pending",
			in: Input{Generation: 8, Revision: rev, Workloads: []WorkloadObservation{
				obs(v1alpha1.KindJob, "team-a", "backfill", kept, immutable),
			}},
			matched: 1, injected: 1, upToDate: 0,
			ready: wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonSucceeded,
				msg: []string{"0 of 1", "1 left as they are"}},
			reconciling: succeeded,
			stalled:     succeeded,
			attention: []wantAttention{{name: "backfill", reason: v1alpha1.ReasonOutdated,
				msg: []string{"cannot change after creation", "re-create it"}}},
		},
		{
			name: "a Job no longer selected keeps its sidecars: nothing pending",
			in: Input{Generation: 8, Revision: rev, Workloads: []WorkloadObservation{
				obs(v1alpha1.KindJob, "team-a", "backfill", notSelected, live(oldRev), immutable),
			}},
			matched: 0, injected: 0, upToDate: 0,
			ready: wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonSucceeded,
				msg: []string{"no workload matches the selector"}},
			reconciling: succeeded,
			stalled:     succeeded,
		},
		{
			name: "Kept and Skipped together",
			in: Input{Generation: 8, Revision: rev, Workloads: []WorkloadObservation{
				dep("team-a", "web", kept),
				dep("team-a", "api", notInjected),
				dep("team-a", "db"),
			}},
			matched: 3, injected: 2, upToDate: 1,
			ready: wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonSucceeded,
				msg: []string{"1 of 3", "2 left as they are"}},
			reconciling: succeeded,
			stalled:     succeeded,
			attention: []wantAttention{
				{name: "api", reason: v1alpha1.ReasonNotInjected},
				{name: "web", reason: v1alpha1.ReasonOutdated},
			},
		},
		{
			name: "deleting",
			in: Input{Generation: 9, Revision: rev, Deleting: true, Workloads: []WorkloadObservation{
				dep("team-a", "web"),
				dep("team-a", "api", live(oldRev)),
				dep("team-a", "clean", live("")),
			}},
			matched: 0, injected: 0, upToDate: 0,
			ready: wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonRemoving,
				msg: []string{"removing the sidecars from 2 workloads"}},
			reconciling: wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonRemoving,
				msg: []string{"removing the sidecars from 2 workloads"}},
			stalled: succeeded,
		},
		{
			name: "deleting: conflicts no longer matter",
			in: Input{Generation: 9, Revision: rev, Deleting: true, Workloads: []WorkloadObservation{
				dep("team-a", "web", conflicted(containerClash), live(oldRev)),
			}},
			ready:       wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonRemoving, msg: []string{"from 1 workloads"}},
			reconciling: wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonRemoving},
			stalled:     succeeded,
		},
		{
			name: "invalid spec",
			in: Input{Generation: 10, Revision: rev,
				SpecError: errors.New(`spec.selector is invalid: values[0][app]: Invalid value: "a b"`),
				Workloads: []WorkloadObservation{
					// With an unusable selector the reconciler selects nothing.
					dep("team-a", "web", notSelected, live(oldRev)),
				}},
			ready: wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonInvalidSpec,
				exact: `spec.selector is invalid: values[0][app]: Invalid value: "a b"`},
			reconciling: wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonInvalidSpec, msg: []string{"valid spec"}},
			stalled: wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonInvalidSpec,
				exact: `spec.selector is invalid: values[0][app]: Invalid value: "a b"`},
		},
		{
			name: "invalid spec comes first, even while deleting or in conflict",
			in: Input{Generation: 10, Revision: rev, Deleting: true,
				SpecError: errors.New("spec.selector is required: set it to {} to select every workload"),
				Workloads: []WorkloadObservation{dep("team-a", "web", conflicted(containerClash))}},
			ready:       wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonInvalidSpec, msg: []string{"spec.selector is required"}},
			reconciling: wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonInvalidSpec},
			stalled:     wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonInvalidSpec, msg: []string{"spec.selector is required"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Now = t1
			st := Compute(v1alpha1.SidecarProfileStatus{ObservedGeneration: -1}, tc.in)
			checkInvariants(t, tc.in, st)
			if st.Matched != tc.matched || st.Injected != tc.injected || st.UpToDate != tc.upToDate {
				t.Errorf("matched/injected/upToDate = %d/%d/%d, want %d/%d/%d",
					st.Matched, st.Injected, st.UpToDate, tc.matched, tc.injected, tc.upToDate)
			}
			checkCond(t, st, v1alpha1.ConditionReady, tc.ready)
			checkCond(t, st, v1alpha1.ConditionReconciling, tc.reconciling)
			checkCond(t, st, v1alpha1.ConditionStalled, tc.stalled)
			checkCond(t, st, v1alpha1.ConditionDegraded, wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonHealthy})
			if len(st.Conditions) != 4 {
				t.Errorf("%d conditions, want 4: %+v", len(st.Conditions), st.Conditions)
			}
			for _, c := range st.Conditions {
				if !c.LastTransitionTime.Equal(&t1) {
					t.Errorf("%s lastTransitionTime = %v, want %v (no previous condition)", c.Type, c.LastTransitionTime, t1)
				}
			}
			if len(st.NeedsAttention) != len(tc.attention) {
				t.Fatalf("needsAttention = %+v, want %d entries %+v", st.NeedsAttention, len(tc.attention), tc.attention)
			}
			for i, want := range tc.attention {
				got := st.NeedsAttention[i]
				if got.Name != want.name || got.Reason != want.reason {
					t.Errorf("needsAttention[%d] = %s/%s, want %s/%s", i, got.Name, got.Reason, want.name, want.reason)
				}
				for _, m := range want.msg {
					if !strings.Contains(got.Message, m) {
						t.Errorf("needsAttention[%d] message %q does not contain %q", i, got.Message, m)
					}
				}
			}
			if st.NeedsAttentionOmitted != 0 {
				t.Errorf("needsAttentionOmitted = %d, want 0", st.NeedsAttentionOmitted)
			}
		})
	}
}

// manyWorkloads returns n observations across kinds and namespaces, in an order that is not sorted.
func manyWorkloads(n int, mod func(*WorkloadObservation)) []WorkloadObservation {
	kinds := []v1alpha1.WorkloadKind{v1alpha1.KindJob, v1alpha1.KindDeployment, v1alpha1.KindCronJob}
	var ws []WorkloadObservation
	for i := n - 1; i >= 0; i-- {
		ws = append(ws, obs(kinds[i%3], fmt.Sprintf("ns-%d", i%4), fmt.Sprintf("w-%02d", i), mod))
	}
	return ws
}

func TestCompute_BoundsNeedsAttention(t *testing.T) {
	tests := []struct {
		name        string
		mod         func(*WorkloadObservation)
		wantReason  string
		wantReady   metav1.ConditionStatus
		wantStalled metav1.ConditionStatus
		onCreate    bool // kept and not injected are what updatePolicy OnCreate leaves
	}{
		{"outdated", kept, v1alpha1.ReasonOutdated, metav1.ConditionTrue, metav1.ConditionFalse, true},
		{"not injected", notInjected, v1alpha1.ReasonNotInjected, metav1.ConditionTrue, metav1.ConditionFalse, true},
		{"conflicts", conflicted(containerClash), v1alpha1.ReasonConflict, metav1.ConditionFalse, metav1.ConditionTrue, false},
		{"refused writes", failed("forbidden"), v1alpha1.ReasonWriteFailed, metav1.ConditionFalse, metav1.ConditionTrue, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Generation: 2, Revision: rev, Now: t1, Workloads: manyWorkloads(25, tc.mod), OnCreate: tc.onCreate}
			st := Compute(v1alpha1.SidecarProfileStatus{}, in)
			checkInvariants(t, in, st)
			if st.Matched != 25 {
				t.Errorf("matched = %d, want 25", st.Matched)
			}
			if len(st.NeedsAttention) != v1alpha1.MaxNeedsAttention {
				t.Fatalf("%d needsAttention entries, want %d", len(st.NeedsAttention), v1alpha1.MaxNeedsAttention)
			}
			if st.NeedsAttentionOmitted != 5 {
				t.Errorf("needsAttentionOmitted = %d, want 5", st.NeedsAttentionOmitted)
			}
			// The entries are the first 20 of all 25 by kind, namespace and name.
			var all []string
			for _, w := range in.Workloads {
				all = append(all, string(w.Kind)+"/"+w.Namespace+"/"+w.Name)
			}
			sort.Strings(all)
			for i, a := range st.NeedsAttention {
				if got := attentionKey(a); got != all[i] {
					t.Errorf("needsAttention[%d] = %s, want %s", i, got, all[i])
				}
				if a.Reason != tc.wantReason {
					t.Errorf("needsAttention[%d] reason = %s, want %s", i, a.Reason, tc.wantReason)
				}
			}
			if first := st.NeedsAttention[0]; first.Kind != v1alpha1.KindCronJob || first.Namespace != "ns-0" {
				t.Errorf("first entry %s/%s/%s, want a CronJob in ns-0", first.Kind, first.Namespace, first.Name)
			}
			if c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionReady); c.Status != tc.wantReady {
				t.Errorf("Ready = %s, want %s", c.Status, tc.wantReady)
			}
			if c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionStalled); c.Status != tc.wantStalled {
				t.Errorf("Stalled = %s, want %s", c.Status, tc.wantStalled)
			}
			if tc.wantStalled == metav1.ConditionTrue {
				checkCond(t, st, v1alpha1.ConditionStalled, wantCond{status: metav1.ConditionTrue, reason: tc.wantReason,
					msg: []string{"CronJob ns-0/", "(and 24 more workloads"}})
			}
		})
	}

	// Exactly MaxNeedsAttention: nothing omitted.
	in := Input{Generation: 2, Revision: rev, Now: t1, Workloads: manyWorkloads(v1alpha1.MaxNeedsAttention, kept)}
	st := Compute(v1alpha1.SidecarProfileStatus{}, in)
	if len(st.NeedsAttention) != v1alpha1.MaxNeedsAttention || st.NeedsAttentionOmitted != 0 {
		t.Errorf("20 outdated: %d entries, %d omitted; want 20, 0", len(st.NeedsAttention), st.NeedsAttentionOmitted)
	}
}

// Regression: the Ready message counts the workloads left alone by OnCreate with len(t.attention) after Compute
// has cut the list to MaxNeedsAttention, so 25 outdated workloads are reported as "20 left as they are". The
// count should be of all of them (20 listed + needsAttentionOmitted).
func TestCompute_ReadyMessageCountsOmittedAttention(t *testing.T) {
	in := Input{Generation: 2, Revision: rev, Now: t1, Workloads: manyWorkloads(25, kept), OnCreate: true}
	st := Compute(v1alpha1.SidecarProfileStatus{}, in)
	checkCond(t, st, v1alpha1.ConditionReady, wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonSucceeded,
		msg: []string{"0 of 25", "25 left as they are (updatePolicy OnCreate"}})
}

// Regression: needsAttention is cut to MaxNeedsAttention by name alone, before the Stalled message is made from it. When
// 20 workloads that are merely outdated (OnCreate) sort before the one in conflict, the conflicted workload is
// neither listed in needsAttention nor named in Ready/Stalled, which fall back to "1 workloads have conflicts or
// refused writes": a person cannot find which workload stalls the profile. Conflicts and refused writes should
// be named (kept in the list first, or the message made before the cut).
func TestCompute_StalledNamesAConflictHiddenByOutdatedWorkloads(t *testing.T) {
	var ws []WorkloadObservation
	for i := range v1alpha1.MaxNeedsAttention {
		ws = append(ws, dep("team-a", fmt.Sprintf("a-%02d", i), kept))
	}
	ws = append(ws, dep("team-a", "z-conflicted", conflicted(containerClash)))
	in := Input{Generation: 2, Revision: rev, Now: t1, Workloads: ws}
	st := Compute(v1alpha1.SidecarProfileStatus{}, in)
	checkCond(t, st, v1alpha1.ConditionStalled, wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonConflict,
		msg: []string{"Deployment team-a/z-conflicted", containerClash.Message()}})
	listed := false
	for _, a := range st.NeedsAttention {
		listed = listed || a.Name == "z-conflicted"
	}
	if !listed {
		t.Errorf("the conflicted workload is not in needsAttention (%d entries, %d omitted)",
			len(st.NeedsAttention), st.NeedsAttentionOmitted)
	}
}

func TestCompute_TruncatesLongMessages(t *testing.T) {
	longName := strings.Repeat("x", 3000)
	longClash := inject.Conflict{Field: "spec.appContainerMounts[0].mountPath", What: "mount path",
		Name: "/" + longName, Container: "app", Owner: inject.OwnerWorkload}
	tests := []struct {
		name   string
		ws     []WorkloadObservation
		reason string
	}{
		{"one long conflict", []WorkloadObservation{dep("team-a", "web", conflicted(longClash))}, v1alpha1.ReasonConflict},
		{"many long clashes", []WorkloadObservation{dep("team-a", "web", conflicted(longClash, longClash, longClash))}, v1alpha1.ReasonConflict},
		{"one long failure", []WorkloadObservation{dep("team-a", "web", failed("denied: "+longName))}, v1alpha1.ReasonWriteFailed},
		{"several long conflicts", []WorkloadObservation{
			dep("team-a", "web", conflicted(longClash)),
			dep("team-a", "api", conflicted(longClash)),
		}, v1alpha1.ReasonConflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Generation: 1, Revision: rev, Now: t1, Workloads: tc.ws}
			st := Compute(v1alpha1.SidecarProfileStatus{}, in)
			checkInvariants(t, in, st)
			for _, a := range st.NeedsAttention {
				if len(a.Message) != maxMessage || !strings.HasSuffix(a.Message, "...") {
					t.Errorf("needsAttention %s message: %d bytes ending %q, want %d ending \"...\"",
						a.Name, len(a.Message), a.Message[len(a.Message)-5:], maxMessage)
				}
				if a.Reason != tc.reason {
					t.Errorf("needsAttention %s reason = %s, want %s", a.Name, a.Reason, tc.reason)
				}
			}
			for _, typ := range []string{v1alpha1.ConditionReady, v1alpha1.ConditionStalled} {
				c := meta.FindStatusCondition(st.Conditions, typ)
				// Cut, but the count of the other workloads stays readable at the end.
				if len(c.Message) > maxMessage || !strings.Contains(c.Message, "...") {
					t.Errorf("%s message is %d bytes, want at most %d, cut with \"...\"", typ, len(c.Message), maxMessage)
				}
				if len(tc.ws) > 1 && !strings.HasSuffix(c.Message, "(and 1 more workloads, see status.needsAttention)") {
					t.Errorf("%s message does not end with the count of the other workloads: ...%q", typ, c.Message[len(c.Message)-60:])
				}
				if !strings.HasPrefix(c.Message, "Deployment team-a/") {
					t.Errorf("%s message %.60q... does not name the workload first", typ, c.Message)
				}
			}
		})
	}
}

// Regression: the condition messages of an invalid spec are the parse error as is, with no bound. The error quotes the
// offending label value, and the CRD does not bound the length of selector values, so a long malformed value
// makes a Ready/Stalled message longer than the 32768 bytes metav1.Condition.message allows: the status patch is
// then refused by the apiserver on every reconcile, and the profile never reports InvalidSpec.
func TestCompute_BoundsInvalidSpecMessage(t *testing.T) {
	p := &v1alpha1.SidecarProfile{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "logs"},
		Spec: v1alpha1.SidecarProfileSpec{Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"not valid " + strings.Repeat("v", 40000)}},
		}}},
	}
	_, specErr := selection.Parse(p, selection.Protected{})
	if specErr == nil {
		t.Fatal("Parse accepted a malformed label value")
	}
	in := Input{Generation: 1, Revision: rev, Now: t1, SpecError: specErr}
	st := Compute(v1alpha1.SidecarProfileStatus{}, in)
	for _, c := range st.Conditions {
		if len(c.Message) > maxConditionMessage {
			t.Errorf("%s message is %d bytes; metav1.Condition.message allows %d", c.Type, len(c.Message), maxConditionMessage)
		}
	}
	checkCond(t, st, v1alpha1.ConditionStalled, wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonInvalidSpec,
		msg: []string{"spec.selector"}})
}

func TestCompute_LastTransitionTime(t *testing.T) {
	upToDate := Input{Generation: 1, Revision: rev, Now: t1, Workloads: []WorkloadObservation{dep("team-a", "web")}}
	progressing := Input{Generation: 2, Revision: rev, Now: t2, Workloads: []WorkloadObservation{dep("team-a", "web", live(oldRev))}}
	conflict := Input{Generation: 2, Revision: rev, Now: t2, Workloads: []WorkloadObservation{dep("team-a", "web", conflicted(containerClash))}}
	progressingAtT1 := progressing
	progressingAtT1.Now = t1
	upToDateAtT2 := upToDate
	upToDateAtT2.Now, upToDateAtT2.Generation = t2, 2

	tests := []struct {
		name     string
		old, new Input
		// wantLTT per condition type: t1 (kept from old) or t2 (changed now).
		wantLTT map[string]metav1.Time
	}{
		{
			name: "nothing changes: every time is kept",
			old:  upToDate, new: upToDateAtT2,
			wantLTT: map[string]metav1.Time{v1alpha1.ConditionReady: t1, v1alpha1.ConditionReconciling: t1, v1alpha1.ConditionStalled: t1},
		},
		{
			name: "Ready and Reconciling flip, Stalled does not",
			old:  upToDate, new: progressing,
			wantLTT: map[string]metav1.Time{v1alpha1.ConditionReady: t2, v1alpha1.ConditionReconciling: t2, v1alpha1.ConditionStalled: t1},
		},
		{
			name: "Ready stays False with another reason: its time is kept",
			old:  progressingAtT1, new: conflict,
			wantLTT: map[string]metav1.Time{v1alpha1.ConditionReady: t1, v1alpha1.ConditionReconciling: t2, v1alpha1.ConditionStalled: t2},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := Compute(v1alpha1.SidecarProfileStatus{ObservedGeneration: -1}, tc.old)
			oldCopy := *old.DeepCopy()
			st := Compute(old, tc.new)
			checkInvariants(t, tc.new, st)
			if !reflect.DeepEqual(old, oldCopy) {
				t.Errorf("Compute modified the old status")
			}
			for typ, want := range tc.wantLTT {
				c := meta.FindStatusCondition(st.Conditions, typ)
				if !c.LastTransitionTime.Equal(&want) {
					t.Errorf("%s lastTransitionTime = %v, want %v", typ, c.LastTransitionTime, want)
				}
			}
			// Reason and message follow the new observations whatever the time.
			want := Compute(v1alpha1.SidecarProfileStatus{}, tc.new)
			for _, wc := range want.Conditions {
				c := meta.FindStatusCondition(st.Conditions, wc.Type)
				if c.Status != wc.Status || c.Reason != wc.Reason || c.Message != wc.Message || c.ObservedGeneration != wc.ObservedGeneration {
					t.Errorf("%s = %+v, want %+v (but for the time)", wc.Type, *c, wc)
				}
			}
		})
	}

	// Conditions of other types in the old status are kept as they are.
	old := Compute(v1alpha1.SidecarProfileStatus{}, upToDate)
	foreign := metav1.Condition{Type: "example.com/Audited", Status: metav1.ConditionTrue, Reason: "Checked", LastTransitionTime: t1, ObservedGeneration: 1}
	old.Conditions = append(old.Conditions, foreign)
	st := Compute(old, progressing)
	if c := meta.FindStatusCondition(st.Conditions, foreign.Type); c == nil || !reflect.DeepEqual(*c, foreign) {
		t.Errorf("foreign condition = %+v, want %+v", c, foreign)
	}
}

func TestCompute_Deterministic(t *testing.T) {
	ws := []WorkloadObservation{
		dep("team-b", "web", conflicted(containerClash)),
		dep("team-a", "api", failed("forbidden")),
		obs(v1alpha1.KindCronJob, "team-a", "nightly", notInjected),
		obs(v1alpha1.KindJob, "team-a", "batch", kept),
		dep("team-a", "old", notSelected, live(oldRev)),
		dep("team-a", "db", live(oldRev)),
		dep("team-c", "ok"),
	}
	ws = append(ws, manyWorkloads(22, kept)...)
	in := Input{Generation: 3, Revision: rev, Now: t1, Workloads: ws}
	old := Compute(v1alpha1.SidecarProfileStatus{}, Input{Generation: 2, Revision: oldRev, Now: t1})

	a, b := Compute(old, in), Compute(old, in)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("two calls with the same input differ:\n%+v\n%+v", a, b)
	}
	// The order in which workloads were listed does not matter either.
	reversed := in
	reversed.Workloads = append([]WorkloadObservation(nil), ws...)
	for i, j := 0, len(reversed.Workloads)-1; i < j; i, j = i+1, j-1 {
		reversed.Workloads[i], reversed.Workloads[j] = reversed.Workloads[j], reversed.Workloads[i]
	}
	if c := Compute(old, reversed); !reflect.DeepEqual(a, c) {
		t.Errorf("the order of the workloads changes the status:\n%+v\n%+v", a, c)
	}
	checkInvariants(t, in, a)
}

func TestCount(t *testing.T) {
	tests := []struct {
		name                        string
		in                          Input
		matched, injected, upToDate int32
		pending, conflicts, failure int
		attention                   []string // reasons, in input order (count does not sort)
	}{
		{name: "empty", in: Input{Revision: rev}},
		{
			name: "up to date, old revision, not injected",
			in: Input{Revision: rev, Workloads: []WorkloadObservation{
				dep("a", "1"), dep("a", "2", live(oldRev)), dep("a", "3", live("")),
			}},
			matched: 3, injected: 2, upToDate: 1, pending: 2,
		},
		{
			name: "not selected: only those carrying the profile are pending",
			in: Input{Revision: rev, Workloads: []WorkloadObservation{
				dep("a", "1", notSelected, live(rev)), dep("a", "2", notSelected, live(oldRev)), dep("a", "3", notSelected, live("")),
			}},
			pending: 2,
		},
		{
			name: "deleting: nothing is matched, everything carrying the profile is pending",
			in: Input{Revision: rev, Deleting: true, Workloads: []WorkloadObservation{
				dep("a", "1"), dep("a", "2", kept), dep("a", "3", notInjected), dep("a", "4", conflicted(containerClash)),
			}},
			pending: 2,
		},
		{
			name: "outcomes needing attention are not pending",
			in: Input{Revision: rev, Workloads: []WorkloadObservation{
				dep("a", "1", kept), dep("a", "2", notInjected), dep("a", "3", conflicted(containerClash)),
				dep("a", "4", failed("no"), live(oldRev)), dep("a", "5", conflicted(containerClash), failed("no")),
			}},
			matched: 5, injected: 2, conflicts: 1, failure: 2,
			attention: []string{v1alpha1.ReasonOutdated, v1alpha1.ReasonNotInjected, v1alpha1.ReasonConflict,
				v1alpha1.ReasonWriteFailed, v1alpha1.ReasonWriteFailed},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := count(tc.in, &v1alpha1.RolloutStatus{StableRevision: tc.in.Revision})
			if got.matched != tc.matched || got.injected != tc.injected || got.upToDate != tc.upToDate {
				t.Errorf("matched/injected/upToDate = %d/%d/%d, want %d/%d/%d",
					got.matched, got.injected, got.upToDate, tc.matched, tc.injected, tc.upToDate)
			}
			if got.pending != tc.pending || got.conflicts != tc.conflicts || got.failures != tc.failure {
				t.Errorf("pending/conflicts/failures = %d/%d/%d, want %d/%d/%d",
					got.pending, got.conflicts, got.failures, tc.pending, tc.conflicts, tc.failure)
			}
			var reasons []string
			for _, a := range got.attention {
				reasons = append(reasons, a.Reason)
			}
			if !reflect.DeepEqual(reasons, tc.attention) {
				t.Errorf("attention reasons = %v, want %v", reasons, tc.attention)
			}
		})
	}
}

func TestStalledMessage(t *testing.T) {
	conflictAt := func(ns, name string) v1alpha1.WorkloadAttention {
		return v1alpha1.WorkloadAttention{Kind: v1alpha1.KindDeployment, Namespace: ns, Name: name, Reason: v1alpha1.ReasonConflict, Message: "clash"}
	}
	outdated := v1alpha1.WorkloadAttention{Kind: v1alpha1.KindCronJob, Namespace: "a", Name: "n", Reason: v1alpha1.ReasonOutdated, Message: "old"}
	failedAt := v1alpha1.WorkloadAttention{Kind: v1alpha1.KindJob, Namespace: "b", Name: "j", Reason: v1alpha1.ReasonWriteFailed, Message: "forbidden"}
	tests := []struct {
		name string
		t    tally
		want string
	}{
		{
			name: "one conflict",
			t:    tally{conflicts: 1, attention: []v1alpha1.WorkloadAttention{conflictAt("a", "web")}},
			want: "Deployment a/web: clash",
		},
		{
			name: "skips entries that are not conflicts or failures",
			t:    tally{failures: 1, attention: []v1alpha1.WorkloadAttention{outdated, failedAt}},
			want: "Job b/j: forbidden",
		},
		{
			name: "counts the others",
			t:    tally{conflicts: 2, failures: 1, attention: []v1alpha1.WorkloadAttention{conflictAt("a", "api"), conflictAt("a", "web"), failedAt}},
			want: "Deployment a/api: clash (and 2 more workloads, see status.needsAttention)",
		},
		{
			name: "none listed: a count",
			t:    tally{conflicts: 2, failures: 1, attention: []v1alpha1.WorkloadAttention{outdated}},
			want: "3 workloads have conflicts, refused writes or stuck rollouts",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := stalledMessage(tc.t); got != tc.want {
				t.Errorf("stalledMessage = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		name string
		in   string
		n    int
		want string
	}{
		{"empty", "", 10, ""},
		{"shorter", "abc", 10, "abc"},
		{"exactly n", "abcdefghij", 10, "abcdefghij"},
		{"one more than n", "abcdefghijk", 10, "abcdefg..."},
		{"much longer", strings.Repeat("a", 5000), maxMessage, strings.Repeat("a", maxMessage-3) + "..."},
		{"exactly 1024", strings.Repeat("b", maxMessage), maxMessage, strings.Repeat("b", maxMessage)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Truncate(tc.in, tc.n)
			if got != tc.want {
				t.Errorf("Truncate(%d bytes, %d) = %q, want %q", len(tc.in), tc.n, got, tc.want)
			}
			if len(got) > tc.n {
				t.Errorf("truncate returned %d bytes, more than %d", len(got), tc.n)
			}
		})
	}
}

// Regression: truncate cuts at a byte offset, so a message with multi-byte characters (an apiserver error quoting a
// non-ASCII value, a mount path with non-ASCII characters) can be cut inside a character, and the status
// then holds invalid UTF-8 (which JSON encoding turns into U+FFFD). It should cut at a rune boundary.
func TestTruncate_KeepsUTF8Valid(t *testing.T) {
	for _, s := range []string{
		strings.Repeat("é", 600),        // 2 bytes each: byte 1021 is inside a character
		"xy" + strings.Repeat("日", 400), // 3 bytes each: byte 1021 is inside a character
	} {
		got := Truncate(s, maxMessage)
		if len(got) > maxMessage {
			t.Errorf("truncate returned %d bytes, more than %d", len(got), maxMessage)
		}
		if !utf8.ValidString(got) {
			t.Errorf("Truncate(%.12q..., %d) is not valid UTF-8: ends %q", s, maxMessage, got[len(got)-6:])
		}
	}
}

// A StatefulSet or DaemonSet whose own controller waits for a person (OnDelete, a partition) is reported with
// what to do, is not counted rolled out, and does not keep the profile Reconciling: Outrigger did its part.
func TestCompute_HeldRolloutIsReportedNotCountedNorWaitedFor(t *testing.T) {
	held := func(reason, msg string) func(*WorkloadObservation) {
		return func(w *WorkloadObservation) { w.Rollout = workload.Rollout{Held: reason, Message: msg} }
	}
	for _, tc := range []struct {
		name, reason string
		w            WorkloadObservation
	}{
		{"OnDelete StatefulSet", v1alpha1.ReasonWaitingForPodDeletion, obs(v1alpha1.KindStatefulSet, "db", "pg",
			held(v1alpha1.ReasonWaitingForPodDeletion, "waiting for its pods to be deleted: kubectl -n db delete pod pg-1"))},
		{"OnDelete DaemonSet", v1alpha1.ReasonWaitingForPodDeletion, obs(v1alpha1.KindDaemonSet, "kube-ops", "agent",
			held(v1alpha1.ReasonWaitingForPodDeletion, "waiting for its pods to be deleted"))},
		{"partitioned StatefulSet", v1alpha1.ReasonRolloutPartitioned, obs(v1alpha1.KindStatefulSet, "db", "pg",
			held(v1alpha1.ReasonRolloutPartitioned, "held at partition 2"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Generation: 1, Revision: rev, Workloads: []WorkloadObservation{tc.w, dep("team-a", "web")}}
			st := Compute(v1alpha1.SidecarProfileStatus{}, in)
			checkInvariants(t, in, st)
			checkCond(t, st, v1alpha1.ConditionReady, wantCond{status: metav1.ConditionTrue, reason: v1alpha1.ReasonSucceeded,
				msg: []string{"2 of 2", "1 left as they are", "OnDelete or a partition"}})
			checkCond(t, st, v1alpha1.ConditionReconciling, wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonSucceeded})
			checkCond(t, st, v1alpha1.ConditionStalled, wantCond{status: metav1.ConditionFalse, reason: v1alpha1.ReasonSucceeded})
			if st.RolledOut != 1 || st.UpToDate != 2 {
				t.Errorf("rolledOut %d, upToDate %d; want 1 and 2", st.RolledOut, st.UpToDate)
			}
			if len(st.NeedsAttention) != 1 || st.NeedsAttention[0].Reason != tc.reason || st.NeedsAttention[0].Message != tc.w.Rollout.Message ||
				st.NeedsAttention[0].Kind != tc.w.Kind {
				t.Errorf("needsAttention = %+v, want one %s entry for the %s with its rollout's message", st.NeedsAttention, tc.reason, tc.w.Kind)
			}
		})
	}
}
