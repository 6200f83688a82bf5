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
func conditionsFor(in Input, t tally) []metav1.Condition {
	stalled, degraded := stalledCondition(in, t), degradedCondition(t)
	return []metav1.Condition{readyCondition(in, t, stalled, degraded), reconcilingCondition(in, t), stalled, degraded}
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
func readyCondition(in Input, t tally, stalled, degraded metav1.Condition) metav1.Condition {
	c := metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse}
	switch {
	case stalled.Status == metav1.ConditionTrue:
		c.Reason, c.Message = stalled.Reason, stalled.Message
	case in.Deleting:
		c.Reason, c.Message = v1alpha1.ReasonRemoving, removingMessage(t)
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
func reconcilingCondition(in Input, t tally) metav1.Condition {
	c := metav1.Condition{Type: v1alpha1.ConditionReconciling, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonSucceeded, Message: "nothing left to do"}
	switch {
	case in.SpecError != nil:
		c.Reason, c.Message = v1alpha1.ReasonInvalidSpec, "waiting for a valid spec"
	case in.Deleting && in.NativeSidecarsUnsupported == "":
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, v1alpha1.ReasonRemoving, removingMessage(t)
	case t.pending > 0:
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, v1alpha1.ReasonProgressing, progressMessage(in, t)
	case t.rolling > 0:
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, v1alpha1.ReasonRollingOut, rolloutMessage(in, t)
	}
	return c
}

// stalledCondition is True when Outrigger cannot go on without a person: an unusable spec, a cluster without
// native sidecars, or (unless the profile is being deleted) a kind it lists that the manager refused, a conflict,
// a failure or a stuck rollout.
func stalledCondition(in Input, t tally) metav1.Condition {
	c := metav1.Condition{Type: v1alpha1.ConditionStalled, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonSucceeded, Message: "not stalled"}
	set := func(reason, msg string) { c.Status, c.Reason, c.Message = metav1.ConditionTrue, reason, msg }
	switch {
	case in.SpecError != nil:
		set(v1alpha1.ReasonInvalidSpec, truncate(in.SpecError.Error(), 1024))
	case in.NativeSidecarsUnsupported != "":
		set(v1alpha1.ReasonNativeSidecarsUnsupported, truncate(in.NativeSidecarsUnsupported, 1024))
	case in.Deleting:
	case len(in.KindsNotServed) > 0:
		set(v1alpha1.ReasonKindNotServed, truncate("workloadKinds lists a kind the manager does not serve, so its workloads get no sidecars: "+
			strings.Join(in.KindsNotServed, "; "), 1024))
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
		c.Message = truncate(fmt.Sprintf("%s %s/%s: %s", a.Kind, a.Namespace, a.Name, a.Message), 1024-len(more)) + more
		return c
	}
	return c
}

func readyMessage(in Input, t tally) string {
	if t.matched == 0 {
		return "no workload matches the selector"
	}
	msg := fmt.Sprintf("%d of %d selected workloads carry the current sidecars (revision %s)", t.upToDate, t.matched, in.Revision)
	if n := t.attentionTotal; n > 0 {
		msg += fmt.Sprintf("; %d left as they are (updatePolicy OnCreate, Jobs that cannot change, rollouts held by OnDelete or a partition): see status.needsAttention", n)
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
		return truncate(fmt.Sprintf("%s %s/%s: %s", a.Kind, a.Namespace, a.Name, a.Message), 1024-len(more)) + more
	}
	return fmt.Sprintf("%d workloads have conflicts, refused writes or stuck rollouts", t.conflicts+t.failures+t.stuck)
}
