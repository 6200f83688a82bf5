//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// The proxy sidecar takes a while before it listens (the sleep stands for a real proxy loading its
// configuration), then serves on 127.0.0.1:8080 with busybox httpd.
const (
	proxyDelay  = 3 * time.Second
	proxyScript = `echo "proxy starting"; sleep 3; mkdir -p /tmp/www && echo "hello from the proxy" > /tmp/www/index.html; ` +
		`echo "proxy listening"; exec httpd -f -p 127.0.0.1:8080 -h /tmp/www`
	// The app's very first command fetches through the proxy, once, with no retry.
	fetchScript = `if body=$(wget -q -O - http://127.0.0.1:8080/index.html 2>&1); then echo "first fetch ok: $body"; ` +
		`else echo "first fetch failed: $body"; fi; trap 'exit 0' TERM; sleep 100000 & wait`
	fetchOK = "first fetch ok: hello from the proxy"
)

func proxyProfile(startupProbe bool) v1alpha1.SidecarProfileSpec {
	proxy := sidecar("proxy", proxyScript)
	if startupProbe {
		proxy.StartupProbe = &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{
				Command: []string{"wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/index.html"},
			}},
			PeriodSeconds:    1,
			FailureThreshold: 30,
		}
	}
	return v1alpha1.SidecarProfileSpec{Selector: selectApp("web"), Sidecars: []v1alpha1.Sidecar{proxy}}
}

// Issue item 4: a proxy sidecar with a startupProbe. The kubelet starts the app only once the probe passed, so the
// app's very first request through the proxy succeeds, in every pod: three replicas, then three more after the
// first ones are deleted. Without the startupProbe (the control), the same app's first request fails, which shows
// the proxy really is slow to listen.
func TestProxyIsUpBeforeTheAppsFirstRequest(t *testing.T) {
	t.Parallel()
	k := connect(t)

	t.Run("with a startupProbe, every first request succeeds", func(t *testing.T) {
		t.Parallel()
		ns := k.namespace(t, "proxy")
		ctx := context.Background()
		k.createProfile(t, ns, "proxy", proxyProfile(true))
		d := deployment(ns, "web", 3, app(fetchScript))
		d.Spec.Template.Spec.TerminationGracePeriodSeconds = ptr.To[int64](1)
		if err := k.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for round := 1; round <= 2; round++ {
			pods := k.readyPods(t, ns, "web", 3)
			for i := range pods {
				pod := &pods[i]
				if seen[pod.Name] {
					t.Fatalf("round %d: pod %s again", round, pod.Name)
				}
				seen[pod.Name] = true
				proxyLog, appLog := k.proxyAndApp(t, ns, pod.Name)
				if len(appLog) == 0 || appLog[0].Text != fetchOK {
					t.Errorf("pod %s: the app's first line is %v, want %q", pod.Name, appLog, fetchOK)
					continue
				}
				starting, listening := find(t, proxyLog, "proxy", "proxy starting"), find(t, proxyLog, "proxy", "proxy listening")
				between(t, "the proxy listening", starting, listening, proxyDelay-100*time.Millisecond, proxyDelay+2*time.Second)
				between(t, "the app's first fetch", listening, appLog[0], time.Nanosecond, 5*time.Second)
				t.Logf("round %d, pod %s: proxy starting %s, listening %s; app: %s", round, pod.Name,
					starting.At.Format("15:04:05.000"), listening.At.Format("15:04:05.000"), appLog[0])
			}
			if round == 1 {
				for i := range pods {
					if err := k.Delete(ctx, &pods[i]); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	})

	t.Run("without a startupProbe, the first request fails (control)", func(t *testing.T) {
		t.Parallel()
		ns := k.namespace(t, "noprobe")
		ctx := context.Background()
		k.createProfile(t, ns, "proxy", proxyProfile(false))
		d := deployment(ns, "web", 1, app(fetchScript))
		d.Spec.Template.Spec.TerminationGracePeriodSeconds = ptr.To[int64](1)
		if err := k.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
		pod := k.readyPods(t, ns, "web", 1)[0]
		proxyLog, appLog := k.proxyAndApp(t, ns, pod.Name)
		if len(appLog) == 0 || !strings.HasPrefix(appLog[0].Text, "first fetch failed") {
			t.Fatalf("without a startupProbe the app's first line is %v, want a failed fetch: is the proxy not slow to start?", appLog)
		}
		between(t, "the app's failed fetch (before the proxy listens)", appLog[0], find(t, proxyLog, "proxy", "proxy listening"),
			time.Nanosecond, proxyDelay)
	})
}

// proxyAndApp returns the proxy's and the app's log lines once the app has logged its first fetch and the proxy
// that it listens.
func (k *cluster) proxyAndApp(t *testing.T, ns, pod string) (proxyLog, appLog []line) {
	t.Helper()
	waitFor(t, 30*time.Second, fmt.Sprintf("the first fetch in %s", pod), func(ctx context.Context) (bool, string, error) {
		var err error
		if appLog, err = k.logs(ctx, ns, pod, "app", false); err != nil {
			return false, err.Error(), nil
		}
		if proxyLog, err = k.logs(ctx, ns, pod, "proxy", false); err != nil {
			return false, err.Error(), nil
		}
		listening := slices.ContainsFunc(proxyLog, func(l line) bool { return l.Text == "proxy listening" })
		return len(appLog) > 0 && listening, fmt.Sprintf("app %v, proxy %v", appLog, proxyLog), nil
	})
	return proxyLog, appLog
}
