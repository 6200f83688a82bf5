package faults

import (
	"context"
	"fmt"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/internal/controller"
	"github.com/outrigger-dev/outrigger/internal/requestmetrics"
)

// The names of TestLeaderFailover's objects, of this run of it (see nextRun); the lease namespace too, so that
// a run does not wait for the lease a killed replica of the run before left.
var leaderSet, leaderNSLabel, leaderProfile, leaseNS string

// nameLeaderRun gives this run of TestLeaderFailover names of its own.
func nameLeaderRun() {
	r := nextRun()
	leaderSet, leaderNSLabel = "leader-"+r, "faults.outrigger.dev/leader-"+r
	leaderProfile, leaseNS = "faults-leader-logshipper-"+r, "faults-leases-"+r
}

// leaderNS is the name of the i-th namespace of this run of TestLeaderFailover.
func leaderNS(i int) string { return fmt.Sprintf("faults-%s-%d", leaderSet, i) }

const (
	// leaseName is internal/manager's LeaderElectionID.
	leaseName = "outrigger.sidecars.outrigger.dev"
	leaderN   = 100
	// failoverLimit: the manager keeps controller-runtime's lease timings (it has no flags for them): a 15 s
	// lease renewed every 2 s. A follower counts the 15 s from when it last saw the lease change, which it looks
	// every RetryPeriod, jittered by client-go's JitterFactor 1.2 (2 to 4.4 s): it may see the dead leader's last
	// renewal up to 4.4 s after the kill, and notice the expiry up to 4.4 s late. So 15 + 2 x 4.4 s at most;
	// the rest is slack for busy cores.
	failoverLimit = 30 * time.Second
)

// TestLeaderFailover runs two replicas with --leader-elect: only the leader reconciles; killed with SIGKILL while a
// profile change converges, the other takes over within the lease duration and finishes, each Deployment written
// once.
//
// Both replicas serve the admission webhook, which needs no leadership; envtest's webhook configuration points
// at one port only, so only the first replica's webhook is reachable by the apiserver, and the second listens
// on a port of its own that nobody calls. That is fine here: the webhook plays no part in the failover.
func TestLeaderFailover(t *testing.T) {
	nameLeaderRun()
	ctx := context.Background()
	started := time.Now()
	nsLabels := map[string]map[string]string{}
	for i := range 2 {
		ns := leaderNS(i)
		nsLabels[ns] = map[string]string{leaderNSLabel: "true", "kubernetes.io/metadata.name": ns}
	}
	for ns, labels := range nsLabels {
		must(t, shared.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels}}))
	}
	must(t, shared.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: leaseNS}}))

	leaderArgs := []string{"--leader-elect", "--leader-election-namespace=" + leaseNS}
	a := newReplica(t, "replica-a", shared.env.WebhookInstallOptions, leaderArgs...)
	a.start(t, ctx)
	waitLeader(t, a, time.Minute)
	unreachable := shared.env.WebhookInstallOptions
	unreachable.LocalServingPort = freePort(t)
	b := newReplica(t, "replica-b", unreachable, leaderArgs...)
	b.start(t, ctx)
	holderA := leaseHolder(t, ctx)

	m := newModel(leaderSet, nsLabels)
	ps, err := profiles(ctx)
	must(t, err)
	must(t, m.createAll(ctx, leaderDeployments(nsLabels), ps))
	tr, err := startTracker(ctx, leaderSet)
	must(t, err)
	defer tr.close()

	// The leader injects; the follower does nothing but watch the lease.
	before := deploymentPatches(t, ctx)
	must(t, shared.c.Create(ctx, clusterProfile(leaderProfile, leaderSet, leaderNSLabel, "registry.example/platform/logshipper:2.1")))
	ps, err = profiles(ctx)
	must(t, err)
	needed, err := m.needed(ps)
	must(t, err)
	_, err = tr.waitWritten(ctx, m, needed, convergeTimeout)
	must(t, err)
	a.waitIdle(t)
	injected := m.verify(t, ctx)
	injectWrites := deploymentPatches(t, ctx).minus(before)
	checkFollower(t, b)
	checkProfiles(t, ctx, m, ps)
	if holder := leaseHolder(t, ctx); holder != holderA {
		t.Fatalf("the lease moved from %s to %s without a failure", holderA, holder)
	}

	// The image changes; the leader is killed a third of the way through.
	before = deploymentPatches(t, ctx)
	must(t, setClusterSidecarImage(ctx, leaderProfile, "registry.example/platform/logshipper:2.2"))
	ps, err = profiles(ctx)
	must(t, err)
	needed, err = m.needed(ps)
	must(t, err)
	seen, err := tr.waitWritten(ctx, m, int(math.Ceil(float64(needed)/3)), convergeTimeout)
	must(t, err)
	a.kill()
	killed := time.Now()
	failover := waitLeader(t, b, failoverLimit)
	atTakeover := tr.written(m)
	if atTakeover >= needed {
		t.Errorf("the leader had made all %d writes before it was killed: the failover tested nothing", needed)
	}
	if holder := leaseHolder(t, ctx); holder == holderA {
		t.Errorf("replica-b leads but the lease still names replica-a (%s)", holderA)
	}
	_, err = tr.waitWritten(ctx, m, needed, convergeTimeout)
	must(t, err)
	converged := time.Since(killed)
	b.waitIdle(t)
	updated := m.verify(t, ctx)
	updateWrites := deploymentPatches(t, ctx).minus(before)
	checkProfiles(t, ctx, m, ps)
	if updated.written != needed {
		t.Errorf("%d Deployments changed, %d needed to", updated.written, needed)
	}
	if updateWrites["200"] > float64(updated.written) {
		t.Errorf("%v successful Deployment patches for %d Deployments changed: some wrote nothing new", updateWrites["200"], updated.written)
	}
	if limit := float64(needed + controller.DefaultWorkloadWorkers); updateWrites.total() > limit {
		t.Errorf("%v Deployment patches (%v), more than the %d needed plus %d workers in flight at the kill",
			updateWrites.total(), updateWrites, needed, controller.DefaultWorkloadWorkers)
	}
	t.Logf("injection by the leader: %d Deployments changed, patches %v; follower: no write, no reconcile", injected.written, injectWrites)
	t.Logf("update: leader killed when the tracker saw %d of %d written; replica-b led %s after the kill (%d written by then); all converged %s after the kill; patches %v",
		seen, needed, failover.Round(time.Millisecond), atTakeover, converged.Round(time.Millisecond), updateWrites)
	t.Logf("%s in all", time.Since(started).Round(time.Millisecond))
}

