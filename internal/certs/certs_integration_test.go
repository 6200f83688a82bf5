package certs_test

// An end-to-end test of the default, self-managed certificate mode against a real kube-apiserver and etcd
// (envtest), on a cluster with nothing else installed: no cert-manager, and no certificate made by envtest (no
// WebhookInstallOptions). What `kustomize build config/default | kubectl apply -f -` installs is installed (but
// the Deployment: the manager runs in this process, wired as cmd/manager/main.go wires it, with its
// ServiceAccount's permissions), and the manager must make its own CA and serving certificate, put the CA into
// both webhook configurations, serve the admission webhook with it (so that a Deployment is injected at
// admission, generation 1), and do it all again when the Secret is emptied or deleted, without losing an
// admission request to a rotation.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/certs"
	"github.com/outrigger-dev/outrigger/internal/controlplane"
	"github.com/outrigger-dev/outrigger/internal/manager"
)

// What an installation from config/default gives the manager: the defaults of cmd/manager's flags, the namespace
// and the "outrigger-" name prefix of config/default/kustomization.yaml.
const (
	systemNamespace = "outrigger-system"
	namePrefix      = "outrigger-"
	secretName      = "outrigger-webhook-server-cert"                 // --webhook-secret-name
	serviceName     = "outrigger-webhook-service"                     // --webhook-service-name
	mutatingName    = namePrefix + "mutating-webhook-configuration"   // --mutating-webhook-configuration
	validatingName  = namePrefix + "validating-webhook-configuration" // --validating-webhook-configuration

	webhookHost = "localhost" // --webhook-host, and --webhook-cert-extra-dns=localhost

	timeout  = 30 * time.Second
	interval = 100 * time.Millisecond
)

func TestSelfManagedCertificatesOnABareCluster(t *testing.T) {
	g := gomega.NewWithT(t)
	g.SetDefaultEventuallyTimeout(timeout)
	g.SetDefaultEventuallyPollingInterval(interval)
	logs := captureLogs(t)
	sm := startSelfManaged(t, g, logs)
	k8s, certDir, webhookPort, firstCA := sm.k8s, sm.certDir, sm.webhookPort, sm.ca
	ctx := t.Context()
	t.Logf("self-managed certificates in place, manager ready, after %s", time.Since(logs.start).Round(time.Millisecond))

	// 4. A profile, then a Deployment it selects: the webhook injects the sidecar at admission.
	profile := &v1alpha1.SidecarProfile{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "logshipper"},
		Spec: v1alpha1.SidecarProfileSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "myapp"}},
			Sidecars: []v1alpha1.Sidecar{{Container: corev1.Container{Name: "logshipper", Image: "alpine:latest"}}},
		},
	}
	g.Expect(k8s.Create(ctx, profile)).To(gomega.Succeed())
	g.Eventually(func(g gomega.Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(profile), profile)).To(gomega.Succeed())
		g.Expect(profile.Status.ObservedGeneration).To(gomega.Equal(profile.Generation))
	}).Should(gomega.Succeed(), "the manager never observed the SidecarProfile")

	expectInjectedAtAdmission(t, g, k8s, "myapp")

	// 5. Rotation: an emptied Secret gets a new CA, which reaches both caBundles, the files and the webhook
	// server, and the webhook still injects at admission.
	g.Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		secret := &corev1.Secret{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: systemNamespace, Name: secretName}, secret); err != nil {
			return err
		}
		secret.Data = nil
		return k8s.Update(ctx, secret)
	})).To(gomega.Succeed())
	rotated := time.Now()
	secondCA := expectCertificatesInPlace(g, k8s, certDir, firstCA)
	expectServedCertificateVerifies(g, webhookPort, secondCA)
	t.Logf("new CA in the Secret, both caBundles, the files and the webhook server %s after the Secret was emptied",
		time.Since(rotated).Round(time.Millisecond))

	// The apiserver picks up the new caBundle from its own informer, a moment after the update: wait for it with
	// server-side dry runs (the webhook has no side effects), which leave nothing behind.
	g.Eventually(func(g gomega.Gomega) {
		probe := newDeployment("probe")
		g.Expect(k8s.Create(ctx, probe, client.DryRunAll)).To(gomega.Succeed())
		g.Expect(sidecar(probe, "logshipper")).NotTo(gomega.BeNil())
	}).Should(gomega.Succeed(), "after rotation, the apiserver never got an injected dry-run Deployment")
	expectInjectedAtAdmission(t, g, k8s, "myapp-2")

	t.Run("deleted Secret", func(t *testing.T) {
		g := gomega.NewWithT(t)
		g.SetDefaultEventuallyTimeout(timeout)
		g.SetDefaultEventuallyPollingInterval(interval)
		g.Expect(k8s.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: systemNamespace, Name: secretName}})).To(gomega.Succeed())

		// The webhook server keeps the certificate it has, which the caBundles still trust.
		expectInjectedAtAdmission(t, g, k8s, "myapp-3")

		// A Secret deleted while the manager runs (the usual way to force new certificates) is made again at
		// once, and the rotator, which only ever updates it, fills it with a new CA, which reaches both
		// caBundles, the files and the webhook server.
		g.Eventually(func() string {
			return errorText(k8s.Get(ctx, client.ObjectKey{Namespace: systemNamespace, Name: secretName}, &corev1.Secret{}))
		}).WithTimeout(15*time.Second).Should(gomega.BeEmpty(),
			"the deleted Secret %s/%s was not made again while the manager runs", systemNamespace, secretName)
		thirdCA := expectCertificatesInPlace(g, k8s, certDir, secondCA)
		expectServedCertificateVerifies(g, webhookPort, thirdCA)
	})

	t.Run("rotation under load loses no admission", func(t *testing.T) { testRotationLosesNoAdmission(t, sm) })
}

