// Package bench is Outrigger's scale benchmark (`make bench`): on a real kube-apiserver and etcd, with the manager
// as its own process, it measures convergence against a bare client making the same patches (of Deployments and
// of StatefulSets), the writes per workload, the cost of the admission webhook, and the manager's memory with
// many pods. See docs/benchmarks.md.
package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/controller"
	"github.com/outrigger-dev/outrigger/internal/controlplane"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

const (
	namespaces    = 50
	createWorkers = 16 // the benchmark's own creates
	waitTimeout   = 20 * time.Minute
)

// Environment knobs, so that a quick run is possible: BENCH_N=200 BENCH_STATEFULSETS=200 make bench.
func sizes() []int            { return intsFromEnv("BENCH_N", []int{1000, 5000}) }
func statefulSetSizes() []int { return intsFromEnv("BENCH_STATEFULSETS", []int{1000}) }
func podCounts() []int        { return intsFromEnv("BENCH_PODS", []int{20000, 5000}) } // total, injected

func intsFromEnv(name string, def []int) []int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	var out []int
	for f := range strings.SplitSeq(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			panic(fmt.Sprintf("%s=%q: want comma-separated non-negative integers", name, v))
		}
		out = append(out, n)
	}
	return out
}

// BenchmarkScale runs the convergence and memory measurement on Deployments once per size (use -benchtime 1x),
// prints the table, and fails when a figure misses the budget.
func BenchmarkScale(b *testing.B) {
	ns := sizes()
	// Admission is BenchmarkAdmission's; failing here on a missed budget, as make bench must.
	out, results := measure(b, workload.Deployment, ns, true, func(s *scale, i int) {
		s.memory = i == len(ns)-1
	})
	if len(results) == 0 {
		return
	}
	writeTable(b, filepath.Join(out, "results.md"), renderTable(results))
	if err := plotConvergence(results, filepath.Join(out, "convergence.png")); err != nil {
		b.Fatal(err)
	}
	fmt.Printf("plot written to %s\n", filepath.Join(out, "convergence.png"))
}

// BenchmarkAdmission measures only admission, once per size (use -benchtime 1x): creating Deployments each way,
// as BenchmarkScale does before its convergence. It prints the table and fails when a figure misses the budget.
func BenchmarkAdmission(b *testing.B) {
	root, out, binary := prepare(b)
	var results []result
	for _, n := range sizes() {
		b.Run(caseName(workload.Deployment, n), func(b *testing.B) {
			for b.Loop() {
				s := &scale{b: b, root: root, out: out, binary: binary, kind: workload.Deployment, n: n, admission: true, onlyAdmission: true}
				r := s.run()
				r.report(b)
				results = append(results, r)
				if missed := r.Admission.missed(); len(missed) > 0 {
					b.Fatalf("%d Deployments missed the admission budget: %s", n, strings.Join(missed, "; "))
				}
			}
		})
	}
	if len(results) > 0 {
		writeTable(b, filepath.Join(out, "results-admission.md"), renderAdmission(results))
	}
}

// BenchmarkStatefulSets measures convergence on StatefulSets once per size (use -benchtime 1x): the same run as
// BenchmarkScale's, with a profile listing StatefulSet in its workloadKinds, without the admission and memory
// measurements. It prints the table and fails when a figure misses the budget.
func BenchmarkStatefulSets(b *testing.B) {
	out, results := measure(b, workload.StatefulSet, statefulSetSizes(), true, nil)
	if len(results) == 0 {
		return
	}
	writeTable(b, filepath.Join(out, "results-statefulsets.md"), renderConvergence(results))
}

