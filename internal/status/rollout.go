package status

import (
	"fmt"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/revision"
)

// rolloutOf moves the profile's rollout on (revision.Step) from what the workloads show, and says what the next
// wave waits for. A spec Outrigger cannot
// use, or a profile being deleted, leaves it where it was; a profile that changes no existing workload
// (updatePolicy OnCreate) has its current revision stable.
func rolloutOf(old *v1alpha1.RolloutStatus, in Input) (r *v1alpha1.RolloutStatus, waiting string) {
	switch {
	case in.SpecError != nil || in.Deleting:
		r = old.DeepCopy()
	case in.OnCreate:
		r = &v1alpha1.RolloutStatus{StableRevision: in.Revision}
	default:
		var canary int
		members := membersOf(in)
		for _, w := range in.Workloads {
			if isMember(w) && w.Canary {
				canary++
			}
		}
		step := revision.Input{Current: in.Revision, Strategy: in.Strategy, Members: members, Canary: canary, Now: in.Now.Time}
		r = revision.Step(old, step)
		waiting = revision.Waiting(r, step)
	}
	if r != nil {
		r.Revisions = revisionCounts(in)
	}
	return r, waiting
}

// isMember: a workload follows the waves when the profile selects it and can change its template. One whose
// containers or volumes conflict with the profile's never takes it (it is Stalled on its own account), so it
// neither holds a wave's gate nor takes a place in it.
func isMember(w WorkloadObservation) bool {
	return w.Selected && !w.Immutable && w.NoTemplate == "" && w.Outcome != inject.Conflicted
}

func membersOf(in Input) []revision.Member {
	var ms []revision.Member
	for _, w := range in.Workloads {
		if !isMember(w) {
			continue
		}
		m := revision.Member{Name: fmt.Sprintf("%s %s/%s", w.Kind, w.Namespace, w.Name), Rank: w.Rank, Live: w.LiveRevision}
		if w.LiveRevision == in.Revision {
			m.RolledOut = w.Rollout.Held != "" || (w.Rollout.Done && podsAt(w.Sidecars, in.Revision))
			m.HealthySince = healthySince(w.Sidecars)
			m.Failing = failing(w, in)
		}
		ms = append(ms, m)
	}
	return ms
}

// healthySince is since when every observed sidecar has been ready without restarting: the latest pod start or
// last termination among them; the zero time when no pod is observed; nil while one is not ready.
func healthySince(sidecars []SidecarObservation) *time.Time {
	var since time.Time
	for _, s := range sidecars {
		if !s.Started || !s.Ready || s.Waiting != "" {
			return nil
		}
		for _, t := range []*time.Time{timeOf(s.PodStarted), timeOf(s.LastTerminationTime)} {
			if t != nil && t.After(since) {
				since = *t
			}
		}
	}
	return &since
}

// failing says why a workload carrying the candidate halts the rollout: a sidecar crash-looping or restarted
// recently, or the workload's own rollout past its deadline.
func failing(w WorkloadObservation, in Input) string {
	if w.Rollout.Stuck {
		return "its rollout is stuck (" + w.Rollout.Message + ")"
	}
	for _, s := range w.Sidecars {
		if s.Waiting == "CrashLoopBackOff" || restartedRecently(s, in.Now) {
			msg, _ := sidecarMessage(w, v1alpha1.ReasonSidecarRestarting, []SidecarObservation{s})
			return msg
		}
	}
	return ""
}

// revisionCounts counts the selected workloads per revision they carry, most first, at most
// MaxRevisionCounts of them.
func revisionCounts(in Input) []v1alpha1.RevisionCount {
	counts := map[string]int32{}
	for _, w := range in.Workloads {
		if w.Selected {
			counts[w.LiveRevision]++
		}
	}
	out := make([]v1alpha1.RevisionCount, 0, len(counts))
	for rev, n := range counts {
		out = append(out, v1alpha1.RevisionCount{Revision: rev, Workloads: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Workloads != out[j].Workloads {
			return out[i].Workloads > out[j].Workloads
		}
		return out[i].Revision < out[j].Revision
	})
	return out[:min(len(out), MaxRevisionCounts)]
}

// MaxRevisionCounts bounds status.rollout.revisions (the CRD's maxItems).
const MaxRevisionCounts = 10

// targetOf is the revision a selected workload is to carry now, after the rollout moved on.
func targetOf(in Input, r *v1alpha1.RolloutStatus, w WorkloadObservation) string {
	if in.OnCreate || w.Immutable {
		return in.Revision
	}
	return revision.Target(r, in.Revision, w.Rank, revision.Asker{})
}

func timeOf(t *metav1.Time) *time.Time {
	if t == nil {
		return nil
	}
	return &t.Time
}