// expectCertificatesInPlace waits until the Secret holds a CA (other than notCA, if given) and a serving
// certificate for localhost and the Service signed by it, both webhook configurations carry that CA first in
// their caBundle, and CertDir holds the certificate and key; it returns the CA.
func expectCertificatesInPlace(g *gomega.WithT, k8s client.Client, certDir string, notCA []byte) []byte {
	ctx := context.Background()
	secret := &corev1.Secret{}
	g.Eventually(func(g gomega.Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: systemNamespace, Name: secretName}, secret)).To(gomega.Succeed())
		for _, key := range []string{"ca.crt", "tls.crt", "tls.key"} {
			g.Expect(secret.Data).To(gomega.HaveKeyWithValue(key, gomega.Not(gomega.BeEmpty())), "Secret %s/%s", systemNamespace, secretName)
		}
		if notCA != nil {
			g.Expect(secret.Data["ca.crt"]).NotTo(gomega.Equal(notCA), "the CA was not renewed")
		}
	}).Should(gomega.Succeed())
	ca := secret.Data["ca.crt"]

	serving := parseCertificate(g, secret.Data["tls.crt"])
	pool := x509.NewCertPool()
	g.Expect(pool.AppendCertsFromPEM(ca)).To(gomega.BeTrue(), "ca.crt is not PEM")
	for _, name := range []string{webhookHost, serviceName + "." + systemNamespace + ".svc", serviceName + "." + systemNamespace + ".svc.cluster.local"} {
		_, err := serving.Verify(x509.VerifyOptions{DNSName: name, Roots: pool})
		g.Expect(errorText(err)).To(gomega.BeEmpty(), "tls.crt does not verify for %s against ca.crt", name)
	}

	g.Eventually(func(g gomega.Gomega) {
		mutating := &admissionregistrationv1.MutatingWebhookConfiguration{}
		g.Expect(k8s.Get(ctx, client.ObjectKey{Name: mutatingName}, mutating)).To(gomega.Succeed())
		g.Expect(mutating.Webhooks).NotTo(gomega.BeEmpty())
		for _, wh := range mutating.Webhooks {
			// The new CA first; the previous ones follow for a while (certs.Keeper).
			g.Expect(string(wh.ClientConfig.CABundle)).To(gomega.HavePrefix(string(ca)), "caBundle of %s in %s", wh.Name, mutatingName)
		}
		validating := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		g.Expect(k8s.Get(ctx, client.ObjectKey{Name: validatingName}, validating)).To(gomega.Succeed())
		g.Expect(validating.Webhooks).NotTo(gomega.BeEmpty())
		for _, wh := range validating.Webhooks {
			// The new CA first; the previous ones follow for a while (certs.Keeper).
			g.Expect(string(wh.ClientConfig.CABundle)).To(gomega.HavePrefix(string(ca)), "caBundle of %s in %s", wh.Name, validatingName)
		}
	}).Should(gomega.Succeed())

	g.Eventually(func(g gomega.Gomega) {
		for _, name := range []string{"tls.crt", "tls.key"} {
			data, err := os.ReadFile(filepath.Join(certDir, name))
			g.Expect(err).NotTo(gomega.HaveOccurred())
			g.Expect(string(data)).To(gomega.Equal(string(secret.Data[name])), "%s in the CertDir differs from the Secret's", name)
		}
	}).Should(gomega.Succeed())
	return ca
}

