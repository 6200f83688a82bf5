package controllers

import (
	"fmt"
	"sort"
	"strings"
	"time"
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

// RecentRestartWindow is how long after a sidecar's last termination it counts as restarting: long enough to
// be seen, short enough that one restart last week does not keep a profile Degraded.
const RecentRestartWindow = 10 * time.Minute

// tally is the status counts and what needs a person, derived from the observations.
type tally struct {
	matched, injected, upToDate, rolledOut, healthy int32
	pending                                         int // writes Outrigger still has to make
	rolling                                         int // up-to-date workloads whose own rollout is under way
	conflicts, failures, stuck                      int // workloads that stall the profile
	degraded                                        int // workloads with a sidecar problem
	attention                                       []v1alpha1.WorkloadAttention
	attentionTotal                                  int // before the list is cut to MaxNeedsAttention
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
		t.countInjection(in, w)
		if w.LiveRevision != "" {
			t.countRollout(in, w)
			t.countHealth(in, w)
		}
	}
	return t
}

// countInjection: does the workload carry the profile's current revision, and if not, why.
func (t *tally) countInjection(in StatusInput, w WorkloadObservation) {
	if w.LiveRevision != "" {
		t.injected++
	}
	if w.LiveRevision == in.Revision {
		t.upToDate++
	}
	entry := newEntry(w)
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

// countRollout: has a workload that carries the current revision rolled it out to its pods.
func (t *tally) countRollout(in StatusInput, w WorkloadObservation) {
	if w.LiveRevision != in.Revision {
		return
	}
	switch {
	case w.Rollout.Stuck:
		t.stuck++
		entry := newEntry(w)
		entry.Reason, entry.Since = v1alpha1.ReasonRolloutStuck, w.Rollout.Since
		entry.Message = truncate(fmt.Sprintf("the rollout of the current sidecars is stuck (%s): see `kubectl describe %s -n %s %s` and its pods' events",
			w.Rollout.Message, strings.ToLower(string(w.Kind)), w.Namespace, w.Name), 1024)
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
func (t *tally) countHealth(in StatusInput, w WorkloadObservation) {
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
		msg = fmt.Sprintf("sidecar %q %s in pod %s%s%s: a failing livenessProbe or a crash; see `kubectl logs -n %s %s -c %s --previous` and `kubectl describe pod -n %s %s`",
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
	return truncate(msg, 1024), since
}

func newEntry(w WorkloadObservation) v1alpha1.WorkloadAttention {
	return v1alpha1.WorkloadAttention{Kind: w.Kind, Namespace: w.Namespace, Name: w.Name}
}

// RecheckAfter is how soon the status must be computed again although nothing may change in the cluster: when
// the most recent restart leaves the RecentRestartWindow. Zero when nothing waits on the clock.
func RecheckAfter(in StatusInput) time.Duration {
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
		return a.Sidecar < b.Sidecar
	})
	t.attentionTotal = len(t.attention)
	if len(t.attention) > v1alpha1.MaxNeedsAttention {
		st.NeedsAttentionOmitted = int32(len(t.attention) - v1alpha1.MaxNeedsAttention)
		t.attention = t.attention[:v1alpha1.MaxNeedsAttention]
	}
	st.NeedsAttention = t.attention

	for _, c := range conditionsFor(in, t) {
		c.ObservedGeneration = in.Generation
		c.LastTransitionTime = in.Now
		meta.SetStatusCondition(&st.Conditions, c)
	}
	return st
}

// conditionsFor decides Ready, Reconciling, Stalled and Degraded. Ready is True only when nothing else is
// wrong; when it is False, its reason is the most urgent: an unusable spec, a cluster without native sidecars,
// deletion, what stalls the profile, writes still to make, rollouts under way, unhealthy sidecars.
func conditionsFor(in StatusInput, t tally) []metav1.Condition {
	ready := metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse}
	reconciling := metav1.Condition{Type: v1alpha1.ConditionReconciling, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonSucceeded, Message: "nothing left to do"}
	stalled := metav1.Condition{Type: v1alpha1.ConditionStalled, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonSucceeded, Message: "not stalled"}
	degraded := degradedCondition(t)

	progress := fmt.Sprintf("%d of %d selected workloads carry the current sidecars (revision %s); %d writes pending", t.upToDate, t.matched, in.Revision, t.pending)
	rollout := fmt.Sprintf("%d of %d selected workloads rolled out the current sidecars (revision %s); %d rolling out", t.rolledOut, t.matched, in.Revision, t.rolling)
	switch {
	case t.pending > 0:
		reconciling.Status, reconciling.Reason, reconciling.Message = metav1.ConditionTrue, v1alpha1.ReasonProgressing, progress
	case t.rolling > 0:
		reconciling.Status, reconciling.Reason, reconciling.Message = metav1.ConditionTrue, v1alpha1.ReasonRollingOut, rollout
	}
	setStalled := func(reason, msg string) {
		ready.Reason, ready.Message = reason, msg
		stalled.Status, stalled.Reason, stalled.Message = metav1.ConditionTrue, reason, msg
	}
	switch {
	case in.SpecError != nil:
		setStalled(v1alpha1.ReasonInvalidSpec, truncate(in.SpecError.Error(), 1024))
		reconciling.Status, reconciling.Reason, reconciling.Message = metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec, "waiting for a valid spec"
	case in.NativeSidecarsUnsupported != "":
		setStalled(v1alpha1.ReasonNativeSidecarsUnsupported, truncate(in.NativeSidecarsUnsupported, 1024))
	case in.Deleting:
		msg := fmt.Sprintf("removing the sidecars from %d workloads before the profile goes", t.pending)
		ready.Reason, ready.Message = v1alpha1.ReasonRemoving, msg
		reconciling.Status, reconciling.Reason, reconciling.Message = metav1.ConditionTrue, v1alpha1.ReasonRemoving, msg
	case t.conflicts > 0 || t.failures > 0 || t.stuck > 0:
		setStalled(stalledReason(t), stalledMessage(t))
	case t.pending > 0:
		ready.Reason, ready.Message = v1alpha1.ReasonProgressing, progress
	case t.rolling > 0:
		ready.Reason, ready.Message = v1alpha1.ReasonRollingOut, rollout
	case t.degraded > 0:
		ready.Reason, ready.Message = degraded.Reason, degraded.Message
	default:
		ready.Status, ready.Reason, ready.Message = metav1.ConditionTrue, v1alpha1.ReasonSucceeded, readyMessage(in, t)
	}
	return []metav1.Condition{ready, reconciling, stalled, degraded}
}

// degradedCondition is True, naming the first sidecar problem, when any workload has one.
func degradedCondition(t tally) metav1.Condition {
	c := metav1.Condition{Type: v1alpha1.ConditionDegraded, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonHealthy,
		Message: fmt.Sprintf("the sidecars are ready in %d of %d selected workloads, and in every pod observed", t.healthy, t.matched)}
	if t.degraded == 0 {
		return c
	}
	for _, a := range t.attention {
		if severity(a) != severityDegraded {
			continue
		}
		c.Status, c.Reason = metav1.ConditionTrue, a.Reason
		more := ""
		if t.degraded > 1 {
			more = fmt.Sprintf(" (and %d more workloads, see status.needsAttention)", t.degraded-1)
		}
		c.Message = truncate(fmt.Sprintf("%s %s/%s: %s", a.Kind, a.Namespace, a.Name, a.Message), 1024-len(more)) + more
		return c
	}
	return c
}

func readyMessage(in StatusInput, t tally) string {
	if t.matched == 0 {
		return "no workload matches the selector"
	}
	msg := fmt.Sprintf("%d of %d selected workloads carry the current sidecars (revision %s)", t.upToDate, t.matched, in.Revision)
	if n := t.attentionTotal; n > 0 {
		msg += fmt.Sprintf("; %d left as they are (updatePolicy OnCreate, or Jobs that cannot change): see status.needsAttention", n)
	}
	return msg
}

// stalledReason is the reason of the most urgent blocking problem.
func stalledReason(t tally) string {
	switch {
	case t.conflicts > 0:
		return v1alpha1.ReasonConflict
	case t.failures > 0:
		return v1alpha1.ReasonWriteFailed
	default:
		return v1alpha1.ReasonRolloutStuck
	}
}

// stalledMessage names the first workload that needs a person and what to do, and how many more there are.
func stalledMessage(t tally) string {
	for _, a := range t.attention {
		if !blocking(a) {
			continue
		}
		more := ""
		if n := t.conflicts + t.failures + t.stuck - 1; n > 0 {
			more = fmt.Sprintf(" (and %d more workloads, see status.needsAttention)", n)
		}
		return truncate(fmt.Sprintf("%s %s/%s: %s", a.Kind, a.Namespace, a.Name, a.Message), 1024-len(more)) + more
	}
	return fmt.Sprintf("%d workloads have conflicts, refused writes or stuck rollouts", t.conflicts+t.failures+t.stuck)
}

func conflictMessage(cs []inject.Conflict) string {
	msgs := make([]string, 0, len(cs))
	for _, c := range cs {
		msgs = append(msgs, c.Message())
	}
	return strings.Join(msgs, "; ")
}

// Severities of needsAttention entries, most urgent first.
const (
	severityBlocking      = iota // stalls the profile: a conflict, a refused write, a stuck rollout
	severityDegraded             // a sidecar not ready, restarting or stripped
	severityInformational        // left alone on purpose: OnCreate, or a Job that cannot change
)

func severity(a v1alpha1.WorkloadAttention) int {
	switch a.Reason {
	case v1alpha1.ReasonConflict, v1alpha1.ReasonWriteFailed, v1alpha1.ReasonRolloutStuck:
		return severityBlocking
	case v1alpha1.ReasonSidecarNotReady, v1alpha1.ReasonSidecarRestarting, v1alpha1.ReasonRestartPolicyStripped:
		return severityDegraded
	}
	return severityInformational
}

// blocking reports whether an entry stalls the profile.
func blocking(a v1alpha1.WorkloadAttention) bool { return severity(a) == severityBlocking }

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
