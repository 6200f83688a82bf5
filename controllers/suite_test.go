package controllers_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/controllers"
	"github.com/outrigger-dev/outrigger/internal/podcache"
	outriggerwebhook "github.com/outrigger-dev/outrigger/internal/webhook"
)

// The suite runs against a real kube-apiserver and etcd (envtest), built from Go modules by
// hack/build-k8s-binaries.sh into bin/k8s/<version>; `make test` builds them first. Missing binaries fail the
// suite: it never skips.
var (
	testEnv   *envtest.Environment
	cfg       *rest.Config
	k8s       client.Client // reads straight from the apiserver, not from a cache
	scheme    = runtime.NewScheme()
	writes    = &writeCounter{counts: map[string]int{}, conflicts: map[string]int{}}
	managerMu sync.Mutex
	stopMgr   context.CancelFunc
	mgrDone   chan struct{}
)

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true), zap.Level(zapLevel())))
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))

	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assetsDir(),
		// The webhook configurations as shipped, pointed by envtest at the manager's webhook server below.
		WebhookInstallOptions: envtest.WebhookInstallOptions{Paths: []string{filepath.Join("..", "config", "webhook", "manifests.yaml")}},
	}
	var err error
	if cfg, err = testEnv.Start(); err != nil {
		_ = testEnv.Stop() // Start may fail after starting etcd and the apiserver
		fmt.Fprintf(os.Stderr, "FAIL: cannot start the envtest control plane from %s: %v\n"+
			"Build the binaries with `make envtest-binaries` (make test does it for you).\n", assetsDir(), err)
		return 1
	}
	defer func() { _ = testEnv.Stop() }()
	if k8s, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: client:", err)
		return 1
	}
	if err := startManager(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: manager:", err)
		return 1
	}
	defer stopManager()
	rollouts, stopRollouts := context.WithCancel(context.Background())
	defer stopRollouts()
	go finishRollouts(rollouts)
	return m.Run()
}

// assetsDir is where the apiserver and etcd binaries are: $KUBEBUILDER_ASSETS, else bin/k8s/<default version>.
func assetsDir() string {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d
	}
	return filepath.Join("..", "bin", "k8s", "v1.37.1")
}

func zapLevel() zapcore.Level {
	if os.Getenv("TEST_VERBOSE") != "" {
		return -1
	}
	return 2 // errors only: keep `go test` output readable
}

// startManager runs Outrigger's manager in the test process, as cmd/manager does, with a transport that counts
// its writes to workloads.
func startManager() error {
	managerMu.Lock()
	defer managerMu.Unlock()
	mcfg := rest.CopyConfig(cfg)
	mcfg.WrapTransport = writes.wrap
	wh := testEnv.WebhookInstallOptions
	mgr, err := ctrl.NewManager(mcfg, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  cache.Options{ByObject: podcache.ByObject()}, // as cmd/manager
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		WebhookServer: webhook.NewServer(webhook.Options{
			Host: wh.LocalServingHost, Port: wh.LocalServingPort, CertDir: wh.LocalServingCertDir,
		}),
		// A restarted manager registers the same controller names again in this process.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := controllers.Setup(ctx, mgr, controllers.Options{NativeSidecarsUnsupported: controllers.NativeSidecarSupport(mcfg), NormalEvents: true}); err != nil {
		cancel()
		return err
	}
	outriggerwebhook.Register(mgr)
	stopMgr, mgrDone = cancel, make(chan struct{})
	go func(done chan struct{}) {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "manager stopped with error:", err)
		}
	}(mgrDone)
	return waitForWebhookServer(wh.LocalServingHost, wh.LocalServingPort)
}

// waitForWebhookServer returns once the webhook server accepts TLS connections, so that no test creates a
// workload the apiserver would admit without asking it.
func waitForWebhookServer(host string, port int) error {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only a liveness probe
		if err == nil {
			return conn.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("webhook server at %s not serving: %w", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func stopManager() {
	managerMu.Lock()
	defer managerMu.Unlock()
	stopMgr()
	<-mgrDone
}

// writeCounter counts the manager's successful writes to workloads, per namespace. A write refused for a stale
// resourceVersion changes nothing and is not counted as a write, but as a conflict.
type writeCounter struct {
	mu        sync.Mutex
	counts    map[string]int
	conflicts map[string]int
}

var workloadPath = regexp.MustCompile(`/namespaces/([^/]+)/(deployments|cronjobs|jobs)(/|$)`)

func (w *writeCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(req)
		if req.Method != http.MethodGet && err == nil && (resp.StatusCode < 300 || resp.StatusCode == http.StatusConflict) {
			if m := workloadPath.FindStringSubmatch(req.URL.Path); m != nil {
				w.mu.Lock()
				if resp.StatusCode == http.StatusConflict {
					w.conflicts[m[1]]++
				} else {
					w.counts[m[1]]++
				}
				w.mu.Unlock()
			}
		}
		return resp, err
	})
}

// In returns how many writes the manager made to workloads in a namespace.
func (w *writeCounter) In(namespace string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.counts[namespace]
}

// ConflictsIn returns how many of the manager's writes to workloads in a namespace the apiserver refused with 409
// Conflict (a stale resourceVersion).
func (w *writeCounter) ConflictsIn(namespace string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.conflicts[namespace]
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// newNamespace creates a namespace of its own for one test, with labels.
func newNamespace(t *testing.T, labels map[string]string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-", Labels: labels}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	return ns.Name
}

const (
	timeout  = 20 * time.Second
	interval = 50 * time.Millisecond
)