// expectServedCertificateVerifies waits until the webhook server's certificate verifies against ca, for localhost
// (as the apiserver reaches it here) and for the Service's name (as it does in a cluster).
func expectServedCertificateVerifies(g *gomega.WithT, port int, ca []byte) {
	pool := x509.NewCertPool()
	g.Expect(pool.AppendCertsFromPEM(ca)).To(gomega.BeTrue())
	addr := net.JoinHostPort(webhookHost, strconv.Itoa(port))
	for _, serverName := range []string{webhookHost, serviceName + "." + systemNamespace + ".svc"} {
		g.Eventually(func() string {
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr,
				&tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12})
			if err != nil {
				return err.Error()
			}
			return errorText(conn.Close())
		}).Should(gomega.BeEmpty(), "TLS to %s as %s does not verify against the Secret's CA", addr, serverName)
	}
}

// expectInjectedAtAdmission creates a Deployment labelled app=myapp and checks that the apiserver stored it with the
// logshipper native sidecar at generation 1: the webhook injected it, not the reconciler afterwards.
func expectInjectedAtAdmission(t *testing.T, g *gomega.WithT, k8s client.Client, name string) {
	t.Helper()
	ctx := context.Background()
	dep := newDeployment(name)
	g.Expect(k8s.Create(ctx, dep)).To(gomega.Succeed())
	// The object the apiserver returned is what it stored at admission; read it back as well.
	for _, got := range []*appsv1.Deployment{dep, readDeployment(g, k8s, name)} {
		g.Expect(got.Generation).To(gomega.Equal(int64(1)))
		c := sidecar(got, "logshipper")
		g.Expect(c).NotTo(gomega.BeNil(), "Deployment %s was admitted without the logshipper sidecar; init containers %v",
			name, got.Spec.Template.Spec.InitContainers)
		g.Expect(c.Image).To(gomega.Equal("alpine:latest"))
		g.Expect(c.RestartPolicy).To(gomega.HaveValue(gomega.Equal(corev1.ContainerRestartPolicyAlways)))
	}
}

func readDeployment(g *gomega.WithT, k8s client.Client, name string) *appsv1.Deployment {
	dep := &appsv1.Deployment{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: name}, dep)).To(gomega.Succeed())
	return dep
}

func newDeployment(name string) *appsv1.Deployment {
	labels := map[string]string{"app": "myapp"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:latest"}}},
			},
		},
	}
}

// sidecar returns the init container called name, or nil.
func sidecar(dep *appsv1.Deployment, name string) *corev1.Container {
	for i, c := range dep.Spec.Template.Spec.InitContainers {
		if c.Name == name {
			return &dep.Spec.Template.Spec.InitContainers[i]
		}
	}
	return nil
}

