package integration

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/controlplane"
	"github.com/outrigger-dev/outrigger/internal/manager"
	"github.com/outrigger-dev/outrigger/test/envsuite"
)

// The suite runs Outrigger's manager, built by internal/manager exactly as cmd/manager builds it, in the test
// process against a real kube-apiserver and etcd started by internal/controlplane (binaries built from Go
// modules into bin/k8s/<version>; `make test` builds them first). Missing binaries fail the suite: it never
// skips.
var (
	testEnv   *controlplane.Env
	cfg       *rest.Config
	k8s       client.Client // reads straight from the apiserver, not from a cache
	scheme    = runtime.NewScheme()
	writes    = envsuite.NewWriteCounter()
	managerMu sync.Mutex
	mgr       *controlplane.InProcessManager
	// metricsAddr is where the manager serves its metrics, over HTTPS with the apiserver's authentication and
	// authorization, as cmd/manager does (metrics_test.go scrapes it).
	metricsAddr string
)

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
	root, err := controlplane.Root()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	logger := zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true), zap.Level(zapLevel()))
	if testEnv, err = controlplane.Start(root, controlplane.Options{CRDs: true, Webhooks: true, Logger: logger}); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\nBuild the binaries with `make envtest-binaries` (make test does it for you).\n", err)
		return 1
	}
	defer func() { _ = testEnv.Stop() }()
	cfg = testEnv.Config
	if k8s, err = testEnv.Client(scheme); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	if err := testEnv.InstallManagerRBAC(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: the manager's RBAC:", err)
		return 1
	}
	if err := setUpConfiguredKinds(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: the configured workload kinds:", err)
		return 1
	}
	if err := startManager(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: manager:", err)
		return 1
	}
	defer stopManager()
	rollouts, stopRollouts := context.WithCancel(context.Background())
	defer stopRollouts()
	go envsuite.FinishRollouts(rollouts, k8s)
	return m.Run()
}

func zapLevel() zapcore.Level {
	if os.Getenv("TEST_VERBOSE") != "" {
		return -1
	}
	return 2 // errors only: keep `go test` output readable
}

// startManager runs Outrigger's manager in the test process, built by internal/manager as cmd/manager builds it
// (its cache, request metrics, webhooks), as its own ServiceAccount, with a transport that counts its writes to
// workloads. Two settings differ from cmd/manager's defaults, on purpose: Normal events are on (--normal-events),
// because tests read them to see what a write did, and the webhook serves envtest's certificate
// (--webhook-cert-mode=external).
func startManager() error {
	managerMu.Lock()
	defer managerMu.Unlock()
	// As its ServiceAccount, with the rights config/default grants it: a missing grant fails here first.
	mcfg := testEnv.ManagerConfig()
	mcfg.WrapTransport = writes.Wrap
	if metricsAddr == "" {
		var err error
		if metricsAddr, err = freeAddr(); err != nil {
			return err
		}
	}
	m, err := controlplane.StartInProcessManager(context.Background(), testEnv, mcfg, manager.Options{
		MetricsAddr: metricsAddr, SecureMetrics: true,
		NormalEvents:  true,
		Webhook:       manager.WebhookOptions{Enabled: true},
		WorkloadKinds: configuredKinds,
	})
	if err != nil {
		return err
	}
	mgr = m
	// Ready once the webhook server serves: no test creates a workload the apiserver would admit without it.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return m.WaitReady(ctx)
}

func stopManager() {
	managerMu.Lock()
	defer managerMu.Unlock()
	if err := mgr.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "manager stopped with error:", err)
	}
}

// newNamespace creates a namespace of its own for one test, with labels.
func newNamespace(t *testing.T, labels map[string]string) string {
	t.Helper()
	return envsuite.NewNamespace(t, k8s, labels)
}

// manualRolloutLabel opts a test's workload out of envsuite.FinishRollouts, for tests that write its status
// themselves (a rollout in progress, a stuck one).
const manualRolloutLabel = envsuite.ManualRolloutLabel

const (
	timeout  = 20 * time.Second
	interval = 50 * time.Millisecond
)
