package controlplane

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/outrigger-dev/outrigger/internal/manager"
)

// InProcessManager is Outrigger's manager, built as cmd/manager builds it (internal/manager), running in the
// calling process: the in-process counterpart of Manager, for tests that need its cache, its client or a
// transport of their own around its requests.
type InProcessManager struct {
	ctrl.Manager
	// Options are the options it was built with, the defaults StartInProcessManager chose filled in.
	Options manager.Options
	// ProbeURL is http://host:port of its probes (/readyz, /healthz), unless ProbeAddr was "0".
	ProbeURL string
	cancel   context.CancelFunc
	exited   chan struct{} // closed once Start has returned; then err holds what it returned
	err      error
}

// StartInProcessManager builds Outrigger's manager with o on cfg (env.Config when nil; a copy of env.Config with
// a WrapTransport counts the manager's requests) and starts it in this process, until Stop or ctx is done. Where
// o leaves them zero:
//   - MetricsAddr is "0": no metrics server (controller-runtime's default, :8080, would collide between tests);
//   - ProbeAddr is a free local port, which WaitReady polls;
//   - with o.Webhook.Enabled, not SelfManaged, and no Port, the webhook server listens where env's webhook
//     configurations point, with the certificate the apiserver trusts (env.WebhookServing, Options.Webhooks).
//
// internal/manager names its controllers, and controller-runtime refuses a name twice in a process, which a test
// that restarts the manager, or runs again (go test -count), does: SkipControllerNameValidation is always set.
func StartInProcessManager(ctx context.Context, env *Env, cfg *rest.Config, o manager.Options) (*InProcessManager, error) {
	if cfg == nil {
		cfg = env.Config
	}
	o.SkipControllerNameValidation = true
	if o.MetricsAddr == "" {
		o.MetricsAddr = "0"
	}
	if o.ProbeAddr == "" {
		ports, err := freePorts(1)
		if err != nil {
			return nil, err
		}
		o.ProbeAddr = ports[0]
	}
	if w := &o.Webhook; w.Enabled && !w.SelfManaged && w.Port == 0 {
		host, port, certDir := env.WebhookServing()
		if port == 0 {
			return nil, errors.New("webhooks enabled, but the control plane was started without Options.Webhooks: " +
				"no webhook configuration points at a local server")
		}
		w.Host, w.Port, w.Certs.CertDir = host, port, certDir
	}
	ctx, cancel := context.WithCancel(ctx)
	mgr, err := manager.New(ctx, cfg, o)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("building the manager: %w", err)
	}
	m := &InProcessManager{Manager: mgr, Options: o, cancel: cancel, exited: make(chan struct{})}
	if o.ProbeAddr != "0" {
		m.ProbeURL = "http://" + o.ProbeAddr
	}
	go func() {
		defer close(m.exited)
		m.err = mgr.Start(ctx)
	}()
	return m, nil
}

// WaitReady waits until the manager's /readyz answers 200: its webhook server serves, when webhooks are enabled
// (with self-managed certificates, once they are in place).
func (m *InProcessManager) WaitReady(ctx context.Context) error {
	if m.ProbeURL == "" {
		return errors.New("the manager was started with ProbeAddr 0: it has no probe endpoint")
	}
	for {
		if resp, err := http.Get(m.ProbeURL + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the manager is not ready: %w", ctx.Err())
		case <-m.exited:
			return fmt.Errorf("the manager stopped before it was ready: %v", m.err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Exited is closed once the manager has stopped.
func (m *InProcessManager) Exited() <-chan struct{} { return m.exited }

// Stop stops the manager and waits, at most stopWait, until it has; it returns the error the manager stopped
// with, if any.
func (m *InProcessManager) Stop() error {
	m.cancel()
	select {
	case <-m.exited:
		if m.err != nil {
			return fmt.Errorf("the manager stopped with an error: %w", m.err)
		}
		return nil
	case <-time.After(stopWait):
		return fmt.Errorf("the manager did not stop within %s", stopWait)
	}
}
