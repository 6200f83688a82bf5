package integration

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
)

// mutatingConfigName is the MutatingWebhookConfiguration of config/webhook/manifests.yaml, as envtest installs it.
const mutatingConfigName = "mutating-webhook-configuration"

// While the mutating webhook cannot answer, the apiserver still admits every workload (failurePolicy Ignore),
// and when the webhook hangs, no create waits longer than about timeoutSeconds. The reconciler, which runs all
// along, then gives each Deployment its sidecars with exactly one write; Jobs, whose pod template cannot change,
// are left as they are and reported in the profile's status with what to do.
func TestFaults_WebhookDownOrSlowBlocksNothing(t *testing.T) {
	const deployments, jobs = 4, 2
	timeoutSeconds := mutatingTimeoutSeconds(t)
	for _, tc := range []struct {
		name string
		// serve returns the base URL the webhook is pointed at while the fault lasts.
		serve func(t *testing.T) string
		// the bounds of each create's latency
		min, max time.Duration
	}{
		{"unreachable (connection refused)", closedPortURL, 0, 2 * time.Second},
		{"slow (hangs past timeoutSeconds)", hangingServerURL,
			time.Duration(timeoutSeconds)*time.Second - 500*time.Millisecond, time.Duration(timeoutSeconds)*time.Second + 2*time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			ns := newNamespace(t, nil)
			create(t, newProfile(ns, "proxy", sidecarSpec("web", "proxy")))
			waitUntilSeen(g, ns, "proxy")
			redirectMutatingWebhook(t, g, tc.serve(t))

			latencies := createConcurrently(t, ns, deployments, jobs)
			slices.Sort(latencies)
			t.Logf("%d Deployments and %d Jobs created with the webhook %s (timeoutSeconds %d): create latency min %s, median %s, max %s",
				deployments, jobs, tc.name, timeoutSeconds, latencies[0].Round(time.Millisecond),
				latencies[len(latencies)/2].Round(time.Millisecond), latencies[len(latencies)-1].Round(time.Millisecond))
			g.Expect(latencies[0]).To(BeNumerically(">=", tc.min), "a create returned sooner than the webhook's fault allows")
			g.Expect(latencies[len(latencies)-1]).To(BeNumerically("<=", tc.max), "timeoutSeconds did not bound a create")

			// A reconciler patch is an UPDATE, which the apiserver sends to the faulty webhook first: allow each
			// Deployment's patch its timeoutSeconds.
			converge := timeout + deployments*time.Duration(timeoutSeconds)*time.Second
			start := time.Now()
			g.Eventually(func(g Gomega) {
				for i := range deployments {
					g.Expect(initContainerNames(getDeployment(g, ns, fmt.Sprintf("web-%d", i)))).To(Equal([]string{"proxy"}))
				}
				st := getProfile(g, ns, "proxy").Status
				g.Expect(st.NeedsAttention).To(HaveLen(jobs))
				for _, e := range st.NeedsAttention {
					g.Expect(e.Kind).To(Equal(v1alpha1.KindJob))
					g.Expect(e.Reason).To(Equal(v1alpha1.ReasonNotInjected))
					g.Expect(e.Message).To(ContainSubstring("re-create it to get the sidecars"))
				}
			}, converge, interval).Should(Succeed())
			t.Logf("all %d Deployments injected by the reconciler and %d Jobs reported %s after the creates",
				deployments, jobs, time.Since(start).Round(time.Millisecond))
			g.Consistently(func() int { return writes.In(ns) }, "2s", interval).Should(Equal(deployments),
				"exactly one reconciler write per Deployment, none for the Jobs")
			for i := range jobs {
				g.Expect(getJob(g, ns, fmt.Sprintf("web-once-%d", i)).Spec.Template.Spec.InitContainers).To(BeEmpty())
			}
		})
	}
}

// createConcurrently creates Deployments web-<i> and Jobs web-once-<i> (all labelled app=web) at once, and
// returns how long each create took.
func createConcurrently(t *testing.T, ns string, deployments, jobs int) []time.Duration {
	var objs []client.Object
	for i := range deployments {
		objs = append(objs, newDeployment(ns, fmt.Sprintf("web-%d", i), func(d *appsv1.Deployment) {
			d.Labels["app"] = "web" // one map for the labels, the selector and the template's labels
		}))
	}
	for i := range jobs {
		job := newJob(ns, fmt.Sprintf("web-once-%d", i))
		job.Labels = map[string]string{"app": "web"}
		objs = append(objs, job)
	}
	latencies := make([]time.Duration, len(objs))
	errs := make([]error, len(objs))
	var wg sync.WaitGroup
	for i, o := range objs {
		wg.Go(func() {
			start := time.Now()
			errs[i] = k8s.Create(context.Background(), o)
			latencies[i] = time.Since(start)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("creating %s: %v", objs[i].GetName(), err)
		}
	}
	return latencies
}

// mutatingTimeoutSeconds reads timeoutSeconds of the mutating webhook as installed from config/.
func mutatingTimeoutSeconds(t *testing.T) int32 {
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: mutatingConfigName}, cfg); err != nil {
		t.Fatalf("reading %s: %v", mutatingConfigName, err)
	}
	return ptr.Deref(cfg.Webhooks[0].TimeoutSeconds, 10)
}