func leaderDeployments(nsLabels map[string]map[string]string) []*appsv1.Deployment {
	var ds []*appsv1.Deployment
	for i := range leaderN {
		v := variants[i%len(variants)]
		ds = append(ds, deployment(v, leaderSet, leaderNS(i%len(nsLabels)), fmt.Sprintf("%s-%03d", v.name, i)))
	}
	return ds
}

// waitLeader waits until the replica's leader_election_master_status gauge says it leads, and returns how long
// that took.
func waitLeader(t *testing.T, r *replica, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if r.metrics(t).Sum("leader_election_master_status", map[string]string{"name": leaseName}) == 1 {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("%s does not lead %s after %s", r.name, leaseName, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkFollower checks that the follower reconciled nothing and wrote nothing but its attempts at the lease.
func checkFollower(t *testing.T, r *replica) {
	t.Helper()
	ms := r.metrics(t)
	if n := ms.Sum("leader_election_master_status", map[string]string{"name": leaseName}); n != 0 {
		t.Errorf("%s: leader_election_master_status %v while replica-a leads", r.name, n)
	}
	if n := ms.Sum("controller_runtime_reconcile_total", nil); n != 0 {
		t.Errorf("%s reconciled %v times while it did not lead", r.name, n)
	}
	var writes []string
	for _, s := range ms[requestmetrics.Name].GetMetric() {
		l := map[string]string{}
		for _, p := range s.GetLabel() {
			l[p.GetName()] = p.GetValue()
		}
		switch l["verb"] {
		case "create", "update", "patch", "delete":
			if l["resource"] != "coordination.k8s.io/leases" && s.GetCounter().GetValue() > 0 {
				writes = append(writes, fmt.Sprintf("%s %s %s: %v", l["verb"], l["resource"], l["code"], s.GetCounter().GetValue()))
			}
		}
	}
	if len(writes) > 0 {
		t.Errorf("%s wrote while it did not lead: %s", r.name, strings.Join(writes, "; "))
	}
}

// leaseHolder is the holder identity of the manager's Lease.
func leaseHolder(t *testing.T, ctx context.Context) string {
	t.Helper()
	l := &coordinationv1.Lease{}
	must(t, shared.c.Get(ctx, client.ObjectKey{Namespace: leaseNS, Name: leaseName}, l))
	return ptr.Deref(l.Spec.HolderIdentity, "")
}

// freePort is a local port nobody listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