// measure runs the measurement once per size on workloads of a kind, each size a sub-benchmark (deployments=1000),
// and returns the output folder and the results. setup, when set, sets a run's options (i: the size's index);
// failOnMiss fails a size whose convergence figures miss the budget.
func measure(b *testing.B, kind workload.Kind, sizes []int, failOnMiss bool, setup func(s *scale, i int)) (out string, results []result) {
	root, out, binary := prepare(b)
	for i, n := range sizes {
		b.Run(caseName(kind, n), func(b *testing.B) {
			for b.Loop() {
				s := &scale{b: b, root: root, out: out, binary: binary, kind: kind, n: n}
				if setup != nil {
					setup(s, i)
				}
				r := s.run()
				r.report(b)
				results = append(results, r)
				if missed := r.missed(); failOnMiss && len(missed) > 0 {
					b.Fatalf("%d %s missed the budget: %s", n, plural(kind), strings.Join(missed, "; "))
				}
			}
		})
	}
	return out, results
}

// writeTable prints a table and writes it to path.
func writeTable(b *testing.B, path, table string) {
	fmt.Println(table)
	if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
		b.Fatal(err)
	}
	fmt.Printf("table written to %s\n", path)
}

// prepare finds the repository and the output folder, bin/bench, and builds the manager the benchmark runs.
func prepare(b *testing.B) (root, out, binary string) {
	root, err := controlplane.Root()
	if err != nil {
		b.Fatal(err)
	}
	out = filepath.Join(root, "bin", "bench")
	if err := os.MkdirAll(out, 0o755); err != nil {
		b.Fatal(err)
	}
	// BENCH_MANAGER runs a manager binary built elsewhere (to compare two versions); by default the tree's.
	binary = os.Getenv("BENCH_MANAGER")
	if binary == "" {
		binary = filepath.Join(out, "manager")
		if err := controlplane.BuildManager(root, binary); err != nil {
			b.Fatal(err)
		}
	}
	return root, out, binary
}

// caseName names a run of n workloads of a kind: deployments=1000.
func caseName(kind workload.Kind, n int) string {
	return fmt.Sprintf("%s=%d", strings.ToLower(plural(kind)), n)
}

// scale is one run: a fresh control plane, N workloads of one kind in each set.
type scale struct {
	b         *testing.B
	root, out string
	binary    string
	kind      workload.Kind
	n         int
	admission bool // measure admission (Deployments) before convergence
	// onlyAdmission: measure admission and nothing else.
	onlyAdmission bool
	memory        bool
	env           *controlplane.Env
	kubeconfig    string
	c             client.Client
	cs            kubernetes.Interface
	mgr           *controlplane.Manager
	logPath       string
}

func (s *scale) must(err error) {
	s.b.Helper()
	if err != nil {
		s.b.Fatal(err)
	}
}

func (s *scale) run() result {
	ctx := context.Background()
	r := result{Kind: s.kind, N: s.n, Workers: controller.DefaultWorkloadWorkers}
	s.start()
	defer s.stopAll()
	s.must(s.createNamespaces(ctx))

	if s.admission {
		r.Admission = s.measureAdmission(ctx)
	}
	if s.onlyAdmission {
		return r
	}

	s.logf("creating %d %s for the bare client and %d for Outrigger", s.n, plural(s.kind), s.n)
	s.must(createWorkloads(ctx, s.c, s.kind, setBare, 0, s.n, namespaces, createWorkers))
	s.must(createWorkloads(ctx, s.c, s.kind, setOutrigger, 0, s.n, namespaces, createWorkers))
	bareSpec, outSpec := profileSpec(s.kind, setBare), profileSpec(s.kind, setOutrigger)
	bareRev, outRev := inject.Revision(&bareSpec.SidecarProfileSpec), inject.Revision(&outSpec.SidecarProfileSpec)
	tr, err := startTracker(ctx, s.cs, s.kind, map[string]inject.ProfileRef{
		setBare:      {Kind: inject.KindClusterSidecarProfile, Name: "bench-bare"},
		setOutrigger: {Kind: inject.KindClusterSidecarProfile, Name: "bench-outrigger"},
	})
	s.must(err)
	defer tr.close()
	bare := newBareClient(s.c, s.kind)

	// Injection: the bare client, then Outrigger. The manager runs during the bare client's patches too (it has
	// nothing to do with them), so that both go through the same admission chain: its webhook sees every
	// workload update.
	s.idle(ctx, 2*s.n)
	r.Inject.Bare = s.timeBare(ctx, bare, tr, true, bareRev)
	before := s.idle(ctx, 2*s.n)
	r.Inject.Outrigger = s.timeOutrigger(ctx, tr, outRev, func() error { return s.c.Create(ctx, clusterProfile(s.kind, "bench-outrigger", setOutrigger)) })
	after := s.idle(ctx, 0)
	r.Inject.Writes, r.Inject.Conflicts = workloadWrites(s.kind, before, after)
	s.logf("Outrigger's writes while injecting: %s", writesByResource(before, after))
	r.Inject.Resync = s.resync(ctx)

	if s.memory {
		r.Memory = s.measureMemory(ctx)
	}

	// Removal: the bare client, then Outrigger.
	r.Remove.Bare = s.timeBare(ctx, bare, tr, false, "")
	before = s.idle(ctx, 2*s.n)
	r.Remove.Outrigger = s.timeOutrigger(ctx, tr, "", func() error {
		return s.c.Delete(ctx, &v1alpha1.ClusterSidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: "bench-outrigger"}})
	})
	after = s.idle(ctx, 0)
	r.Remove.Writes, r.Remove.Conflicts = workloadWrites(s.kind, before, after)
	s.logf("Outrigger's writes while removing: %s", writesByResource(before, after))
	r.Remove.Resync = s.resync(ctx)
	return r
}

