package revision

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
)

func waves(ws ...any) []intstr.IntOrString {
	var out []intstr.IntOrString
	for _, w := range ws {
		switch w := w.(type) {
		case int:
			out = append(out, intstr.FromInt(w))
		case string:
			out = append(out, intstr.FromString(w))
		}
	}
	return out
}

func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		name          string
		waves         []intstr.IntOrString
		total, canary int
		want          []int
	}{
		{"the default waves over 1000", v1alpha1.DefaultWaves, 1000, 0, []int{1, 100, 500, 1000}},
		{"the default waves over 100", v1alpha1.DefaultWaves, 100, 0, []int{1, 10, 50, 100}},
		{"percentages round up", waves("10%"), 5, 0, []int{1, 5}},
		{"waves that add nothing are dropped", v1alpha1.DefaultWaves, 2, 0, []int{1, 2}},
		{"one workload is one wave", v1alpha1.DefaultWaves, 1, 0, []int{1}},
		{"all at once", waves("100%"), 40, 0, []int{40}},
		{"a canary of three first", waves("10%", "50%"), 100, 3, []int{3, 10, 50, 100}},
		{"a canary larger than the first wave", waves("10%", "50%"), 100, 20, []int{20, 50, 100}},
		{"a smaller wave after a larger one adds nothing", waves("50%", 3), 10, 0, []int{5, 10}},
		{"a count beyond the total is the total", waves(500), 10, 0, []int{10}},
		{"nothing selected, no waves", v1alpha1.DefaultWaves, 0, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, Plan(tc.waves, tc.total, tc.canary)); diff != "" {
				t.Errorf("Plan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRank_CanaryFirstAndStable(t *testing.T) {
	a, b := Rank("Deployment", "shop", "web", false), Rank("Deployment", "shop", "web", true)
	if b >= a {
		t.Errorf("a canary ranks after a non-canary: %s, %s", b, a)
	}
	if a != Rank("Deployment", "shop", "web", false) {
		t.Errorf("Rank is not deterministic")
	}
	if a == Rank("StatefulSet", "shop", "web", false) {
		t.Errorf("two kinds of one name share a rank")
	}
}

func TestTarget(t *testing.T) {
	const stable, cand, rank = "s", "c", "1500"
	inWave, outOfWave := "1400", "1600"
	open := &v1alpha1.RolloutStatus{StableRevision: stable, CandidateRevision: cand, Wave: 1, Waves: 3, Rank: rank}
	last := &v1alpha1.RolloutStatus{StableRevision: stable, CandidateRevision: cand, Wave: 3, Waves: 3, Rank: rank}
	first := &v1alpha1.RolloutStatus{CandidateRevision: cand, Wave: 1, Waves: 3, Rank: rank}
	halted := &v1alpha1.RolloutStatus{CandidateRevision: cand, Wave: 1, Waves: 3, Rank: rank, Halted: "wave 1 of 3: ..."}
	haltedWithStable := &v1alpha1.RolloutStatus{StableRevision: stable, CandidateRevision: cand, Wave: 1, Waves: 3, Rank: rank, Halted: "wave 1 of 3: ..."}
	for _, tc := range []struct {
		name       string
		r          *v1alpha1.RolloutStatus
		current    string
		rank       string
		reconciler string // the answer for a workload that exists
		admission  string // for one being created or updated
		job        string // for a Job at admission; "" means as admission
	}{
		{"no status yet: a new profile", nil, cand, outOfWave, Hold, cand, ""},
		{"stable", &v1alpha1.RolloutStatus{StableRevision: stable}, stable, outOfWave, stable, stable, ""},
		{"in an open wave", open, cand, inWave, cand, cand, ""},
		{"the last of an open wave", open, cand, rank, cand, cand, ""},
		{"outside the open waves", open, cand, outOfWave, stable, stable, ""},
		{"no wave open yet", &v1alpha1.RolloutStatus{StableRevision: stable, CandidateRevision: cand}, cand, inWave, stable, stable, ""},
		{"a spec newer than the status", open, "newer", inWave, Hold, stable, ""},
		{"a first revision outside the waves", first, cand, outOfWave, "", cand, ""},
		{"a first revision, halted", halted, cand, outOfWave, "", "", ""},
		{"a first revision, halted, in the wave", halted, cand, inWave, cand, cand, "none"},
		{"a first revision newer than the status", first, "newer", outOfWave, Hold, "newer", ""},
		{"the last wave open: a workload ranked after the last one counted", last, cand, outOfWave, cand, cand, ""},
		{"halted: a Job of the open wave gets the stable revision", haltedWithStable, cand, inWave, cand, cand, stable},
		{"halted: a Job outside the waves gets the stable revision", haltedWithStable, cand, outOfWave, stable, stable, stable},
		// What the admission policies compile: a workload whose rank is unknown comes after every ranked one.
		{"unranked, in a rollout", open, cand, Unranked, stable, stable, ""},
		{"unranked, every wave open", last, cand, Unranked, cand, cand, ""},
		{"unranked, a first revision", first, cand, Unranked, "", cand, ""},
		{"unranked, a first revision, halted", halted, cand, Unranked, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Target(tc.r, tc.current, tc.rank, Asker{}); got != tc.reconciler {
				t.Errorf("reconciler: %q, want %q", got, tc.reconciler)
			}
			if got := Target(tc.r, tc.current, tc.rank, Asker{Admission: true}); got != tc.admission {
				t.Errorf("admission: %q, want %q", got, tc.admission)
			}
			wantJob := tc.job
			switch wantJob {
			case "":
				wantJob = tc.admission
			case "none":
				wantJob = ""
			}
			if got := Target(tc.r, tc.current, tc.rank, Asker{Admission: true, Frozen: true}); got != wantJob {
				t.Errorf("a Job at admission: %q, want %q", got, wantJob)
			}
		})
	}
}

// fleet is n members ranked "r000".. with what they show.
func fleet(n int, mutate func(i int, m *Member)) []Member {
	ms := make([]Member, n)
	for i := range ms {
		ms[i] = Member{Name: fmt.Sprintf("Deployment ns/w%03d", i), Rank: fmt.Sprintf("r%03d", i), Live: "s"}
		if mutate != nil {
			mutate(i, &ms[i])
		}
	}
	return ms
}

func TestStep(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *metav1.Time { return ptr.To(metav1.NewTime(t0.Add(d))) }
	healthy := func(since time.Duration) func(int, *Member) {
		return func(_ int, m *Member) {
			m.Live, m.RolledOut, m.HealthySince = "c", true, ptr.To(t0.Add(since))
		}
	}
	upTo := func(n int, f func(int, *Member)) func(int, *Member) {
		return func(i int, m *Member) {
			if i < n {
				f(i, m)
			}
		}
	}
	strategy := v1alpha1.RolloutStrategy{Waves: waves(1, "10%", "50%")}
	wave1 := &v1alpha1.RolloutStatus{StableRevision: "s", CandidateRevision: "c", Wave: 1, Waves: 4, Rank: "r000", WaveOpened: at(0)}
	for _, tc := range []struct {
		name     string
		prev     *v1alpha1.RolloutStatus
		strategy v1alpha1.RolloutStrategy
		members  []Member
		current  string
		now      time.Duration
		want     *v1alpha1.RolloutStatus
		halted   []string // substrings of want.Halted, compared apart
	}{
		{name: "an upgraded profile its workloads carry is stable", current: "s", members: fleet(3, nil),
			want: &v1alpha1.RolloutStatus{StableRevision: "s"}},
		{name: "a profile selecting nothing is stable", current: "c",
			want: &v1alpha1.RolloutStatus{StableRevision: "c"}},
		{name: "a new profile's first revision opens the canary", current: "c", strategy: strategy,
			members: fleet(100, func(_ int, m *Member) { m.Live = "" }),
			want:    &v1alpha1.RolloutStatus{CandidateRevision: "c", Wave: 1, Waves: 4, Rank: "r000", WaveOpened: at(0)}},
		{name: "a new revision opens the canary", prev: &v1alpha1.RolloutStatus{StableRevision: "s"}, current: "c",
			strategy: strategy, members: fleet(100, nil), want: wave1},
		{name: "paused, no wave opens", prev: &v1alpha1.RolloutStatus{StableRevision: "s"}, current: "c",
			strategy: v1alpha1.RolloutStrategy{Paused: true}, members: fleet(100, nil),
			want: &v1alpha1.RolloutStatus{StableRevision: "s", CandidateRevision: "c", Waves: 4}},
		{name: "the canary not rolled out keeps the gate shut", prev: wave1, current: "c", strategy: strategy, now: 2 * time.Minute,
			members: fleet(100, upTo(1, func(_ int, m *Member) { m.Live = "c" })), want: wave1},
		{name: "healthy for less than minHealthySeconds keeps the gate shut", prev: wave1, current: "c", strategy: strategy,
			now: 2 * time.Minute, members: fleet(100, upTo(1, healthy(90*time.Second))), want: wave1},
		{name: "healthy long enough opens the next wave", prev: wave1, current: "c", strategy: strategy, now: 2 * time.Minute,
			members: fleet(100, upTo(1, healthy(30*time.Second))),
			want:    &v1alpha1.RolloutStatus{StableRevision: "s", CandidateRevision: "c", Wave: 2, Waves: 4, Rank: "r009", WaveOpened: at(2 * time.Minute)}},
		{name: "a wave open for less than minHealthySeconds keeps the gate shut", prev: wave1, current: "c", strategy: strategy,
			now: 30 * time.Second, members: fleet(100, upTo(1, healthy(-time.Hour))), want: wave1},
		{name: "paused after the canary", prev: wave1, current: "c", strategy: v1alpha1.RolloutStrategy{Paused: true}, now: 2 * time.Minute,
			members: fleet(100, upTo(1, healthy(0))), want: wave1},
		{name: "a restarting sidecar in the canary halts", prev: wave1, current: "c", strategy: strategy, now: 20 * time.Second,
			members: fleet(100, upTo(1, func(_ int, m *Member) { m.Live, m.Failing = "c", `sidecar "proxy" is in CrashLoopBackOff` })),
			halted:  []string{"wave 1 of 4: Deployment ns/w000: sidecar \"proxy\" is in CrashLoopBackOff"}},
		{name: "a failing workload outside the waves halts nothing", prev: wave1, current: "c", strategy: strategy, now: 2 * time.Minute,
			members: fleet(100, func(i int, m *Member) {
				if i == 0 {
					healthy(0)(i, m)
				} else {
					m.Failing = "its rollout is past its progress deadline"
				}
			}),
			want: &v1alpha1.RolloutStatus{StableRevision: "s", CandidateRevision: "c", Wave: 2, Waves: 4, Rank: "r009", WaveOpened: at(2 * time.Minute)}},
		{name: "a wave past its deadline halts", prev: wave1, current: "c", strategy: strategy, now: 11 * time.Minute,
			members: fleet(100, upTo(1, func(_ int, m *Member) { m.Live, m.RolledOut = "c", true })),
			halted:  []string{"wave 1 of 4 did not pass its gate within progressDeadlineSeconds (10m0s)", "Deployment ns/w000: a sidecar is not ready"}},
		{name: "paused: a wave past its deadline does not halt", prev: wave1, current: "c", now: 11 * time.Minute,
			strategy: v1alpha1.RolloutStrategy{Waves: strategy.Waves, MinHealthySeconds: strategy.MinHealthySeconds, Paused: true},
			members:  fleet(100, upTo(1, func(_ int, m *Member) { m.Live, m.RolledOut = "c", true })),
			want:     wave1},
		{name: "the last wave healthy makes the candidate stable", current: "c", strategy: strategy, now: 2 * time.Minute,
			prev:    &v1alpha1.RolloutStatus{StableRevision: "s", CandidateRevision: "c", Wave: 4, Waves: 4, Rank: "r099", WaveOpened: at(0)},
			members: fleet(100, healthy(0)), want: &v1alpha1.RolloutStatus{StableRevision: "c"}},
		{name: "a new candidate starts from the canary", current: "d", strategy: strategy, now: 2 * time.Minute,
			prev:    &v1alpha1.RolloutStatus{StableRevision: "s", CandidateRevision: "c", Wave: 3, Waves: 4, Rank: "r049", WaveOpened: at(0), Halted: "x"},
			members: fleet(100, nil),
			want:    &v1alpha1.RolloutStatus{StableRevision: "s", CandidateRevision: "d", Wave: 1, Waves: 4, Rank: "r000", WaveOpened: at(2 * time.Minute)}},
		{name: "a revert to the stable spec ends the rollout", current: "s", strategy: strategy,
			prev: &v1alpha1.RolloutStatus{StableRevision: "s", CandidateRevision: "c", Wave: 1, Rank: "r000", Halted: "x"},
			want: &v1alpha1.RolloutStatus{StableRevision: "s"}},
		{name: "halted stays halted", current: "c", strategy: strategy, now: time.Hour,
			prev:    &v1alpha1.RolloutStatus{StableRevision: "s", CandidateRevision: "c", Wave: 1, Waves: 4, Rank: "r000", WaveOpened: at(0), Halted: "x"},
			members: fleet(100, healthy(0)),
			want:    &v1alpha1.RolloutStatus{StableRevision: "s", CandidateRevision: "c", Wave: 1, Waves: 4, Rank: "r000", WaveOpened: at(0), Halted: "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Step(tc.prev, Input{Current: tc.current, Strategy: tc.strategy, Members: tc.members, Now: t0.Add(tc.now)})
			if tc.halted != nil {
				for _, want := range tc.halted {
					if !strings.Contains(got.Halted, want) {
						t.Errorf("Halted = %q, want it to contain %q", got.Halted, want)
					}
				}
				return
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Step (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSpecAt_RendersTheStoredRevisionAndRefusesAnEditedOne(t *testing.T) {
	spec := &v1alpha1.SidecarProfileSpec{Sidecars: []v1alpha1.Sidecar{{}}}
	spec.Sidecars[0].Name, spec.Sidecars[0].Image = "proxy", "proxy:1"
	old, err := Encode(spec)
	if err != nil {
		t.Fatal(err)
	}
	oldHash := inject.Revision(spec)
	spec.Sidecars[0].Image = "proxy:2"
	got, err := SpecAt(spec, oldHash, old)
	if err != nil || got.Sidecars[0].Image != "proxy:1" || spec.Sidecars[0].Image != "proxy:2" {
		t.Fatalf("SpecAt = %v, %v; the spec given must stay as it was", got, err)
	}
	if _, err := SpecAt(spec, oldHash, []byte(strings.Replace(string(old), "proxy:1", "proxy:3", 1))); err == nil ||
		!strings.Contains(err.Error(), "edited by hand") {
		t.Errorf("an edited revision: %v", err)
	}
}