func parseCertificate(g *gomega.WithT, data []byte) *x509.Certificate {
	block, _ := pem.Decode(data)
	g.Expect(block).NotTo(gomega.BeNil(), "not PEM")
	g.Expect(block.Type).To(gomega.Equal("CERTIFICATE"))
	cert, err := x509.ParseCertificate(block.Bytes)
	g.Expect(err).NotTo(gomega.HaveOccurred())
	return cert
}

// startControlPlane starts kube-apiserver and etcd with Outrigger's CRDs, and nothing else: no webhook
// certificates, no webhook configurations. Missing binaries fail the test; it never skips. Its logs go to logs.
func startControlPlane(t *testing.T, logs logr.Logger) *controlplane.Env {
	t.Helper()
	env, err := controlplane.Start(filepath.Join("..", ".."), controlplane.Options{CRDs: true, Logger: logs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Error(err)
		}
	})
	return env
}

// installation is what the test learnt from config/default about the manager's Deployment.
type installation struct {
	namespace, serviceAccount string
	leaderElect               bool
}

// installConfigDefault applies config/default, rendered by `kubectl kustomize`, but the CRDs (envtest installed
// them from the same files) and the manager's Deployment, and with each webhook's clientConfig pointed at
// baseURL + its path. It checks that the webhook configurations get the names the manager is given, and no
// caBundle.
func installConfigDefault(t *testing.T, k8s client.Client, kubectl, baseURL string) installation {
	t.Helper()
	out, err := exec.Command(kubectl, "kustomize", filepath.Join("..", "..", "config", "default")).Output()
	if err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			err = fmt.Errorf("%w: %s", err, exitErr.Stderr)
		}
		t.Fatalf("rendering config/default with %s kustomize: %v\n"+
			"Build kubectl with `make envtest-binaries` (make test does it for you).", kubectl, err)
	}
	ctx := context.Background()
	var inst installation
	var webhookConfigs []string
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(out)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &obj.Object); err != nil {
			t.Fatal(err)
		}
		if len(obj.Object) == 0 {
			continue
		}
		var toCreate client.Object = obj
		switch obj.GetKind() {
		case "CustomResourceDefinition":
			continue
		case "Deployment":
			inst = managerDeployment(t, obj)
			continue
		case "MutatingWebhookConfiguration":
			wc := &admissionregistrationv1.MutatingWebhookConfiguration{}
			fromUnstructured(t, obj, wc)
			for i := range wc.Webhooks {
				pointAt(t, wc.Name, &wc.Webhooks[i].ClientConfig, baseURL)
			}
			toCreate = wc
			webhookConfigs = append(webhookConfigs, wc.Name)
		case "ValidatingWebhookConfiguration":
			wc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
			fromUnstructured(t, obj, wc)
			for i := range wc.Webhooks {
				pointAt(t, wc.Name, &wc.Webhooks[i].ClientConfig, baseURL)
			}
			toCreate = wc
			webhookConfigs = append(webhookConfigs, wc.Name)
		}
		if err := k8s.Create(ctx, toCreate); err != nil {
			t.Fatalf("creating %s %s from config/default: %v", obj.GetKind(), obj.GetName(), err)
		}
	}
	if inst.serviceAccount == "" {
		t.Fatal("config/default has no manager Deployment")
	}
	// The names the manager is given (cmd/manager's defaults) must be those config/default gives the
	// configurations, or the caBundle goes nowhere.
	if len(webhookConfigs) != 2 || webhookConfigs[0] != mutatingName || webhookConfigs[1] != validatingName {
		t.Fatalf("config/default gave webhook configurations %v, want [%s %s]", webhookConfigs, mutatingName, validatingName)
	}
	return inst
}

