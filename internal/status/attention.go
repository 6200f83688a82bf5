package status

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/advice"
	"github.com/outrigger-dev/outrigger/internal/inject"
)

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

func conflictMessage(cs []inject.Conflict) string {
	msgs := make([]string, 0, len(cs))
	for _, c := range cs {
		msgs = append(msgs, c.Message())
	}
	return strings.Join(msgs, "; ")
}

// Severities of needsAttention entries, most urgent first. Advice ranks above what is left alone on purpose:
// it is a problem ahead (pods that a quota will refuse, a Job whose sidecar can keep the app from starting) that a
// person can fix now, while an OnCreate workload or a held rollout is as someone chose it. It ranks below a
// sidecar problem, which hurts running pods already, and changes no condition.
const (
	severityBlocking      = iota // stalls the profile: a conflict, a refused write, a stuck rollout
	severityDegraded             // a sidecar not ready, restarting or stripped
	severityAdvice               // something to change that blocks nothing: a native-sidecar pitfall, a refused override
	severityInformational        // left alone on purpose: OnCreate, or a Job that cannot change
)

func severity(a v1alpha1.WorkloadAttention) int {
	switch a.Reason {
	case v1alpha1.ReasonConflict, v1alpha1.ReasonWriteFailed, v1alpha1.ReasonReadFailed, v1alpha1.ReasonInvalidRecord, v1alpha1.ReasonRolloutStuck:
		return severityBlocking
	case v1alpha1.ReasonSidecarNotReady, v1alpha1.ReasonSidecarRestarting, v1alpha1.ReasonRestartPolicyStripped:
		return severityDegraded
	}
	if advice.IsReason(a.Reason) {
		return severityAdvice
	}
	return severityInformational
}

// isFailure reports whether a reason is one of a workload Outrigger failed to read or write.
func isFailure(reason string) bool {
	return reason == v1alpha1.ReasonWriteFailed || reason == v1alpha1.ReasonReadFailed || reason == v1alpha1.ReasonInvalidRecord
}

// blocking reports whether an entry stalls the profile.
func blocking(a v1alpha1.WorkloadAttention) bool { return severity(a) == severityBlocking }

func attentionKey(a v1alpha1.WorkloadAttention) string {
	return string(a.Kind) + "/" + a.Namespace + "/" + a.Name
}

// Truncate shortens s to at most n bytes, cutting between characters, with "..." when it cut: what a status
// field or an event note bounded in bytes can hold.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
