package status

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/advice"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/revision"
)

// RecentRestartWindow is how long after a sidecar's last termination it counts as restarting: long enough to
// be seen, short enough that one restart last week does not keep a profile Degraded.
const RecentRestartWindow = 10 * time.Minute

// Compute returns the profile's status for the observations; conditions keep their lastTransitionTime
// from old when their status does not change.
func Compute(old v1alpha1.SidecarProfileStatus, in Input) v1alpha1.SidecarProfileStatus {
	rollout, waiting := rolloutOf(old.Rollout, in)
	t := count(in, rollout)
	st := v1alpha1.SidecarProfileStatus{
		Rollout:            rollout,
		ObservedGeneration: in.Generation,
		Conditions:         append([]metav1.Condition(nil), old.Conditions...),
		Matched:            t.matched,
		Injected:           t.injected,
		UpToDate:           t.upToDate,
		RolledOut:          t.rolledOut,
		Healthy:            t.healthy,
	}
	// Most urgent first, so that the cut never hides a workload that stalls the profile.
	sort.SliceStable(t.attention, func(i, j int) bool {
		a, b := t.attention[i], t.attention[j]
		if severity(a) != severity(b) {
			return severity(a) < severity(b)
		}
		if attentionKey(a) != attentionKey(b) {
			return attentionKey(a) < attentionKey(b)
		}
		if a.Sidecar != b.Sidecar {
			return a.Sidecar < b.Sidecar
		}
		return a.Reason < b.Reason
	})
	t.attentionTotal = len(t.attention)
	if len(t.attention) > v1alpha1.MaxNeedsAttention {
		st.NeedsAttentionOmitted = int32(len(t.attention) - v1alpha1.MaxNeedsAttention)
		t.attention = t.attention[:v1alpha1.MaxNeedsAttention]
	}
	st.NeedsAttention = t.attention

	for _, c := range conditionsFor(in, t, waves{status: rollout, waiting: waiting, paused: in.Strategy.Paused}) {
		c.ObservedGeneration = in.Generation
		c.LastTransitionTime = in.Now
		meta.SetStatusCondition(&st.Conditions, c)
	}
	return st
}

// conditionsFor decides Ready, Reconciling, Stalled and Degraded. Ready is True only when nothing else is
// wrong; when it is False, its reason is the most urgent: an unusable spec, a cluster without native sidecars,
// deletion, what stalls the profile, writes still to make, rollouts under way, unhealthy sidecars.

// tally is the status counts and what needs a person, derived from the observations.
type tally struct {
	matched, injected, upToDate, rolledOut, healthy int32
	pending                                         int // writes Outrigger still has to make
	rolling                                         int // up-to-date workloads whose own rollout is under way
	conflicts, failures, stuck                      int // workloads that stall the profile
	degraded                                        int // workloads with a sidecar problem
	advised                                         int // advice entries (they change no condition)
	attention                                       []v1alpha1.WorkloadAttention
	attentionTotal                                  int // before the list is cut to MaxNeedsAttention
}

func count(in Input, rollout *v1alpha1.RolloutStatus) tally {
	var t tally
	for _, w := range in.Workloads {
		if !w.Selected || in.Deleting {
			if w.LiveRevision != "" && !w.Immutable {
				t.pending++ // sidecars still to remove
			}
			continue
		}
		t.matched++
		t.countInjection(in, w, targetOf(in, rollout, w))
		if w.LiveRevision != "" {
			t.countRollout(in, w)
			t.countHealth(in, w)
		}
		t.countAdvice(w)
	}
	return t
}

// countAdvice lists the advice about the profile on a selected workload: one entry each, which no condition
// reads.
func (t *tally) countAdvice(w WorkloadObservation) {
	for _, a := range w.Advice {
		t.attention = append(t.attention, AdviceEntry(w, a))
		t.advised++
	}
}

