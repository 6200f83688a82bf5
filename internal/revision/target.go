package revision

import "github.com/outrigger-dev/outrigger/api/v1alpha1"

// Hold is Target's answer when the workload's injection of the profile must stay as it is: the rollout's state
// has not caught up with the spec yet.
const Hold = "hold"

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
	switch {
	case r == nil:
		if a.Admission {
			return current
		}
		return Hold
	case current == r.StableRevision:
		return current
	case current != r.CandidateRevision: // the spec changed; the status does not know it yet
		if a.Admission {
			return firstOr(r.StableRevision, current)
		}
		return Hold
	case r.Halted != "" && a.Frozen:
		return r.StableRevision
	case r.Wave > 0 && (rank <= r.Rank || r.Wave >= r.Waves):
		return current
	case r.StableRevision == "" && a.Admission && r.Halted == "":
		return current
	default:
		return r.StableRevision
	}
}

func firstOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
