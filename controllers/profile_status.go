package controllers

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
)

// WorkloadObservation is what the profile reconciler saw of one workload the profile selects or is recorded on.
type WorkloadObservation struct {
	Kind      v1alpha1.WorkloadKind
	Namespace string
	Name      string
	// Selected: the profile selects the workload now.
	Selected bool
	// LiveRevision is the profile revision the workload carries now; "" when none.
	LiveRevision string
	// Outcome is what the engine does with the profile on this workload (empty when not selected).
	Outcome   inject.Outcome
	Conflicts []inject.Conflict
	// Failure is why the last write was refused, or why the workload's record is unreadable; "" when none.
	Failure string
	// Immutable: the workload's pod template cannot change (a Job); Outcome is then what it can be left with.
	Immutable bool
	// Rollout is the workload's own rollout, from its status.
	Rollout RolloutObservation
	// Sidecars are the profile's sidecars in the workload's pods (one entry per sidecar per pod), from the pods'
	// initContainerStatuses. Pods that do not carry the profile are not observed.
	Sidecars []SidecarObservation
}

// RolloutObservation is a workload's own rollout, read from its status.
type RolloutObservation struct {
	// Done: the workload runs the pod template it has now. A Deployment: observedGeneration caught up and every
	// desired replica updated and available. A Job: complete, or its pods run its template. A CronJob: always
	// (the Jobs it makes next use its template).
	Done bool
	// Stuck: the rollout cannot progress without a person (a Deployment's ProgressDeadlineExceeded).
	Stuck bool
	// Message says how far it got, in words, e.g. "2 of 3 replicas updated, 1 available".
	Message string
	// Since is the last transition of the condition that tells, when known.
	Since *metav1.Time
}

// SidecarObservation is one of the profile's sidecars in one pod, from the pod's status.
type SidecarObservation struct {
	Pod  string
	Name string
	// Revision is the profile revision recorded on the pod (its template's annotation reaches every pod).
	Revision string
	Started  bool
	Ready    bool
	// RestartCount, and the reason and time of the last termination (a failed liveness probe shows as Error or
	// a non-zero exit; a crash as Error; an OOM as OOMKilled).
	RestartCount          int32
	LastTerminationReason string
	LastTerminationTime   *metav1.Time
	// Waiting is the reason the container waits, e.g. CrashLoopBackOff; "" when it runs.
	Waiting string
	// RestartPolicyStripped: the pod has this init container without restartPolicy Always.
	RestartPolicyStripped bool
	// PodStarted is when the pod started; the "since" of a sidecar that never became ready.
	PodStarted *metav1.Time
}

// StatusInput is everything the status of a profile is computed from.
type StatusInput struct {
	Generation int64
	Revision   string // the profile's current revision
	Deleting   bool
	SpecError  error // a spec the apiserver accepted but Outrigger cannot use
	Workloads  []WorkloadObservation
	Now        metav1.Time
	// NativeSidecarsUnsupported says why the cluster cannot run native sidecars ("" when it can).
	NativeSidecarsUnsupported string
}

// tally is the status counts and what needs a person, derived from the observations.
type tally struct {
	matched, injected, upToDate int32
	pending                     int // writes Outrigger still has to make
	conflicts, failures         int
	attention                   []v1alpha1.WorkloadAttention
	attentionTotal              int // before the list is cut to MaxNeedsAttention
}

func count(in StatusInput) tally {
	var t tally
	for _, w := range in.Workloads {
		if !w.Selected || in.Deleting {
			if w.LiveRevision != "" && !w.Immutable {
				t.pending++ // sidecars still to remove
			}
			continue
		}
		t.matched++
		if w.LiveRevision != "" {
			t.injected++
		}
		if w.LiveRevision == in.Revision {
			t.upToDate++
		}
		entry := v1alpha1.WorkloadAttention{Kind: w.Kind, Namespace: w.Namespace, Name: w.Name}
		switch {
		case w.Failure != "":
			t.failures++
			entry.Reason, entry.Message = v1alpha1.ReasonWriteFailed, truncate(w.Failure, 1024)
		case w.Outcome == inject.Conflicted:
			t.conflicts++
			entry.Reason, entry.Message = v1alpha1.ReasonConflict, truncate(conflictMessage(w.Conflicts), 1024)
		case w.Outcome == inject.Kept:
			entry.Reason, entry.Message = v1alpha1.ReasonOutdated, outdatedMessage(w, in.Revision)
		case w.Outcome == inject.Skipped:
			entry.Reason, entry.Message = v1alpha1.ReasonNotInjected, notInjectedMessage(w)
		case w.LiveRevision != in.Revision:
			t.pending++
		}
		if entry.Reason != "" {
			t.attention = append(t.attention, entry)
		}
	}
	return t
}

// outdatedMessage says why a workload keeps an older revision, and what gets it the current one.
func outdatedMessage(w WorkloadObservation, revision string) string {
	if w.Immutable {
		return fmt.Sprintf("carries revision %s, not %s: a %s's pod template cannot change after creation; re-create it to get the current sidecars", w.LiveRevision, revision, w.Kind)
	}
	return fmt.Sprintf("carries revision %s, not %s: updatePolicy is OnCreate, so it changes when the %s is recreated (or set updatePolicy: Rollout)", w.LiveRevision, revision, w.Kind)
}

// notInjectedMessage says why a selected workload has no sidecars, and what gets it them.
func notInjectedMessage(w WorkloadObservation) string {
	if w.Immutable {
		return fmt.Sprintf("was created before the profile, or while Outrigger's admission webhook was unavailable, and a %s's pod template cannot change after creation: re-create it to get the sidecars", w.Kind)
	}
	return fmt.Sprintf("existed before the profile and updatePolicy is OnCreate: it gets the sidecars when the %s is recreated (or set updatePolicy: Rollout)", w.Kind)
}