// redirectMutatingWebhook points the mutating webhook at baseURL + its path until the test ends, and waits until
// the apiserver calls it there: a server-side dry run then comes back without the sidecar. Afterwards it points
// it back and waits until the manager's webhook injects again, so later tests find the webhook as it was.
func redirectMutatingWebhook(t *testing.T, g *WithT, baseURL string) {
	ctx := context.Background()
	var original admissionregistrationv1.WebhookClientConfig
	setURL := func(url func(admissionregistrationv1.WebhookClientConfig) admissionregistrationv1.WebhookClientConfig) {
		g.Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cfg := &admissionregistrationv1.MutatingWebhookConfiguration{}
			if err := k8s.Get(ctx, client.ObjectKey{Name: mutatingConfigName}, cfg); err != nil {
				return err
			}
			cfg.Webhooks[0].ClientConfig = url(cfg.Webhooks[0].ClientConfig)
			return k8s.Update(ctx, cfg)
		})).To(Succeed())
	}
	setURL(func(cc admissionregistrationv1.WebhookClientConfig) admissionregistrationv1.WebhookClientConfig {
		original = *cc.DeepCopy()
		cc.URL = ptr.To(baseURL + "/mutate-workloads")
		return cc
	})
	ns := newNamespace(t, nil)
	create(t, newProfile(ns, "probe", sidecarSpec("probe", "probe")))
	waitUntilSeen(g, ns, "probe")
	injected := func() bool {
		d := newDeployment(ns, "probe")
		g.Expect(k8s.Create(ctx, d, client.DryRunAll)).To(Succeed())
		return len(d.Spec.Template.Spec.InitContainers) > 0
	}
	g.Eventually(injected, timeout, interval).Should(BeFalse(), "the apiserver kept calling the manager's webhook")
	t.Cleanup(func() {
		setURL(func(admissionregistrationv1.WebhookClientConfig) admissionregistrationv1.WebhookClientConfig {
			return original
		})
		g.Eventually(injected, timeout, interval).Should(BeTrue(), "the manager's webhook did not come back")
	})
}

// closedPortURL is an https URL on a port nothing listens on: the apiserver's connection is refused at once.
func closedPortURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return "https://" + addr
}

// hangingServerURL starts a TLS server, with the certificate envtest made for the manager's webhook server (so
// the apiserver trusts it), that accepts every admission request and never answers it before the apiserver gives
// up; it stops when the test ends.
func hangingServerURL(t *testing.T) string {
	wh := testEnv.WebhookInstallOptions
	cert, err := tls.LoadX509KeyPair(filepath.Join(wh.LocalServingCertDir, "tls.crt"), filepath.Join(wh.LocalServingCertDir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", net.JoinHostPort(wh.LocalServingHost, "0"), &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int32
	srv := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select { // the apiserver closes the connection at its timeout; a minute is a backstop
		case <-r.Context().Done():
		case <-time.After(time.Minute):
		}
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() {
		_ = srv.Close()
		t.Logf("the hanging webhook got %d requests", hits.Load())
	})
	return "https://" + net.JoinHostPort(wh.LocalServingHost, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
}

// Another client keeps editing a Deployment while Outrigger injects, updates and re-updates its sidecars: an
// Update with retries (env var, annotation, replicas, the app's image) or a server-side apply of its manifest.
// Outrigger's patches carry a resourceVersion precondition, so the ones that lose the race get 409 Conflict and
// are retried; none overwrites the other writer. In the end every change of the other writer is there, the
// sidecars are what the engine makes of the final template (it would change nothing), and no container is
// doubled.
func TestFaults_ConcurrentWriterKeepsItsChangesAndSidecarsEndRight(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(ctx context.Context, ns string, seq int) error
	}{
		{"update with retries", updateWriter},
		{"server-side apply", applyWriter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			ns := newNamespace(t, nil)
			create(t, newDeployment(ns, "web"))

			ctx, stop := context.WithCancel(context.Background())
			var last atomic.Int32
			var writerErr error
			done := make(chan struct{})
			go func() {
				defer close(done)
				for seq := 1; ctx.Err() == nil; seq++ {
					if err := tc.write(context.Background(), ns, seq); err != nil {
						writerErr = fmt.Errorf("write %d: %w", seq, err)
						return
					}
					last.Store(int32(seq))
					time.Sleep(5 * time.Millisecond)
				}
			}()

			// Inject, then change the sidecar twice, each time waiting until the Deployment carries it.
			create(t, newProfile(ns, "proxy", sidecarSpec("web", "proxy")))
			images := []string{"busybox:local", "busybox:v2", "busybox:v3"}
			for i, image := range images {
				if i > 0 {
					setSidecarImage(g, ns, image)
				}
				g.Eventually(func(g Gomega) {
					d := getDeployment(g, ns, "web")
					g.Expect(d.Spec.Template.Spec.InitContainers).To(ConsistOf(HaveField("Image", image)))
				}, timeout, interval).Should(Succeed())
				time.Sleep(300 * time.Millisecond) // the writer keeps writing over the injected template
			}
			stop()
			<-done
			g.Expect(writerErr).NotTo(HaveOccurred())
			seq := int(last.Load())

			final := getDeployment(g, ns, "web")
			expectWriterChanges(g, final, seq)
			g.Expect(initContainerNames(final)).To(Equal([]string{"proxy"}), "no doubled or missing sidecar")
			profile := getProfile(g, ns, "proxy")
			res, err := inject.Inject(final.Spec.Template.DeepCopy(), []inject.Profile{{
				Ref: inject.ProfileRef{Kind: inject.KindSidecarProfile, Name: "proxy"}, Spec: &profile.Spec}})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res.Changed).To(BeFalse(), "the final template is not what the engine makes of it")
			g.Eventually(func(g Gomega) {
				g.Expect(getProfile(g, ns, "proxy").Status.UpToDate).To(BeEquivalentTo(1))
			}, timeout, interval).Should(Succeed())
			t.Logf("%s: %d writes by the other client; Outrigger: %d writes to the Deployment, %d refused with 409 Conflict and retried",
				tc.name, seq, writes.In(ns), writes.ConflictsIn(ns))
		})
	}
}

