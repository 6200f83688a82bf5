package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/revision"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

func wavesSize() int { return intsFromEnv("BENCH_WAVES", []int{1000})[0] }

// wavesMinHealthy is the benchmark's minHealthySeconds: each wave's gate waits this long after it opened. The
// envtest control plane runs no pods, so the sidecars are healthy at once: the rest of a wave's time is
// Outrigger's.
const wavesMinHealthy = 5 * time.Second

// Budgets of a rollout in waves: a wave is filled (every workload of it carries the candidate) within
// maxWaveFill of opening, the next opens within maxGateLag of the gate's minimum time, and every workload is
// written once.
const (
	maxWaveFill = 10 * time.Second
	maxGateLag  = 5 * time.Second
)

// waveResult is one wave: how many workloads carry the candidate once it is open, when it opened (since the
// change) and how long it took to fill.
type waveResult struct {
	Size         int
	Opened, Fill time.Duration
}

type wavesResult struct {
	N                 int
	Waves             []waveResult
	Total             time.Duration // from the change to the candidate stable
	Writes, Conflicts float64
}

// BenchmarkWaves measures a profile change rolled out in the default waves (1, 10%, 50%, all) over 1,000
// Deployments (BENCH_WAVES), with minHealthySeconds 5 (use -benchtime 1x): when each wave opened, how long it
// took to fill, the total, and the writes. It prints the table and fails when a figure misses its budget.
func BenchmarkWaves(b *testing.B) {
	root, out, binary := prepare(b)
	n := wavesSize()
	b.Run(caseName(workload.Deployment, n), func(b *testing.B) {
		for b.Loop() {
			s := &scale{b: b, root: root, out: out, binary: binary, kind: workload.Deployment, n: n}
			r := s.runWaves()
			b.ReportMetric(r.Total.Seconds(), "total-s")
			b.ReportMetric(r.Writes/float64(n), "writes/workload")
			writeTable(b, filepath.Join(out, "results-waves.md"), r.render())
			if missed := r.missed(); len(missed) > 0 {
				b.Fatalf("the rollout in waves missed the budget: %s", strings.Join(missed, "; "))
			}
		}
	})
}

// runWaves creates the Deployments after their profile (so they carry its first revision, stable), changes the
// profile's image, and follows the waves until the change is stable.
func (s *scale) runWaves() wavesResult {
	ctx := context.Background()
	s.start()
	defer s.stopAll()
	s.must(s.createNamespaces(ctx))
	p := clusterProfile(s.kind, "bench-waves", setOutrigger)
	p.Spec.Rollout = v1alpha1.RolloutStrategy{MinHealthySeconds: ptr.To(int32(wavesMinHealthy / time.Second))}
	s.must(s.c.Create(ctx, p))
	s.waitObserved(ctx, p.Name)
	s.logf("creating %d %s after their profile", s.n, plural(s.kind))
	s.must(createWorkloads(ctx, s.c, s.kind, setOutrigger, 0, s.n, namespaces, createWorkers))
	// The gate waits for each Deployment's rollout, which no controller-manager reports here: play its part.
	finishCtx, stopFinishing := context.WithCancel(ctx)
	defer stopFinishing()
	go s.finishDeployments(finishCtx)
	tr, err := startTracker(ctx, s.cs, s.kind, map[string]inject.ProfileRef{setOutrigger: {Kind: inject.KindClusterSidecarProfile, Name: p.Name}})
	s.must(err)
	defer tr.close()
	first := inject.Revision(&p.Spec.SidecarProfileSpec)
	_, err = tr.waitFor(ctx, setOutrigger, first, s.n, waitTimeout)
	s.must(err)
	s.waitRollout(ctx, p.Name, func(r *v1alpha1.RolloutStatus) bool { return r.StableRevision == first })
	before := s.idle(ctx, 0)

	s.must(s.setImage(ctx, p.Name, "registry.example/platform/logshipper:2.2"))
	var changed v1alpha1.ClusterSidecarProfile
	s.must(s.c.Get(ctx, client.ObjectKey{Name: p.Name}, &changed))
	candidate := inject.Revision(&changed.Spec.SidecarProfileSpec)
	start := time.Now()
	res := wavesResult{N: s.n}
	plan := revision.Plan(v1alpha1.DefaultWaves, s.n, 0)
	for i, size := range plan {
		s.waitRollout(ctx, p.Name, func(r *v1alpha1.RolloutStatus) bool {
			return r.StableRevision == candidate || (r.CandidateRevision == candidate && int(r.Wave) > i)
		})
		opened := time.Since(start)
		end, err := tr.waitFor(ctx, setOutrigger, candidate, size, waitTimeout)
		s.must(err)
		if got := tr.count(setOutrigger, candidate); got > size {
			s.b.Fatalf("wave %d: %d %s carry the candidate, more than the wave's %d", i+1, got, plural(s.kind), size)
		}
		res.Waves = append(res.Waves, waveResult{Size: size, Opened: opened, Fill: end.Sub(start) - opened})
		s.logf("wave %d of %d: %d workloads, opened at +%s, filled in %s", i+1, len(plan), size, secs(opened), secs(end.Sub(start)-opened))
	}
	s.waitRollout(ctx, p.Name, func(r *v1alpha1.RolloutStatus) bool { return r.StableRevision == candidate })
	res.Total = time.Since(start)
	after := s.idle(ctx, 0)
	res.Writes, res.Conflicts = workloadWrites(s.kind, before, after)
	return res
}

