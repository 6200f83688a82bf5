package revision

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// Member is one workload that follows the waves (a selected workload whose template can change), as the gate
// sees it.
type Member struct {
	// Name says which workload it is, for messages: "Deployment shop/web".
	Name string
	Rank string
	// Live is the revision the workload carries; "" for none.
	Live string
	// RolledOut: the workload's own rollout of Live is done, or waits on a person by design (OnDelete).
	RolledOut bool
	// HealthySince is since when the profile's sidecars have been ready, without restarting, in every pod
	// observed (the latest of the pods' starts and the sidecars' last terminations); nil while one is not.
	HealthySince *time.Time
	// Failing says why the workload halts a rollout whose candidate it carries: a sidecar restarting or
	// crash-looping, its own rollout past its deadline; "" when nothing does.
	Failing string
}

// Input is what Step decides from.
type Input struct {
	// Current is the profile's current revision.
	Current  string
	Strategy v1alpha1.RolloutStrategy
	// Members follow the waves; Canary of them are the canary selector's.
	Members []Member
	Canary  int
	Now     time.Time
}

// Step returns the rollout status after prev, given what the members show now. A profile seen for the first
// time whose current revision some member already carries, or that selects nothing, is stable at once (an
// upgrade from a version without waves, or a profile with nothing to roll); otherwise its first revision rolls
// out in waves like any other. A new candidate starts from the first wave; going back to the stable revision
// ends the rollout, and the workloads that got the candidate get the stable revision back.
func Step(prev *v1alpha1.RolloutStatus, in Input) *v1alpha1.RolloutStatus {
	in.Members = byRank(in.Members)
	var r v1alpha1.RolloutStatus
	switch {
	case prev != nil:
		r = *prev.DeepCopy()
	case len(in.Members) == 0 || slices.ContainsFunc(in.Members, func(m Member) bool { return m.Live == in.Current }):
		r.StableRevision = in.Current
	}
	if in.Current == r.StableRevision {
		return settled(r)
	}
	if in.Current != r.CandidateRevision {
		r = v1alpha1.RolloutStatus{StableRevision: r.StableRevision, CandidateRevision: in.Current}
	}
	ranks := sortedRanks(in.Members)
	plan := Plan(in.Strategy.WavesOrDefault(), len(ranks), in.Canary)
	covered := countUpTo(ranks, r)
	r.Waves = r.Wave + int32(countAbove(plan, covered))
	switch {
	case len(plan) == 0: // nothing selected: nothing to roll
		r.StableRevision = in.Current
		return settled(r)
	case r.Halted != "":
		return &r
	case r.Wave == 0:
		if !in.Strategy.Paused {
			open(&r, ranks, plan, covered, in.Now)
		}
		return &r
	}
	blocker, failing := gate(r, in)
	switch {
	case failing != "":
		r.Halted = fmt.Sprintf("wave %d of %d: %s", r.Wave, r.Waves, failing)
	case blocker != "":
		// A paused rollout waits for a person, not for its gate: its deadline does not run out (a crash still
		// halts it, above).
		if opened := r.WaveOpened; opened != nil && !in.Strategy.Paused && in.Now.Sub(opened.Time) > in.Strategy.ProgressDeadline() {
			r.Halted = fmt.Sprintf("wave %d of %d did not pass its gate within progressDeadlineSeconds (%s): %s",
				r.Wave, r.Waves, in.Strategy.ProgressDeadline(), blocker)
		}
	case covered == len(ranks):
		r.StableRevision = in.Current
		return settled(r)
	case !in.Strategy.Paused:
		open(&r, ranks, plan, covered, in.Now)
	}
	return &r
}

// settled is a rollout with nothing in progress.
func settled(r v1alpha1.RolloutStatus) *v1alpha1.RolloutStatus {
	return &v1alpha1.RolloutStatus{StableRevision: r.StableRevision, Revisions: r.Revisions}
}

// open opens the next wave: the first planned count beyond the covered workloads.
func open(r *v1alpha1.RolloutStatus, ranks []string, plan []int, covered int, now time.Time) {
	for _, n := range plan {
		if n > covered {
			r.Wave++
			r.Rank = ranks[n-1]
			t := metav1.NewTime(now)
			r.WaveOpened = &t
			r.Waves = r.Wave + int32(countAbove(plan, n))
			return
		}
	}
}

// gate says which member of the open waves keeps the gate shut (blocker), or makes the rollout halt (failing);
// both "" when the next wave may open. The wave itself must have been open for minHealthySeconds.
func gate(r v1alpha1.RolloutStatus, in Input) (blocker, failing string) {
	minHealthy := in.Strategy.MinHealthy()
	for _, m := range in.Members {
		if m.Rank > r.Rank {
			continue
		}
		switch {
		case m.Live == in.Current && m.Failing != "":
			return "", m.Name + ": " + m.Failing
		case blocker != "":
		case m.Live != in.Current:
			blocker = m.Name + " does not carry the candidate yet"
		case !m.RolledOut:
			blocker = m.Name + " has not rolled the candidate out yet"
		case m.HealthySince == nil:
			blocker = m.Name + ": a sidecar is not ready"
		case in.Now.Sub(*m.HealthySince) < minHealthy:
			blocker = fmt.Sprintf("%s: the sidecars have been ready for less than minHealthySeconds (%s)", m.Name, minHealthy)
		}
	}
	if blocker == "" && r.WaveOpened != nil && in.Now.Sub(r.WaveOpened.Time) < minHealthy {
		blocker = fmt.Sprintf("wave %d opened less than minHealthySeconds (%s) ago", r.Wave, minHealthy)
	}
	return blocker, ""
}

func sortedRanks(members []Member) []string {
	ranks := make([]string, 0, len(members))
	for _, m := range members {
		ranks = append(ranks, m.Rank)
	}
	slices.Sort(ranks)
	return ranks
}

// countUpTo counts the ranks within the open waves.
func countUpTo(ranks []string, r v1alpha1.RolloutStatus) int {
	if r.Wave == 0 {
		return 0
	}
	n, _ := slices.BinarySearch(ranks, r.Rank)
	if n < len(ranks) && ranks[n] == r.Rank {
		n++
	}
	return n
}

func countAbove(plan []int, n int) int {
	c := 0
	for _, p := range plan {
		if p > n {
			c++
		}
	}
	return c
}

// Waiting says what keeps the next wave of r (a status Step returned) from opening: a member of the open waves
// not rolled out or not healthy long enough; "" when the rollout is settled, halted, or paused before its first
// wave.
func Waiting(r *v1alpha1.RolloutStatus, in Input) string {
	if r == nil || r.CandidateRevision == "" || r.Halted != "" || r.Wave == 0 {
		return ""
	}
	in.Members = byRank(in.Members)
	blocker, _ := gate(*r, in)
	return blocker
}

// byRank is the members in rollout order, so that the gate names the same member whatever order they came in.
func byRank(ms []Member) []Member {
	out := slices.Clone(ms)
	slices.SortFunc(out, func(a, b Member) int { return cmp.Or(cmp.Compare(a.Rank, b.Rank), cmp.Compare(a.Name, b.Name)) })
	return out
}