// updateWriter reads the Deployment and writes seq into an env var, an annotation, the replicas and the app's
// image tag, retrying on conflicts as a well-behaved controller does.
func updateWriter(ctx context.Context, ns string, seq int) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d := &appsv1.Deployment{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, d); err != nil {
			return err
		}
		s := strconv.Itoa(seq)
		if d.Annotations == nil {
			d.Annotations = map[string]string{}
		}
		d.Annotations["writer/seq"] = s
		d.Spec.Replicas = ptr.To(int32(seq%5 + 1))
		app := &d.Spec.Template.Spec.Containers[0]
		app.Image = "busybox:" + s
		app.Env = []corev1.EnvVar{{Name: "SEQ", Value: s}}
		return k8s.Update(ctx, d)
	})
}

// applyWriter server-side applies the Deployment's whole manifest, as a GitOps tool would, with seq in the same
// fields as updateWriter; it takes the fields it applies over from any other manager.
func applyWriter(ctx context.Context, ns string, seq int) error {
	s := strconv.Itoa(seq)
	d := newDeployment(ns, "web", func(d *appsv1.Deployment) {
		d.Annotations = map[string]string{"writer/seq": s}
		d.Spec.Replicas = ptr.To(int32(seq%5 + 1))
		d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
			MaxUnavailable: ptr.To(intstr.FromString("25%")), MaxSurge: ptr.To(intstr.FromString("25%"))}}
		app := &d.Spec.Template.Spec.Containers[0]
		app.Image = "busybox:" + s
		app.Env = []corev1.EnvVar{{Name: "SEQ", Value: s}}
	})
	d.TypeMeta = metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(d)
	if err != nil {
		return err
	}
	manifest := &unstructured.Unstructured{Object: u}
	unstructured.RemoveNestedField(manifest.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(manifest.Object, "status")
	return k8s.Apply(ctx, client.ApplyConfigurationFromUnstructured(manifest), client.FieldOwner("gitops"), client.ForceOwnership)
}

// expectWriterChanges checks that the Deployment carries the other writer's last write.
func expectWriterChanges(g *WithT, d *appsv1.Deployment, seq int) {
	s := strconv.Itoa(seq)
	g.Expect(d.Annotations).To(HaveKeyWithValue("writer/seq", s))
	g.Expect(d.Spec.Replicas).To(HaveValue(BeEquivalentTo(seq%5 + 1)))
	g.Expect(d.Spec.Template.Spec.Containers).To(HaveLen(1))
	app := d.Spec.Template.Spec.Containers[0]
	g.Expect(app.Image).To(Equal("busybox:" + s))
	g.Expect(app.Env).To(Equal([]corev1.EnvVar{{Name: "SEQ", Value: s}}))
}

// setSidecarImage changes the profile's sidecar image. Every write of the other client changes the profile's
// status too, so the update is retried for longer than updateProfile's retry.DefaultRetry allows.
func setSidecarImage(g *WithT, ns, image string) {
	g.Eventually(func(g Gomega) error {
		p := getProfile(g, ns, "proxy")
		p.Spec.Sidecars[0].Image = image
		return k8s.Update(context.Background(), p)
	}, timeout, interval).Should(Succeed())
}
