package faults

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/controller"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/selection"
)

const crashN = 200

// The names of TestCrashSafety's objects, of this run of it (see nextRun).
var (
	crashSet, crashNSLabel, crashCluster, crashMesh string
	crashMeshNS                                     string // the namespaced profile's namespace, where the special Deployments live too
	crashOutsideNS                                  string
)

// nameCrashRun gives this run of TestCrashSafety names of its own.
func nameCrashRun() {
	r := nextRun()
	crashSet, crashNSLabel = "crash-"+r, "faults.outrigger.dev/crash-"+r
	crashCluster, crashMesh = "faults-logshipper-"+r, "faults-mesh-"+r
	crashMeshNS, crashOutsideNS = crashNS(0), "faults-outside-"+r
}

// crashNS is the name of the i-th namespace of this run of TestCrashSafety.
func crashNS(i int) string {
	return fmt.Sprintf("faults-%s-%d", strings.TrimPrefix(crashSet, "crash-"), i)
}

// crashPhase is one profile change, during which the manager is killed with SIGKILL when the tracker has seen
// the given fractions of the writes it needs.
type crashPhase struct {
	name        string
	createAlive int // Deployments created first, manager up: the webhook injects them as the profiles stand
	act         func(ctx context.Context) error
	kills       []float64
	createDead  int // Deployments created after the first kill, manager down: created as written
}

// crashReport is what one phase measured.
type crashReport struct {
	phase        string
	needed       int
	killedAt     []int // Deployments written as seen by the tracker when each kill was sent
	landedAfter  []int // ... and 300 ms after: writes that were in flight, or had not reached the tracker yet
	activeAtKill []int // Deployment reconciles running just before each kill
	verified     checkpoint
	writes       writes
	duration     time.Duration
}

// TestCrashSafety kills the manager with SIGKILL in the middle of injecting, updating and removing sidecars on 200
// Deployments of varied shapes, restarts it, and checks after each change that every Deployment is exactly the
// engine's result for the template its author wrote (the template itself, after removal), written once.
func TestCrashSafety(t *testing.T) {
	nameCrashRun()
	ctx := context.Background()
	started := time.Now()
	nsLabels := map[string]map[string]string{crashOutsideNS: {"kubernetes.io/metadata.name": crashOutsideNS}}
	for i := range 4 {
		ns := crashNS(i)
		nsLabels[ns] = map[string]string{crashNSLabel: "true", "kubernetes.io/metadata.name": ns}
	}
	for ns, labels := range nsLabels {
		must(t, shared.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels}}))
	}
	m := newModel(crashSet, nsLabels)
	mgr := newReplica(t, "crash-manager", shared.env.WebhookInstallOptions)
	mgr.start(t, ctx)
	must(t, m.createAll(ctx, crashDeployments(), nil))
	tr, err := startTracker(ctx, crashSet)
	must(t, err)
	defer tr.close()
	t.Logf("%d Deployments created in %d namespaces in %s", crashN, len(nsLabels), time.Since(started).Round(time.Millisecond))

	late := 0 // numbers the Deployments created during the phases
	lateDeployments := func(prefix string, n int) []*appsv1.Deployment {
		var ds []*appsv1.Deployment
		for range n {
			v := variants[late%len(variants)]
			ds = append(ds, deployment(v, crashSet, crashNS(late%4), fmt.Sprintf("%s-%s-%03d", prefix, v.name, late)))
			late++
		}
		return ds
	}
	phases := []crashPhase{
		{name: "namespaced profile injects", act: func(ctx context.Context) error {
			return shared.c.Create(ctx, meshProfile(crashMeshNS, crashMesh, crashSet))
		}, kills: []float64{0.5}},
		{name: "cluster profile injects", act: func(ctx context.Context) error {
			return shared.c.Create(ctx, clusterProfile(crashCluster, crashSet, crashNSLabel, "registry.example/platform/logshipper:2.1"))
		}, kills: []float64{0.2, 0.4, 0.6}, createDead: 10},
		{name: "sidecar image updated", createAlive: 10, act: func(ctx context.Context) error {
			return setClusterSidecarImage(ctx, crashCluster, "registry.example/platform/logshipper:2.2")
		}, kills: []float64{0.3, 0.6}, createDead: 5},
		{name: "cluster profile deleted", act: func(ctx context.Context) error {
			return shared.c.Delete(ctx, &v1alpha1.ClusterSidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: crashCluster}})
		}, kills: []float64{0.3, 0.6}},
		{name: "namespaced profile deleted", act: func(ctx context.Context) error {
			return shared.c.Delete(ctx, &v1alpha1.SidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: crashMesh, Namespace: crashMeshNS}})
		}, kills: []float64{0.5}},
	}
	var reports []crashReport
	for _, ph := range phases {
		ok := t.Run(ph.name, func(t *testing.T) {
			r := runCrashPhase(t, ctx, m, tr, mgr, ph, lateDeployments)
			reports = append(reports, r)
		})
		if !ok {
			break
		}
	}
	// After the last phase no profile is left: verify compared every Deployment with the engine's answer for no
	// profile, which is the template as written.
	logCrashReports(t, reports, mgr.starts, time.Since(started))
}

