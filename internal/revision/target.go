package revision

import (
	"fmt"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// Hold is Target's answer when the workload's injection of the profile must stay as it is: the rollout's state
// has not caught up with the spec yet.
const Hold = "hold"

// Unranked is the rank of a workload whose place in the rollout order is unknown: one the apiserver's admission
// policies admit, which cannot hash its name. It sorts after every rank (Rank gives hex digits), so such a
// workload gets a candidate only once every wave is open, and the stable revision before that.
const Unranked = "~"

// Asker says who asks for a workload's target revision.
type Asker struct {
	// Admission: the workload is being created or updated (the webhook), and starts new pods anyway; otherwise
	// the reconciler asks, to change a workload that exists.
	Admission bool
	// Frozen: the workload's template cannot change after admission (a Job), so the reconciler never gives it
	// anything: a halted candidate never reaches it, whatever its wave.
	Frozen bool
}

// Target returns the revision of a profile a workload ranked rank gets, given the profile's current revision and
// the rollout status: the candidate within the open waves (every workload once the last wave is open), the
// stable revision outside them, "" for none (a profile whose first revision has not reached this workload's
// wave), or Hold.
//
// At admission a profile with no stable revision yet gives its current one, unless its rollout halted, and a
// status behind the spec gives the stable revision. The reconciler, changing workloads that exist, holds instead
// until the status has caught up. For a workload that exists, both answer the same, so the webhook and the
// reconciler never undo each other.
func Target(r *v1alpha1.RolloutStatus, current, rank string, a Asker) string {
	target, _ := Explain(r, current, rank, a)
	return target
}

// Explain is Target, and why, in words for the CLI; why is "" when no rollout is in progress.
func Explain(r *v1alpha1.RolloutStatus, current, rank string, a Asker) (target, why string) {
	switch {
	case r == nil:
		if a.Admission {
			return current, ""
		}
		return Hold, "the profile's rollout status is not computed yet"
	case current == r.StableRevision:
		return current, ""
	case current != r.CandidateRevision: // the spec changed; the status does not know it yet
		if !a.Admission {
			return Hold, "the profile's rollout status has not seen its spec yet"
		}
		if r.StableRevision == "" {
			return current, ""
		}
		return r.StableRevision, fmt.Sprintf("the stable revision %s: revision %s is new and rolls out in waves from the canary", r.StableRevision, current)
	case r.Halted != "" && a.Frozen:
		return r.StableRevision, fmt.Sprintf("%s: the rollout of revision %s halted, and a Job never gets a halted revision", stableOrNone(r.StableRevision), current)
	case r.Wave > 0 && r.Wave >= r.Waves:
		return current, fmt.Sprintf("the candidate %s: every wave of its rollout is open", current)
	case r.Wave > 0 && rank <= r.Rank:
		return current, fmt.Sprintf("the candidate %s: the workload's place in the rollout order is within the open waves (%d of %d)", current, r.Wave, r.Waves)
	case r.StableRevision == "" && a.Admission && r.Halted == "":
		return current, fmt.Sprintf("the profile's first revision %s: new workloads get it at once, existing ones in waves", current)
	case r.Halted != "":
		return r.StableRevision, fmt.Sprintf("%s: the rollout of revision %s halted before the workload's wave", stableOrNone(r.StableRevision), current)
	default:
		return r.StableRevision, fmt.Sprintf("%s: the rollout of revision %s has %d of %d waves open, not yet the workload's", stableOrNone(r.StableRevision), current, r.Wave, r.Waves)
	}
}

func stableOrNone(stable string) string {
	if stable == "" {
		return "none of the profile's sidecars"
	}
	return "the stable revision " + stable
}