// ComputeStatus returns the profile's status for the observations; conditions keep their lastTransitionTime
// from old when their status does not change.
func ComputeStatus(old v1alpha1.SidecarProfileStatus, in StatusInput) v1alpha1.SidecarProfileStatus {
	t := count(in)
	st := v1alpha1.SidecarProfileStatus{
		ObservedGeneration: in.Generation,
		Conditions:         append([]metav1.Condition(nil), old.Conditions...),
		Matched:            t.matched,
		Injected:           t.injected,
		UpToDate:           t.upToDate,
	}
	// Most urgent first, so that the cut never hides a workload that stalls the profile.
	sort.Slice(t.attention, func(i, j int) bool {
		a, b := t.attention[i], t.attention[j]
		if blocking(a) != blocking(b) {
			return blocking(a)
		}
		return attentionKey(a) < attentionKey(b)
	})
	t.attentionTotal = len(t.attention)
	if len(t.attention) > v1alpha1.MaxNeedsAttention {
		st.NeedsAttentionOmitted = int32(len(t.attention) - v1alpha1.MaxNeedsAttention)
		t.attention = t.attention[:v1alpha1.MaxNeedsAttention]
	}
	st.NeedsAttention = t.attention

	ready, reconciling, stalled := conditionsFor(in, t)
	for _, c := range []metav1.Condition{ready, reconciling, stalled} {
		c.ObservedGeneration = in.Generation
		c.LastTransitionTime = in.Now
		meta.SetStatusCondition(&st.Conditions, c)
	}
	return st
}

// conditionsFor decides Ready, Reconciling and Stalled, most urgent first: an unusable spec, deletion, what
// needs a person, writes still to make, done.
func conditionsFor(in StatusInput, t tally) (ready, reconciling, stalled metav1.Condition) {
	ready = metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse}
	reconciling = metav1.Condition{Type: v1alpha1.ConditionReconciling, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonSucceeded, Message: "nothing left to do"}
	stalled = metav1.Condition{Type: v1alpha1.ConditionStalled, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonSucceeded, Message: "not stalled"}
	progress := fmt.Sprintf("%d of %d selected workloads carry the current sidecars (revision %s); %d writes pending", t.upToDate, t.matched, in.Revision, t.pending)
	if t.pending > 0 {
		reconciling.Status, reconciling.Reason, reconciling.Message = metav1.ConditionTrue, v1alpha1.ReasonProgressing, progress
	}
	switch {
	case in.SpecError != nil:
		msg := truncate(in.SpecError.Error(), 1024)
		ready.Reason, ready.Message = v1alpha1.ReasonInvalidSpec, msg
		stalled.Status, stalled.Reason, stalled.Message = metav1.ConditionTrue, v1alpha1.ReasonInvalidSpec, msg
		reconciling.Status, reconciling.Reason, reconciling.Message = metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec, "waiting for a valid spec"
	case in.Deleting:
		msg := fmt.Sprintf("removing the sidecars from %d workloads before the profile goes", t.pending)
		ready.Reason, ready.Message = v1alpha1.ReasonRemoving, msg
		reconciling.Status, reconciling.Reason, reconciling.Message = metav1.ConditionTrue, v1alpha1.ReasonRemoving, msg
	case t.conflicts > 0 || t.failures > 0:
		reason := v1alpha1.ReasonConflict
		if t.conflicts == 0 {
			reason = v1alpha1.ReasonWriteFailed
		}
		msg := stalledMessage(t)
		ready.Reason, ready.Message = reason, msg
		stalled.Status, stalled.Reason, stalled.Message = metav1.ConditionTrue, reason, msg
	case t.pending > 0:
		ready.Reason, ready.Message = v1alpha1.ReasonProgressing, progress
	default:
		ready.Status, ready.Reason = metav1.ConditionTrue, v1alpha1.ReasonSucceeded
		ready.Message = fmt.Sprintf("%d of %d selected workloads carry the current sidecars (revision %s)", t.upToDate, t.matched, in.Revision)
		if t.matched == 0 {
			ready.Message = "no workload matches the selector"
		}
		if n := t.attentionTotal; n > 0 {
			ready.Message += fmt.Sprintf("; %d left as they are (updatePolicy OnCreate, or Jobs that cannot change): see status.needsAttention", n)
		}
	}
	return ready, reconciling, stalled
}

// stalledMessage names the first workload that needs a person and what to do, and how many more there are.
func stalledMessage(t tally) string {
	for _, a := range t.attention {
		if !blocking(a) {
			continue
		}
		more := ""
		if n := t.conflicts + t.failures - 1; n > 0 {
			more = fmt.Sprintf(" (and %d more workloads, see status.needsAttention)", n)
		}
		return truncate(fmt.Sprintf("%s %s/%s: %s", a.Kind, a.Namespace, a.Name, a.Message), 1024-len(more)) + more
	}
	return fmt.Sprintf("%d workloads have conflicts or refused writes", t.conflicts+t.failures)
}

func conflictMessage(cs []inject.Conflict) string {
	msgs := make([]string, 0, len(cs))
	for _, c := range cs {
		msgs = append(msgs, c.Message())
	}
	return strings.Join(msgs, "; ")
}

// blocking reports whether an entry stalls the profile (as opposed to a workload left alone on purpose).
func blocking(a v1alpha1.WorkloadAttention) bool {
	return a.Reason == v1alpha1.ReasonConflict || a.Reason == v1alpha1.ReasonWriteFailed
}

func attentionKey(a v1alpha1.WorkloadAttention) string {
	return string(a.Kind) + "/" + a.Namespace + "/" + a.Name
}

// truncate shortens s to at most n bytes, cutting between characters, with "..." when it cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