// crashDeployments are the 200 Deployments: the regular variants round-robin over four selected namespaces and
// one namespace the cluster profile does not select, plus the collision and the opted-out one in the namespaced
// profile's namespace.
func crashDeployments() []*appsv1.Deployment {
	ds := []*appsv1.Deployment{
		deployment(collide, crashSet, crashMeshNS, "collide"),
		deployment(optedOut, crashSet, crashMeshNS, "opted-out"),
	}
	for i := range crashN - len(ds) {
		v := variants[i%len(variants)]
		ns := crashNS(i % 4)
		if i%20 == 19 {
			ns = crashOutsideNS
		}
		ds = append(ds, deployment(v, crashSet, ns, fmt.Sprintf("%s-%03d", v.name, i)))
	}
	return ds
}

// runCrashPhase makes one profile change, kills and restarts the manager at the phase's fractions of progress,
// lets it converge, and verifies every Deployment, the writes and the profiles' status.
func runCrashPhase(t *testing.T, ctx context.Context, m *model, tr *tracker, mgr *replica, ph crashPhase,
	lateDeployments func(string, int) []*appsv1.Deployment) crashReport {
	start := time.Now()
	r := crashReport{phase: ph.name}
	if ph.createAlive > 0 {
		ps, err := profiles(ctx)
		must(t, err)
		// The webhook injects them (create checks each against the engine): nothing left for the manager.
		must(t, m.createAll(ctx, lateDeployments("alive", ph.createAlive), ps))
	}
	before := deploymentPatches(t, ctx)
	must(t, ph.act(ctx))
	ps, err := profiles(ctx)
	must(t, err)
	needed, err := m.needed(ps)
	must(t, err)
	for i, frac := range ph.kills {
		target := max(1, int(math.Ceil(frac*float64(needed))))
		seen, err := tr.waitWritten(ctx, m, target, convergeTimeout)
		must(t, err)
		// The Deployment reconciles running a moment before the kill: the writes that may be cut off.
		active := mgr.metrics(t).Sum("controller_runtime_active_workers", map[string]string{"controller": "deployment"})
		mgr.kill()
		r.activeAtKill = append(r.activeAtKill, int(active))
		time.Sleep(300 * time.Millisecond)
		after := tr.written(m)
		r.killedAt, r.landedAfter = append(r.killedAt, seen), append(r.landedAfter, after)
		if seen >= needed {
			t.Errorf("kill %d came after the manager had made all %d writes: it tested nothing", i+1, needed)
		}
		if i == 0 && ph.createDead > 0 {
			must(t, m.createAll(ctx, lateDeployments("dead", ph.createDead), nil))
			if needed, err = m.needed(ps); err != nil {
				t.Fatal(err)
			}
		}
		mgr.start(t, ctx)
	}
	_, err = tr.waitWritten(ctx, m, needed, convergeTimeout)
	must(t, err)
	mgr.waitIdle(t)
	r.needed = needed
	r.verified = m.verify(t, ctx)
	r.writes = deploymentPatches(t, ctx).minus(before)
	if r.verified.written != needed {
		t.Errorf("%d Deployments changed, %d needed to", r.verified.written, needed)
	}
	// Exactly once: verify checked that each Deployment's generation went up by one if it had to change and not
	// at all otherwise. A successful patch that changed nothing would show as more 200s than changed
	// Deployments. Refused patches (409) and those cut off by a kill (the apiserver counts them as 504, some
	// applied nonetheless) come on top, bounded by what can be in flight at a kill: one per worker.
	if r.writes["200"] > float64(r.verified.written) {
		t.Errorf("%v successful Deployment patches for %d Deployments changed: some wrote nothing new", r.writes["200"], r.verified.written)
	}
	if limit := float64(needed + len(ph.kills)*controller.DefaultWorkloadWorkers); r.writes.total() > limit {
		t.Errorf("%v Deployment patches (%v), more than the %d needed plus %d workers in flight at each of %d kills",
			r.writes.total(), r.writes, needed, controller.DefaultWorkloadWorkers, len(ph.kills))
	}
	checkProfiles(t, ctx, m, ps)
	r.duration = time.Since(start)
	return r
}

