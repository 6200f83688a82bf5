package status

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// conditionsFor sets Ready, Reconciling, Stalled and Degraded, each by its own function. Ready is True only when
// nothing else is wrong; when it is False, its reason is the most urgent: what stalls the profile (an unusable
// spec, a cluster without native sidecars, a conflict, a failure, a stuck rollout), deletion, writes still to
// make, rollouts under way, unhealthy sidecars.
func conditionsFor(in Input, t tally, w waves) []metav1.Condition {
	stalled, degraded := stalledCondition(in, t, w), degradedCondition(t)
	return []metav1.Condition{readyCondition(in, t, w, stalled, degraded), reconcilingCondition(in, t, w), stalled, degraded}
}

// waves is where the profile's rollout in waves stands, for the conditions.
type waves struct {
	status *v1alpha1.RolloutStatus
	// waiting says what the next wave waits for.
	waiting string
	paused  bool
}

// inProgress: a candidate is rolling out, neither halted nor paused, with waves still to open. Once the last is
// open, the conditions read as for any change: writes pending, rollouts under way.
func (w waves) inProgress() bool { return w.moreWaves() && !w.paused }

func (w waves) pausedWithCandidate() bool { return w.moreWaves() && w.paused }

func (w waves) moreWaves() bool {
	r := w.status
	return r != nil && r.CandidateRevision != "" && r.Halted == "" && r.Wave < r.Waves
}

func (w waves) halted() bool { return w.status != nil && w.status.Halted != "" }

// candidateCount is how many selected workloads carry the candidate.
func (w waves) candidateCount() int32 {
	for _, c := range w.status.Revisions {
		if c.Revision == w.status.CandidateRevision {
			return c.Workloads
		}
	}
	return 0
}

// inWavesMessage says which wave is open, how far the candidate got and what the next wave waits for.
func inWavesMessage(t tally, w waves) string {
	r := w.status
	msg := fmt.Sprintf("revision %s rolls out in waves: %d of %d selected workloads carry it", r.CandidateRevision, w.candidateCount(), t.matched)
	switch {
	case r.Wave == 0:
		msg += "; the first wave opens at the next reconcile"
	case w.waiting != "":
		msg += fmt.Sprintf(", wave %d of %d is open; the next waits for %s", r.Wave, r.Waves, w.waiting)
	default:
		msg += fmt.Sprintf(", wave %d of %d is open", r.Wave, r.Waves)
	}
	if t.pending > 0 {
		msg += fmt.Sprintf("; %d writes pending", t.pending)
	}
	return Truncate(msg, 1024)
}

// pausedMessage says where a paused rollout stopped and how to go on.
func pausedMessage(t tally, w waves) string {
	return Truncate(fmt.Sprintf("the rollout of revision %s is paused at wave %d of %d (%d of %d selected workloads carry it; the others keep revision %s): set spec.rollout.paused to false to go on",
		w.status.CandidateRevision, w.status.Wave, w.status.Waves, w.candidateCount(), t.matched, stableName(w.status.StableRevision)), 1024)
}

// haltedMessage says why the rollout stopped, what the other workloads have, and the two ways on.
func haltedMessage(in Input, t tally, w waves) string {
	r := w.status
	back := fmt.Sprintf("or revert spec to revision %s (its content: `kubectl get controllerrevision -n %s %s -o jsonpath='{.data}'`), which gives it back to the workloads that got the candidate",
		r.StableRevision, in.Revisions.Namespace, in.Revisions.Name(r.StableRevision))
	if r.StableRevision == "" {
		back = "or delete the profile, which removes its sidecars from the workloads that got them"
	}
	return Truncate(fmt.Sprintf("the rollout of revision %s halted: %s; %d of %d selected workloads carry it, the others and new workloads keep %s. Fix the sidecar in spec (a new revision starts again from the canary wave), %s",
		r.CandidateRevision, r.Halted, w.candidateCount(), t.matched, stableName(r.StableRevision), back), 1024)
}

func stableName(rev string) string {
	if rev == "" {
		return "no sidecars of this profile"
	}
	return "revision " + rev
}

// progressMessage says how many selected workloads carry the current revision and how many writes are left.
func progressMessage(in Input, t tally) string {
	return fmt.Sprintf("%d of %d selected workloads carry the current sidecars (revision %s); %d writes pending", t.upToDate, t.matched, in.Revision, t.pending)
}

// rolloutMessage says how many selected workloads rolled the current revision out to their pods.
func rolloutMessage(in Input, t tally) string {
	return fmt.Sprintf("%d of %d selected workloads rolled out the current sidecars (revision %s); %d rolling out", t.rolledOut, t.matched, in.Revision, t.rolling)
}

// removingMessage says how many workloads still carry the sidecars of a profile being deleted.
func removingMessage(t tally) string {
	return fmt.Sprintf("removing the sidecars from %d workloads before the profile goes", t.pending)
}