// finishDeployments reports, every 200 ms, every Deployment whose status lags its generation as rolled out, as
// its controller would once its pods are available. It returns when ctx is done.
func (s *scale) finishDeployments(ctx context.Context) {
	for ctx.Err() == nil {
		var list appsv1.DeploymentList
		if err := s.c.List(ctx, &list, client.MatchingLabels{setLabel: setOutrigger}); err == nil {
			for i := range list.Items {
				d := &list.Items[i]
				if d.Status.ObservedGeneration == d.Generation {
					continue
				}
				replicas := ptr.Deref(d.Spec.Replicas, 1)
				d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: replicas, UpdatedReplicas: replicas,
					ReadyReplicas: replicas, AvailableReplicas: replicas}
				_ = s.c.Status().Update(ctx, d) // a conflict is retried on the next tick
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// setImage changes a cluster profile's image, retrying when the manager's status write got there first.
func (s *scale) setImage(ctx context.Context, name, image string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var p v1alpha1.ClusterSidecarProfile
		if err := s.c.Get(ctx, client.ObjectKey{Name: name}, &p); err != nil {
			return err
		}
		p.Spec.Sidecars[0].Image = image
		return s.c.Update(ctx, &p)
	})
}

// waitRollout polls the profile's status.rollout every 50 ms until ok holds.
func (s *scale) waitRollout(ctx context.Context, name string, ok func(*v1alpha1.RolloutStatus) bool) {
	deadline := time.Now().Add(waitTimeout)
	for {
		var p v1alpha1.ClusterSidecarProfile
		s.must(s.c.Get(ctx, client.ObjectKey{Name: name}, &p))
		if r := p.Status.Rollout; r != nil && ok(r) {
			return
		}
		if time.Now().After(deadline) {
			s.b.Fatalf("profile %s: the rollout did not get there in %s: %+v", name, waitTimeout, p.Status.Rollout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// missed says which figures miss the budget.
func (r wavesResult) missed() []string {
	var out []string
	for i, w := range r.Waves {
		if w.Fill > maxWaveFill {
			out = append(out, fmt.Sprintf("wave %d filled in %s > %s", i+1, secs(w.Fill), secs(maxWaveFill)))
		}
		if i == 0 {
			continue
		}
		prev := r.Waves[i-1]
		if lag := w.Opened - prev.Opened - max(wavesMinHealthy, prev.Fill); lag > maxGateLag {
			out = append(out, fmt.Sprintf("wave %d opened %s after the gate could, > %s", i+1, secs(lag), secs(maxGateLag)))
		}
	}
	if r.Writes != float64(r.N) || r.Conflicts > 0 {
		out = append(out, fmt.Sprintf("%.0f writes (%.0f conflicts) for %d workloads", r.Writes, r.Conflicts, r.N))
	}
	return out
}

func (r wavesResult) render() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "Rollout in waves (%d Deployments, waves 1, 10%%, 50%%, all; minHealthySeconds %d; budget: a wave filled within %s, opened within %s of its gate, 1 write per workload)\n\n",
		r.N, int(wavesMinHealthy/time.Second), secs(maxWaveFill), secs(maxGateLag))
	sb.WriteString("| wave | workloads carrying the change | opened at | filled in |\n| --- | --- | --- | --- |\n")
	for i, w := range r.Waves {
		fmt.Fprintf(&sb, "| %d | %d | +%s | %s |\n", i+1, w.Size, secs(w.Opened), secs(w.Fill))
	}
	fmt.Fprintf(&sb, "\nTotal, from the change to the candidate stable: %s; writes: %.0f (%.2f per workload), conflicts: %.0f\n",
		secs(r.Total), r.Writes, r.Writes/float64(r.N), r.Conflicts)
	return sb.String()
}