// managerDeployment reads the manager's namespace, ServiceAccount and leader election from its Deployment, and
// checks that it runs the self-managed mode with the defaults this test reproduces.
func managerDeployment(t *testing.T, obj *unstructured.Unstructured) installation {
	t.Helper()
	dep := &appsv1.Deployment{}
	fromUnstructured(t, obj, dep)
	inst := installation{namespace: dep.Namespace, serviceAccount: dep.Spec.Template.Spec.ServiceAccountName}
	if inst.namespace != systemNamespace {
		t.Fatalf("config/default installs the manager in namespace %q, want %q", inst.namespace, systemNamespace)
	}
	var manager *corev1.Container
	for i, c := range dep.Spec.Template.Spec.Containers {
		if c.Name == "manager" {
			manager = &dep.Spec.Template.Spec.Containers[i]
		}
	}
	if manager == nil {
		t.Fatal("config/default: the Deployment has no manager container")
	}
	for _, arg := range manager.Args {
		switch {
		case arg == "--leader-elect" || arg == "--leader-elect=true":
			inst.leaderElect = true
		case strings.HasPrefix(arg, "--webhook-") || strings.HasPrefix(arg, "--enable-webhooks") ||
			strings.HasPrefix(arg, "--mutating-webhook") || strings.HasPrefix(arg, "--validating-webhook"):
			t.Fatalf("config/default runs the manager with %s: this test reproduces the webhook flags' defaults; update it", arg)
		}
	}
	hasPodNamespace := false
	for _, env := range manager.Env {
		if env.Name == "POD_NAMESPACE" {
			hasPodNamespace = env.ValueFrom != nil && env.ValueFrom.FieldRef != nil && env.ValueFrom.FieldRef.FieldPath == "metadata.namespace"
		}
	}
	if !hasPodNamespace {
		t.Fatal("config/default: the manager container does not get POD_NAMESPACE from metadata.namespace")
	}
	return inst
}

// pointAt replaces a webhook's Service by a URL with the same path; config/default must not carry a caBundle.
func pointAt(t *testing.T, config string, cc *admissionregistrationv1.WebhookClientConfig, baseURL string) {
	t.Helper()
	if cc.Service == nil || cc.Service.Path == nil {
		t.Fatalf("config/default: a webhook of %s has no clientConfig.service.path", config)
	}
	if cc.Service.Namespace != systemNamespace || cc.Service.Name != serviceName {
		t.Fatalf("config/default: the webhooks of %s call Service %s/%s, but the certificate is for %s/%s",
			config, cc.Service.Namespace, cc.Service.Name, systemNamespace, serviceName)
	}
	if len(cc.CABundle) != 0 {
		t.Fatalf("config/default: %s already has a caBundle", config)
	}
	cc.URL, cc.Service = ptr.To(baseURL+*cc.Service.Path), nil
}

func fromUnstructured(t *testing.T, obj *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(obj.Object, into, true); err != nil {
		t.Fatalf("%s %s from config/default: %v", obj.GetKind(), obj.GetName(), err)
	}
}

type managerOptions struct {
	certs       certs.Options
	webhookHost string
	webhookPort int
	probeAddr   string
	leaderElect bool
}

// startManager runs, in this process and until the test ends, the manager cmd/manager runs (internal/manager),
// in self-managed certificate mode. The differences from a pod are the listeners (metrics off, probes and
// webhooks on local ports) and the leader election namespace (in a pod, read from the ServiceAccount directory).
func startManager(t *testing.T, env *controlplane.Env, cfg *rest.Config, o managerOptions) {
	t.Helper()
	mgr, err := controlplane.StartInProcessManager(context.Background(), env, cfg, manager.Options{
		MetricsAddr: "0", ProbeAddr: o.probeAddr, LeaderElect: o.leaderElect, LeaderElectionNamespace: o.certs.Namespace,
		Webhook: manager.WebhookOptions{Enabled: true, SelfManaged: true, Host: o.webhookHost, Port: o.webhookPort, Certs: o.certs},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := mgr.Stop(); err != nil {
			t.Error(err)
		}
	})
}