// start starts the control plane and the manager.
func (s *scale) start() {
	s.logf("starting kube-apiserver and etcd")
	env, err := controlplane.Start(s.root, controlplane.Options{CRDs: true, Webhooks: true})
	s.must(err)
	s.env = env
	s.kubeconfig = filepath.Join(s.out, "kubeconfig")
	s.must(env.WriteAdminKubeconfig("bench-admin", s.kubeconfig))
	cfg, err := env.AdminConfig("bench-client")
	s.must(err)
	// No client-side rate limit, as controller-runtime's default: the apiserver's priority and fairness decides.
	cfg.QPS, cfg.Burst = -1, 0
	s.c, s.cs = newClients(s.b, cfg)
	s.logPath = filepath.Join(s.out, fmt.Sprintf("manager-%s.log", s.tag()))
	_ = os.Remove(s.logPath)
	s.startManager(context.Background())
}

func newClients(b *testing.B, cfg *rest.Config) (client.Client, kubernetes.Interface) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		b.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		b.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		b.Fatal(err)
	}
	return c, kubernetes.NewForConfigOrDie(cfg)
}

func (s *scale) startManager(ctx context.Context) {
	m, err := controlplane.StartManager(controlplane.ManagerOptions{
		Binary: s.binary, Kubeconfig: s.kubeconfig, LogPath: s.logPath, Webhook: s.env.WebhookInstallOptions,
		Observable: true, Pprof: true,
	})
	s.must(err)
	s.mgr = m
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	s.must(m.WaitReady(ctx))
}

func (s *scale) stopManager() {
	if s.mgr != nil {
		s.must(s.mgr.Stop())
		s.mgr = nil
	}
}

func (s *scale) stopAll() {
	if s.mgr != nil {
		_ = s.mgr.Stop()
	}
	if s.env != nil {
		if err := s.env.Stop(); err != nil {
			s.b.Error(err)
		}
	}
}

func (s *scale) createNamespaces(ctx context.Context) error {
	return parallel(ctx, namespaces, createWorkers, func(ctx context.Context, i int) error {
		return s.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespaceName(i),
			Labels: map[string]string{namespaceLabel: "true"}}})
	})
}