// readyCondition is True when nothing stalls, degrades or waits; otherwise False with the most urgent reason.
func readyCondition(in Input, t tally, w waves, stalled, degraded metav1.Condition) metav1.Condition {
	c := metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse}
	switch {
	case stalled.Status == metav1.ConditionTrue:
		c.Reason, c.Message = stalled.Reason, stalled.Message
	case in.Deleting:
		c.Reason, c.Message = v1alpha1.ReasonRemoving, removingMessage(t)
	case w.pausedWithCandidate():
		c.Reason, c.Message = v1alpha1.ReasonWavesPaused, pausedMessage(t, w)
	case w.inProgress():
		c.Reason, c.Message = v1alpha1.ReasonRolloutInWaves, inWavesMessage(t, w)
	case t.pending > 0:
		c.Reason, c.Message = v1alpha1.ReasonProgressing, progressMessage(in, t)
	case t.rolling > 0:
		c.Reason, c.Message = v1alpha1.ReasonRollingOut, rolloutMessage(in, t)
	case degraded.Status == metav1.ConditionTrue:
		c.Reason, c.Message = degraded.Reason, degraded.Message
	default:
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, v1alpha1.ReasonSucceeded, readyMessage(in, t)
	}
	return c
}

// reconcilingCondition is True while Outrigger has writes to make (or sidecars to remove) or the workloads roll
// the current sidecars out; False, waiting, on a spec it cannot use.
func reconcilingCondition(in Input, t tally, w waves) metav1.Condition {
	c := metav1.Condition{Type: v1alpha1.ConditionReconciling, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonSucceeded, Message: "nothing left to do"}
	switch {
	case in.SpecError != nil:
		c.Reason, c.Message = v1alpha1.ReasonInvalidSpec, "waiting for a valid spec"
	case in.Deleting && in.NativeSidecarsUnsupported == "":
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, v1alpha1.ReasonRemoving, removingMessage(t)
	case in.Deleting:
	case w.halted():
		c.Reason, c.Message = v1alpha1.ReasonRolloutHalted, "waiting for a new spec: the rollout halted"
	case w.inProgress():
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, v1alpha1.ReasonRolloutInWaves, inWavesMessage(t, w)
	case w.pausedWithCandidate() && t.pending == 0 && t.rolling == 0:
		c.Reason, c.Message = v1alpha1.ReasonWavesPaused, pausedMessage(t, w)
	case t.pending > 0:
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, v1alpha1.ReasonProgressing, progressMessage(in, t)
	case t.rolling > 0:
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, v1alpha1.ReasonRollingOut, rolloutMessage(in, t)
	}
	return c
}

// stalledCondition is True when Outrigger cannot go on without a person: an unusable spec, a cluster without
// native sidecars, or (unless the profile is being deleted) a kind it lists that the manager refused, an
// admission policy that cannot place it, a conflict, a failure or a stuck rollout.
func stalledCondition(in Input, t tally, w waves) metav1.Condition {
	c := metav1.Condition{Type: v1alpha1.ConditionStalled, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonSucceeded, Message: "not stalled"}
	set := func(reason, msg string) { c.Status, c.Reason, c.Message = metav1.ConditionTrue, reason, msg }
	switch {
	case in.SpecError != nil:
		set(v1alpha1.ReasonInvalidSpec, Truncate(in.SpecError.Error(), 1024))
	case in.NativeSidecarsUnsupported != "":
		set(v1alpha1.ReasonNativeSidecarsUnsupported, Truncate(in.NativeSidecarsUnsupported, 1024))
	case in.Deleting:
	case len(in.KindsNotServed) > 0:
		set(v1alpha1.ReasonKindNotServed, Truncate("workloadKinds lists a kind the manager does not serve, so its workloads get no sidecars: "+
			strings.Join(in.KindsNotServed, "; "), 1024))
	case in.NotAdmitted != "":
		set(v1alpha1.ReasonAdmissionPolicyFailed, Truncate(in.NotAdmitted, 1024))
	case w.halted():
		set(v1alpha1.ReasonRolloutHalted, haltedMessage(in, t, w))
	case t.conflicts > 0 || t.failures > 0 || t.stuck > 0:
		set(stalledReason(t), stalledMessage(t))
	}
	return c
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
		c.Message = Truncate(fmt.Sprintf("%s %s/%s: %s", a.Kind, a.Namespace, a.Name, a.Message), 1024-len(more)) + more
		return c
	}
	return c
}

func readyMessage(in Input, t tally) string {
	if t.matched == 0 {
		return "no workload matches the selector"
	}
	msg := fmt.Sprintf("%d of %d selected workloads carry the current sidecars (revision %s)", t.upToDate, t.matched, in.Revision)
	if n := t.attentionTotal - t.advised; n > 0 {
		msg += fmt.Sprintf("; %d left as they are (updatePolicy OnCreate, Jobs that cannot change, rollouts held by OnDelete or a partition): see status.needsAttention", n)
	}
	if t.advised > 0 {
		msg += fmt.Sprintf("; %d pieces of advice on how workloads run with the sidecars (they block nothing): see status.needsAttention", t.advised)
	}
	return msg
}

// stalledReason is the reason of the most urgent blocking problem.
func stalledReason(t tally) string {
	switch {
	case t.conflicts > 0:
		return v1alpha1.ReasonConflict
	case t.failures > 0:
		for _, a := range t.attention {
			if isFailure(a.Reason) {
				return a.Reason
			}
		}
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
		return Truncate(fmt.Sprintf("%s %s/%s: %s", a.Kind, a.Namespace, a.Name, a.Message), 1024-len(more)) + more
	}
	return fmt.Sprintf("%d workloads have conflicts, refused writes or stuck rollouts", t.conflicts+t.failures+t.stuck)
}