// errorText is the message of err, or "" for nil: gomega would print a certificate error's whole certificate.
func errorText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// freePort returns a TCP port that is free on localhost now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func httpStatus(url string) (int, error) {
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// logBuffer keeps the logs of the manager and envtest, shown only when the test fails (or streamed as they come
// with TEST_VERBOSE=1).
type logBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	start  time.Time
	logger logr.Logger // writes to the buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func captureLogs(t *testing.T) *logBuffer {
	logs := &logBuffer{start: time.Now()}
	var w io.Writer = logs
	if os.Getenv("TEST_VERBOSE") != "" {
		w = io.MultiWriter(logs, os.Stderr)
	}
	logs.logger = zap.New(zap.WriteTo(w), zap.UseDevMode(true)) // controller-runtime's, from controlplane.Start
	// Registered first, so it runs last: after the manager and the control plane have stopped.
	t.Cleanup(func() {
		if t.Failed() && os.Getenv("TEST_VERBOSE") == "" {
			t.Logf("logs of the manager and envtest (TEST_VERBOSE=1 streams them):\n%s", logs)
		}
	})
	return logs
}

// selfManaged is a control plane with config/default installed and the manager running in self-managed
// certificate mode, its certificates in place and its webhooks ready.
type selfManaged struct {
	k8s         client.Client // straight to the apiserver, no cache
	certDir     string
	webhookPort int
	ca          []byte // the CA in the Secret and in both caBundles
}

// startSelfManaged starts a control plane, installs config/default on it and runs the manager as its Deployment
// would, and waits until the certificates are in place and /readyz passes.
func startSelfManaged(t *testing.T, g *gomega.WithT, logs *logBuffer) selfManaged {
	t.Helper()
	env := startControlPlane(t, logs.logger)
	cfg := env.Config
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
	k8s, err := env.Client(scheme)
	g.Expect(err).NotTo(gomega.HaveOccurred())

	// 1. What config/default installs besides the manager's Deployment: its namespace, ServiceAccount and RBAC,
	// the Services, and the two webhook configurations, without any caBundle. The apiserver reaches the
	// in-process webhook server at https://localhost:<port> instead of through the Service.
	webhookPort := freePort(t)
	inst := installConfigDefault(t, k8s, env.Kubectl(), fmt.Sprintf("https://%s", net.JoinHostPort(webhookHost, strconv.Itoa(webhookPort))))

	// 2. The manager, self-managed mode, as the Deployment of config/default runs it: POD_NAMESPACE from the
	// downward API, the default flags but --leader-elect, and the ServiceAccount's permissions only.
	t.Setenv("POD_NAMESPACE", inst.namespace)
	certDir := filepath.Join(t.TempDir(), "serving-certs") // does not exist yet, like an emptyDir's subdirectory
	probeAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	mcfg := rest.CopyConfig(cfg)
	mcfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + inst.namespace + ":" + inst.serviceAccount,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + inst.namespace},
	}
	startManager(t, env, mcfg, managerOptions{
		certs: certs.Options{
			Namespace: os.Getenv("POD_NAMESPACE"), SecretName: secretName, ServiceName: serviceName,
			ExtraDNSNames: []string{webhookHost}, CertDir: certDir,
			MutatingWebhookConfiguration: mutatingName, ValidatingWebhookConfiguration: validatingName,
		},
		webhookHost: webhookHost, webhookPort: webhookPort, probeAddr: probeAddr, leaderElect: inst.leaderElect,
	})

	// 3. The Secret, the caBundles, the files, readiness and the TLS handshake.
	ca := expectCertificatesInPlace(g, k8s, certDir, nil)
	g.Eventually(func() (int, error) { return httpStatus("http://" + probeAddr + "/readyz") }).
		Should(gomega.Equal(http.StatusOK), "/readyz (with the webhooks check) never passed")
	expectServedCertificateVerifies(g, webhookPort, ca)
	return selfManaged{k8s: k8s, certDir: certDir, webhookPort: webhookPort, ca: ca}
}