// checkProfiles waits until each profile's status says what the engine says of the Deployments: matched and
// up-to-date counts, the collision reported as a conflict; and until deleted profiles are gone (their finalizer
// is removed only once no Deployment carries them).
func checkProfiles(t *testing.T, ctx context.Context, m *model, ps []selection.Profile) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, p := range ps {
		ref := selection.Ref(p)
		want, err := m.expectedStatus(p, ps)
		must(t, err)
		for {
			got := p.DeepCopyObject().(selection.Profile)
			err := shared.c.Get(ctx, client.ObjectKeyFromObject(p), got)
			var problem string
			switch {
			case !p.GetDeletionTimestamp().IsZero() && apierrors.IsNotFound(err):
			case !p.GetDeletionTimestamp().IsZero():
				problem = fmt.Sprintf("%s still exists (err %v): its finalizer was not removed", ref, err)
			case err != nil:
				t.Fatal(err)
			default:
				problem = want.mismatch(got)
			}
			if problem == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("profile %s: %s", ref, problem)
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// wantStatus is what a profile's status must say.
type wantStatus struct {
	generation        int64
	matched, upToDate int32
	conflicts         []string // namespace/name of the Deployments in conflict
}

func (m *model) expectedStatus(p selection.Profile, ps []selection.Profile) (wantStatus, error) {
	w := wantStatus{generation: p.GetGeneration()}
	ref := selection.Ref(p)
	for _, k := range m.keys() {
		res, err := m.expect(m.get(k).written, ps)
		if err != nil {
			return w, err
		}
		pr, ok := res.Profile(ref)
		if !ok {
			continue
		}
		w.matched++
		switch pr.Outcome {
		case inject.Injected:
			w.upToDate++
		case inject.Conflicted:
			w.conflicts = append(w.conflicts, k)
		}
	}
	return w, nil
}

// mismatch says how a status differs from what is wanted ("" when it does not).
func (w wantStatus) mismatch(p selection.Profile) string {
	st := p.ProfileStatus()
	if st.ObservedGeneration != w.generation || st.Matched != w.matched || st.UpToDate != w.upToDate {
		return fmt.Sprintf("status observedGeneration %d matched %d upToDate %d, want %d, %d, %d",
			st.ObservedGeneration, st.Matched, st.UpToDate, w.generation, w.matched, w.upToDate)
	}
	for _, k := range w.conflicts {
		found := false
		for _, a := range st.NeedsAttention {
			found = found || (a.Namespace+"/"+a.Name == k && a.Reason == v1alpha1.ReasonConflict)
		}
		if !found {
			return fmt.Sprintf("the conflict of Deployment %s is not in status.needsAttention: %+v", k, st.NeedsAttention)
		}
	}
	return ""
}

func logCrashReports(t *testing.T, reports []crashReport, starts int, total time.Duration) {
	t.Logf("%-28s %6s %7s %-18s %-14s %-14s %-14s %s", "phase", "needed", "changed", "patches by code", "written at kill", "300 ms after", "active workers", "duration")
	kills := 0
	for _, r := range reports {
		kills += len(r.killedAt)
		t.Logf("%-28s %6d %7d %-18s %-14s %-14s %-14s %s", r.phase, r.needed, r.verified.written, r.writes.String(),
			fmt.Sprint(r.killedAt), fmt.Sprint(r.landedAfter), fmt.Sprint(r.activeAtKill), r.duration.Round(time.Millisecond))
	}
	t.Logf("%d kills with SIGKILL, %d manager starts, %s in all", kills, starts, total.Round(time.Millisecond))
}
