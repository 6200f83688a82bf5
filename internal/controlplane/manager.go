package controlplane

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// stopWait is how long Stop waits after SIGTERM before it kills.
const stopWait = 10 * time.Second

// ManagerOptions say how to run bin/manager.
type ManagerOptions struct {
	Binary     string // path of the manager binary
	Kubeconfig string
	LogPath    string
	// Webhook is where envtest expects the webhook server and the certificate it made; zero: webhooks disabled.
	Webhook envtest.WebhookInstallOptions
	// Observable: serve metrics (plain HTTP) and probes on free local ports.
	Observable bool
	// Pprof: serve Go's profiles on a free local port.
	Pprof bool
	Args  []string // further flags
}

// Manager is a running manager process.
type Manager struct {
	Options    ManagerOptions
	MetricsURL string // http://127.0.0.1:port/metrics when Observable
	ProbeURL   string // http://127.0.0.1:port when Observable
	PprofURL   string // http://127.0.0.1:port with Pprof
	cmd        *exec.Cmd
	exited     chan struct{} // closed once the process has exited; then err holds its exit status
	err        error
}

// BuildManager builds ./cmd/manager into out (go's build cache makes it quick when nothing changed).
func BuildManager(root, out string) error {
	cmd := exec.Command("go", "build", "-o", out, "./cmd/manager")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/manager: %w\n%s", err, b)
	}
	return nil
}

// StartManager starts the manager.
func StartManager(o ManagerOptions) (*Manager, error) {
	m := &Manager{Options: o, exited: make(chan struct{})}
	args := []string{"--health-probe-bind-address=0", "--metrics-bind-address=0"}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	if o.Observable {
		args = []string{"--metrics-secure=false", "--metrics-bind-address=" + ports[0], "--health-probe-bind-address=" + ports[1]}
		m.MetricsURL, m.ProbeURL = "http://"+ports[0]+"/metrics", "http://"+ports[1]
	}
	if o.Pprof {
		args = append(args, "--pprof-bind-address="+ports[2])
		m.PprofURL = "http://" + ports[2]
	}
	if o.Webhook.LocalServingPort == 0 {
		args = append(args, "--enable-webhooks=false")
	} else {
		// The certificate envtest made (external mode): the apiserver already trusts it.
		args = append(args, "--webhook-cert-mode=external", "--webhook-cert-dir="+o.Webhook.LocalServingCertDir,
			"--webhook-host="+o.Webhook.LocalServingHost, fmt.Sprintf("--webhook-port=%d", o.Webhook.LocalServingPort))
	}
	logFile, err := os.OpenFile(o.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(o.Binary, append(args, o.Args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+o.Kubeconfig)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group, so that Ctrl-C in a terminal reaches only the caller, and the manager gets one
	// SIGTERM from Stop: controller-runtime exits at once, skipping its graceful shutdown, on a second signal.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", o.Binary, err)
	}
	m.cmd = cmd
	go func() {
		m.err = cmd.Wait()
		logFile.Close()
		close(m.exited)
	}()
	return m, nil
}

// freePorts returns n local addresses nobody listens on now.
func freePorts(n int) ([]string, error) {
	var addrs []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}

// ExitErr is the process's exit status, once Exited is closed.
func (m *Manager) ExitErr() error {
	select {
	case <-m.exited:
		return m.err
	default:
		return nil
	}
}

// Pid is the process id.
func (m *Manager) Pid() int { return m.cmd.Process.Pid }

// Exited is closed once the process has exited.
func (m *Manager) Exited() <-chan struct{} { return m.exited }

// WaitReady waits until /readyz answers 200 (Observable managers only).
func (m *Manager) WaitReady(ctx context.Context) error {
	if m.ProbeURL == "" {
		return errors.New("the manager was not started Observable: it has no probe endpoint")
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
			return fmt.Errorf("the manager is not ready: %w; last lines of %s:\n%s", ctx.Err(), m.Options.LogPath, Tail(m.Options.LogPath, 20))
		case <-m.exited:
			return fmt.Errorf("the manager exited (%v); last lines of %s:\n%s", m.err, m.Options.LogPath, Tail(m.Options.LogPath, 20))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop asks the manager to shut down cleanly (SIGTERM) and kills it if it has not within stopWait.
func (m *Manager) Stop() error {
	select {
	case <-m.exited:
		return nil
	default:
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
		return nil
	case <-time.After(stopWait):
		_ = m.cmd.Process.Kill()
		<-m.exited
		return fmt.Errorf("the manager did not stop within %s of SIGTERM and was killed; see %s", stopWait, m.Options.LogPath)
	}
}

// Kill kills the manager with SIGKILL, as the kernel's OOM killer or a node failure would: no cleanup at all.
func (m *Manager) Kill() {
	_ = m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.exited
}

// Metrics scrapes the manager's metrics endpoint (Observable managers only).
func (m *Manager) Metrics() (Metrics, error) {
	if m.MetricsURL == "" {
		return nil, errors.New("the manager was not started Observable: it has no metrics endpoint")
	}
	resp, err := http.Get(m.MetricsURL)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", m.MetricsURL, err)
	}
	return Metrics(families), nil
}

// RSS is the manager's resident set size, from /proc.
func (m *Manager) RSS() (int64, error) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(m.Pid()), "status"))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// Metrics are the families of one scrape, by name.
type Metrics map[string]*dto.MetricFamily

// Sum adds up the values (counter or gauge) of the family's series whose labels include all of labels.
func (ms Metrics) Sum(name string, labels map[string]string) float64 {
	f, ok := ms[name]
	if !ok {
		return 0
	}
	var sum float64
	for _, s := range f.GetMetric() {
		if !hasLabels(s, labels) {
			continue
		}
		switch {
		case s.Counter != nil:
			sum += s.Counter.GetValue()
		case s.Gauge != nil:
			sum += s.Gauge.GetValue()
		case s.Untyped != nil:
			sum += s.Untyped.GetValue()
		}
	}
	return sum
}

func hasLabels(s *dto.Metric, want map[string]string) bool {
	found := 0
	for _, l := range s.GetLabel() {
		if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
			found++
		}
	}
	return found == len(want)
}

// Tail returns the last n lines of a file, for error messages.
func Tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