// timeBare times the bare client injecting (add) or removing the profile on the bare set, until the tracker sees
// every workload carry rev.
func (s *scale) timeBare(ctx context.Context, bare bareClient, tr *tracker, add bool, rev string) time.Duration {
	objs, err := bare.list(ctx)
	s.must(err)
	s.logf("bare client: patching %d %s with %d workers (add=%v)", len(objs), plural(s.kind), controller.DefaultWorkloadWorkers, add)
	start := time.Now()
	s.must(bare.run(ctx, objs, controller.DefaultWorkloadWorkers, add))
	end, err := tr.waitFor(ctx, setBare, rev, s.n, waitTimeout)
	s.must(err)
	return end.Sub(start)
}

// timeOutrigger times Outrigger from act (creating or deleting its profile) until the tracker sees every
// workload of its set carry rev.
func (s *scale) timeOutrigger(ctx context.Context, tr *tracker, rev string, act func() error) time.Duration {
	s.logf("Outrigger: converging %d %s", s.n, plural(s.kind))
	phase := "inject"
	if rev == "" {
		phase = "remove"
	}
	done := s.profileCPU(phase)
	defer done()
	start := time.Now()
	s.must(act())
	end, err := tr.waitFor(ctx, setOutrigger, rev, s.n, waitTimeout)
	if err != nil {
		s.b.Fatalf("%v; last lines of %s:\n%s", err, s.logPath, controlplane.Tail(s.logPath, 20))
	}
	return end.Sub(start)
}

// resync restarts the manager, which lists and reconciles every workload again, and counts its writes.
func (s *scale) resync(ctx context.Context) resyncResult {
	s.stopManager()
	start := time.Now()
	s.startManager(ctx)
	ms := s.idle(ctx, 2*s.n)
	writes, _ := workloadWrites(s.kind, nil, ms)
	return resyncResult{Writes: writes, Duration: time.Since(start)}
}

// profileCPU, when BENCH_CPUPROFILE=<seconds> is set, records a CPU profile of the manager from now on, into
// bin/bench/cpu-<kind>-<N>-<phase>.pprof (`go tool pprof -top bin/bench/manager <file>` reads it).
func (s *scale) profileCPU(phase string) (wait func()) {
	secs := os.Getenv("BENCH_CPUPROFILE")
	if secs == "" {
		return func() {}
	}
	path := filepath.Join(s.out, fmt.Sprintf("cpu-%s-%s.pprof", s.tag(), phase))
	url := s.mgr.PprofURL + "/debug/pprof/profile?seconds=" + secs
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		resp, err := http.Get(url)
		if err != nil {
			s.logf("CPU profile: %v", err)
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(path)
		if err != nil {
			s.logf("CPU profile: %v", err)
			return
		}
		defer f.Close()
		_, _ = io.Copy(f, resp.Body)
	}()
	return func() { <-finished }
}

// profileAPIServer, when BENCH_APISERVER_CPUPROFILE=<seconds> is set, records a CPU profile of kube-apiserver
// from now on, into bin/bench/apiserver-<kind>-<N>-<phase>.pprof (`go tool pprof -top
// bin/k8s/<version>/kube-apiserver <file>` reads it). Give fewer seconds than the phase takes, so that the profile
// sees the apiserver busy with it only.
func (s *scale) profileAPIServer(phase string) (wait func()) {
	secs := os.Getenv("BENCH_APISERVER_CPUPROFILE")
	if secs == "" {
		return func() {}
	}
	path := filepath.Join(s.out, fmt.Sprintf("apiserver-%s-%s.pprof", s.tag(), phase))
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		raw, err := s.cs.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").Param("seconds", secs).DoRaw(context.Background())
		if err == nil {
			err = os.WriteFile(path, raw, 0o644)
		}
		if err != nil {
			s.logf("apiserver CPU profile: %v", err)
		}
	}()
	return func() { <-finished }
}

// tag names the run in file names: deployments-1000.
func (s *scale) tag() string { return strings.Replace(caseName(s.kind, s.n), "=", "-", 1) }

func (s *scale) logf(format string, args ...any) {
	fmt.Printf("%s  %s  %s\n", time.Now().Format("15:04:05"), caseName(s.kind, s.n), fmt.Sprintf(format, args...))
}