// AdviceEntry is the needsAttention entry of a piece of advice about the profile on a workload. The profile
// reconciler compares it with the status it replaces, to tell new advice in an event.
func AdviceEntry(w WorkloadObservation, a advice.Advice) v1alpha1.WorkloadAttention {
	entry := newEntry(w)
	entry.Sidecar, entry.Reason, entry.Message = a.Sidecar, a.Reason, Truncate(a.Message, 1024)
	return entry
}

// countInjection: does the workload carry the profile's current revision, and if not, why. A workload the
// waves have not reached yet (its target is not the current revision) needs no one: it is pending only when it
// carries something else than its target (the stable revision given back after a revert, or a hold).
func (t *tally) countInjection(in Input, w WorkloadObservation, target string) {
	if w.LiveRevision != "" {
		t.injected++
	}
	if w.LiveRevision == in.Revision {
		t.upToDate++
	}
	entry := newEntry(w)
	switch {
	case w.NoTemplate != "":
		entry.Reason, entry.Message = v1alpha1.ReasonNoPodTemplate, Truncate(w.NoTemplate, 1024)
	case w.Failure.Reason != "":
		t.failures++
		entry.Reason, entry.Message = w.Failure.Reason, Truncate(w.Failure.Message, 1024)
	case w.Outcome == inject.Conflicted:
		t.conflicts++
		entry.Reason, entry.Message = v1alpha1.ReasonConflict, Truncate(conflictMessage(w.Conflicts), 1024)
	case target != in.Revision:
		if target == revision.Hold || w.LiveRevision != target {
			t.pending++
		}
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

// countRollout: has a workload that carries the current revision rolled it out to its pods.
func (t *tally) countRollout(in Input, w WorkloadObservation) {
	if w.LiveRevision != in.Revision {
		return
	}
	switch {
	case w.Rollout.Stuck:
		t.stuck++
		entry := newEntry(w)
		entry.Reason, entry.Since = v1alpha1.ReasonRolloutStuck, w.Rollout.Since
		entry.Message = Truncate(fmt.Sprintf("the rollout of the current sidecars is stuck (%s): see `kubectl describe %s -n %s %s` and its pods' events",
			w.Rollout.Message, strings.ToLower(string(w.Kind)), w.Namespace, w.Name), 1024)
		t.attention = append(t.attention, entry)
	case w.Rollout.Held != "":
		// Outrigger did its part; the workload's own controller waits for a person, by the workload's design.
		entry := newEntry(w)
		entry.Reason, entry.Message = w.Rollout.Held, Truncate(w.Rollout.Message, 1024)
		t.attention = append(t.attention, entry)
	case w.Rollout.Done && podsAt(w.Sidecars, in.Revision):
		t.rolledOut++
	default:
		t.rolling++
	}
}

// podsAt reports whether every observed pod carries the revision.
func podsAt(sidecars []SidecarObservation, revision string) bool {
	for _, s := range sidecars {
		if s.Revision != revision {
			return false
		}
	}
	return true
}

// countHealth: are the profile's sidecars started, ready and steady in every pod. Problems are grouped per
// sidecar and reason, so a Deployment of fifty pods makes one entry, not fifty.
func (t *tally) countHealth(in Input, w WorkloadObservation) {
	type key struct{ sidecar, reason string }
	groups := map[key][]SidecarObservation{}
	var order []key
	for _, s := range w.Sidecars {
		reason := sidecarProblem(s, in.Now)
		if reason == "" {
			continue
		}
		k := key{s.Name, reason}
		if _, seen := groups[k]; !seen {
			order = append(order, k)
		}
		groups[k] = append(groups[k], s)
	}
	if len(order) == 0 {
		t.healthy++
		return
	}
	t.degraded++
	for _, k := range order {
		entry := newEntry(w)
		entry.Sidecar, entry.Reason = k.sidecar, k.reason
		entry.Message, entry.Since = sidecarMessage(w, k.reason, groups[k])
		t.attention = append(t.attention, entry)
	}
}

// sidecarProblem classifies one sidecar in one pod; "" when it is healthy.
func sidecarProblem(s SidecarObservation, now metav1.Time) string {
	switch {
	case s.RestartPolicyStripped:
		return v1alpha1.ReasonRestartPolicyStripped
	case s.Waiting == "CrashLoopBackOff" || restartedRecently(s, now):
		return v1alpha1.ReasonSidecarRestarting
	case !s.Started || !s.Ready:
		return v1alpha1.ReasonSidecarNotReady
	}
	return ""
}

func restartedRecently(s SidecarObservation, now metav1.Time) bool {
	return s.RestartCount > 0 && s.LastTerminationTime != nil && now.Sub(s.LastTerminationTime.Time) < RecentRestartWindow
}

// sidecarMessage says what is wrong with a sidecar, in which pod (and how many more), since when, and where to
// look next.
func sidecarMessage(w WorkloadObservation, reason string, pods []SidecarObservation) (string, *metav1.Time) {
	first := pods[0]
	more := ""
	if len(pods) > 1 {
		more = fmt.Sprintf(" (and %d more pods)", len(pods)-1)
	}
	var msg string
	var since *metav1.Time
	switch reason {
	case v1alpha1.ReasonRestartPolicyStripped:
		since = first.PodStarted
		msg = fmt.Sprintf("pod %s%s has sidecar %q without restartPolicy Always: another mutating webhook, or a cluster without native sidecars, removed it, so the app waits for the sidecar to exit; check `kubectl get mutatingwebhookconfigurations`", first.Pod, more, first.Name)
	case v1alpha1.ReasonSidecarRestarting:
		latest := first
		for _, p := range pods {
			if p.LastTerminationTime != nil && (latest.LastTerminationTime == nil || p.LastTerminationTime.After(latest.LastTerminationTime.Time)) {
				latest = p
			}
		}
		since = latest.LastTerminationTime
		state := fmt.Sprintf("restarted %d times", latest.RestartCount)
		if latest.Waiting == "CrashLoopBackOff" {
			state = fmt.Sprintf("is in CrashLoopBackOff after %d restarts", latest.RestartCount)
		}
		last := ""
		if latest.LastTerminationReason != "" {
			last = fmt.Sprintf(", last terminated: %s", latest.LastTerminationReason)
		}
		msg = fmt.Sprintf("sidecar %q %s in pod %s%s%s: a failing startupProbe or livenessProbe, or a crash; see `kubectl logs -n %s %s -c %s --previous` and `kubectl describe pod -n %s %s`",
			latest.Name, state, latest.Pod, more, last, w.Namespace, latest.Pod, latest.Name, w.Namespace, latest.Pod)
	default:
		for _, p := range pods {
			if p.PodStarted != nil && (since == nil || p.PodStarted.Before(since)) {
				since = p.PodStarted
			}
		}
		msg = fmt.Sprintf("sidecar %q is not ready in pod %s%s: its readinessProbe fails, or its startupProbe has not passed; see `kubectl describe pod -n %s %s`",
			first.Name, first.Pod, more, w.Namespace, first.Pod)
	}
	return Truncate(msg, 1024), since
}

func newEntry(w WorkloadObservation) v1alpha1.WorkloadAttention {
	return v1alpha1.WorkloadAttention{Kind: w.Kind, Namespace: w.Namespace, Name: w.Name}
}

// RecheckAfter is how soon the status must be computed again although nothing may change in the cluster: when
// the most recent restart leaves the RecentRestartWindow. Zero when nothing waits on the clock.
func RecheckAfter(in Input) time.Duration {
	var next time.Duration
	for _, w := range in.Workloads {
		for _, s := range w.Sidecars {
			if !restartedRecently(s, in.Now) {
				continue
			}
			left := RecentRestartWindow - in.Now.Sub(s.LastTerminationTime.Time) + time.Second
			if next == 0 || left < next {
				next = left
			}
		}
	}
	return next
}

// outdatedMessage says why a workload keeps an older revision, and what gets it the current one.
