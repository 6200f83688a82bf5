package revision

import "github.com/outrigger-dev/outrigger/api/v1alpha1"

// Hold is Target's answer when the workload's injection of the profile must stay as it is: the rollout's state
// has not caught up with the spec yet.
const Hold = "hold"

// Target returns the revision of a profile a workload ranked rank gets, given the profile's current revision and
// the rollout status: the candidate within the open waves, the stable revision outside them, "" for none (a
// profile whose first revision has not reached this workload's wave), or Hold.
//
// At admission (a workload being created or updated: it starts new pods anyway) a profile with no stable
// revision yet gives its current one, unless its rollout halted, and a status behind the spec gives the stable
// revision. The reconciler, changing workloads that exist, holds instead until the status has caught up.
func Target(r *v1alpha1.RolloutStatus, current, rank string, admission bool) string {
	switch {
	case r == nil:
		if admission {
			return current
		}
		return Hold
	case current == r.StableRevision:
		return current
	case current != r.CandidateRevision: // the spec changed; the status does not know it yet
		if admission {
			return firstOr(r.StableRevision, current)
		}
		return Hold
	case r.Wave > 0 && rank <= r.Rank:
		return current
	case r.StableRevision == "" && admission && r.Halted == "":
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
