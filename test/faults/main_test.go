// Package faults tests what happens to the workloads when Outrigger's manager dies at the worst moment: killed
// with SIGKILL while it injects, updates or removes sidecars (crash safety), and a leader replica killed while a
// profile change converges (leader election). The manager runs as a real process (internal/controlplane) against
// a real kube-apiserver and etcd; every Deployment is compared with what the injection engine itself computes
// from the template its author wrote, and every write is counted by the apiserver, which, unlike the killed
// process, keeps counting across kills.
package faults

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/controlplane"
)

// readyTimeout bounds a manager's start, convergeTimeout one profile change on 2 busy cores.
const (
	readyTimeout    = time.Minute
	convergeTimeout = 90 * time.Second
)

// cluster is the control plane and the manager binary every test of the package shares: starting them is most
// of a test's fixed cost.
type cluster struct {
	env        *controlplane.Env
	binary     string
	kubeconfig string
	cfg        *rest.Config // the tests' own admin client configuration
	c          client.Client
	cs         kubernetes.Interface
}

var shared *cluster

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "outrigger-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	c, err := startCluster(dir)
	code := 1
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
	} else {
		shared = c
		code = m.Run()
	}
	if c != nil && c.env != nil {
		if err := c.env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "faults:", err)
			code = max(code, 1)
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// startCluster builds the manager and starts kube-apiserver and etcd with Outrigger's CRDs and webhooks.
func startCluster(dir string) (*cluster, error) {
	root, err := controlplane.Root()
	if err != nil {
		return nil, err
	}
	c := &cluster{binary: filepath.Join(dir, "manager"), kubeconfig: filepath.Join(dir, "kubeconfig")}
	if err := controlplane.BuildManager(root, c.binary); err != nil {
		return nil, err
	}
	if c.env, err = controlplane.Start(root, controlplane.Options{CRDs: true, Webhooks: true}); err != nil {
		return nil, err
	}
	if err := c.env.WriteAdminKubeconfig("faults-manager", c.kubeconfig); err != nil {
		return c, err
	}
	if c.cfg, err = c.env.AdminConfig("faults-test"); err != nil {
		return c, err
	}
	c.cfg.QPS, c.cfg.Burst = -1, 0 // the apiserver's priority and fairness decides, as for the manager
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return c, err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return c, err
	}
	if c.c, err = client.New(c.cfg, client.Options{Scheme: scheme}); err != nil {
		return c, err
	}
	c.cs, err = kubernetes.NewForConfig(c.cfg)
	return c, err
}

// replica is one manager process of a test, and the flags it is restarted with.
type replica struct {
	name    string
	webhook envtest.WebhookInstallOptions
	args    []string
	logPath string
	starts  int
	*controlplane.Manager
}

// newReplica describes a manager process whose log goes to the test's temporary directory; on failure the log's
// last lines are printed.
func newReplica(t *testing.T, name string, webhook envtest.WebhookInstallOptions, args ...string) *replica {
	r := &replica{name: name, webhook: webhook, args: args, logPath: filepath.Join(t.TempDir(), name+".log")}
	t.Cleanup(func() {
		if r.Manager != nil {
			_ = r.Stop()
		}
		if t.Failed() {
			t.Logf("last lines of %s's log:\n%s", name, controlplane.Tail(r.logPath, 40))
		}
	})
	return r
}

// start starts the process and waits until it is ready (its webhook server serves).
func (r *replica) start(t *testing.T, ctx context.Context) {
	t.Helper()
	m, err := controlplane.StartManager(controlplane.ManagerOptions{
		Binary: shared.binary, Kubeconfig: shared.kubeconfig, LogPath: r.logPath, Webhook: r.webhook,
		Observable: true, Args: r.args,
	})
	if err != nil {
		t.Fatalf("starting %s: %v", r.name, err)
	}
	r.Manager, r.starts = m, r.starts+1
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := m.WaitReady(ctx); err != nil {
		t.Fatalf("%s: %v", r.name, err)
	}
}

// kill kills the process with SIGKILL.
func (r *replica) kill() {
	r.Kill()
	r.Manager = nil
}

// metrics scrapes the replica, failing the test if it cannot.
func (r *replica) metrics(t *testing.T) controlplane.Metrics {
	t.Helper()
	ms, err := r.Metrics()
	if err != nil {
		t.Fatalf("scraping %s: %v", r.name, err)
	}
	return ms
}

// waitIdle waits until the replica has had nothing to do for two scrapes in a row, 300 ms apart: no queued or
// running reconcile and no new one. Status writes of the profiles settle too.
func (r *replica) waitIdle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(convergeTimeout)
	last, stable := -1.0, 0
	for stable < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%s is still busy after %s", r.name, convergeTimeout)
		}
		time.Sleep(300 * time.Millisecond)
		ms := r.metrics(t)
		reconciles := ms.Sum("controller_runtime_reconcile_total", nil)
		busy := ms.Sum("workqueue_depth", nil) + ms.Sum("controller_runtime_active_workers", nil)
		if busy == 0 && reconciles == last {
			stable++
		} else {
			stable = 0
		}
		last = reconciles
	}
}

// writes are the apiserver's count of Deployment patches, all clients together (the tests never patch
// Deployments: only the manager does), by status code.
type writes map[string]float64

func deploymentPatches(t *testing.T, ctx context.Context) writes {
	t.Helper()
	ms, err := controlplane.APIServerMetrics(ctx, shared.cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := writes{}
	for _, s := range ms["apiserver_request_total"].GetMetric() {
		l := map[string]string{}
		for _, p := range s.GetLabel() {
			l[p.GetName()] = p.GetValue()
		}
		if l["verb"] == "PATCH" && l["group"] == "apps" && l["resource"] == "deployments" {
			w[l["code"]] += s.GetCounter().GetValue()
		}
	}
	return w
}

func (w writes) minus(before writes) writes {
	out := writes{}
	for code, n := range w {
		if d := n - before[code]; d != 0 {
			out[code] = d
		}
	}
	return out
}

// String is "200:51 504:3", codes in order.
func (w writes) String() string {
	codes := slices.Sorted(maps.Keys(w))
	parts := make([]string, 0, len(codes))
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%s:%.0f", c, w[c]))
	}
	return strings.Join(parts, " ")
}

func (w writes) total() float64 {
	var n float64
	for _, v := range w {
		n += v
	}
	return n
}

// must fails the test on an error.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// runs counts the runs of this package's tests in the process. go test -count runs each test again against the
// same control plane, which keeps what the run before created (envtest runs no namespace controller, so deleted
// namespaces never go): every run names its namespaces, labels, profiles and lease namespace after its number.
var runs atomic.Int32

// nextRun returns the name of a new run: r1, r2, ...
func nextRun() string { return fmt.Sprintf("r%d", runs.Add(1)) }

// runLabel marks the profiles of a run: a run checks the status of its own profiles only.
const runLabel = "faults.outrigger.dev/run"

// runLabels are the labels of the current run's profiles.
func runLabels() map[string]string {
	return map[string]string{runLabel: fmt.Sprintf("r%d", runs.Load())}
}
