package certs

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func TestWriteFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "serving-certs")

	// An empty Secret (the rotator has not filled it yet) writes nothing: the rotator waits for tls.crt.
	if err := writeFiles(dir, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("empty Secret: want no directory, got %v", err)
	}

	if err := writeFiles(dir, []byte("cert1"), []byte("key1")); err != nil {
		t.Fatal(err)
	}
	assertFile(t, filepath.Join(dir, certFile), "cert1")
	assertFile(t, filepath.Join(dir, keyFile), "key1")
	before := modTime(t, filepath.Join(dir, certFile))

	// The same content leaves the files alone, so the webhook server does not reload for nothing.
	time.Sleep(10 * time.Millisecond)
	if err := writeFiles(dir, []byte("cert1"), []byte("key1")); err != nil {
		t.Fatal(err)
	}
	if !modTime(t, filepath.Join(dir, certFile)).Equal(before) {
		t.Error("unchanged certificate was rewritten")
	}

	if err := writeFiles(dir, []byte("cert2"), []byte("key2")); err != nil {
		t.Fatal(err)
	}
	assertFile(t, filepath.Join(dir, certFile), "cert2")
	assertFile(t, filepath.Join(dir, keyFile), "key2")

	// No temporary files left behind, and the key is readable by the manager alone.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("want tls.crt and tls.key only, got %v", entries)
	}
	if info, _ := os.Stat(filepath.Join(dir, keyFile)); info.Mode().Perm() != 0o600 {
		t.Errorf("tls.key mode %v, want 0600", info.Mode().Perm())
	}
}

func assertFile(t *testing.T, path, want string) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil || string(got) != want {
		t.Errorf("%s = %q, %v; want %q", path, got, err, want)
	}
}

func modTime(t *testing.T, path string) time.Time {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.ModTime()
}

// The order of a rotation, step by step with a clock: the caBundles get the new CA before the server serves a
// certificate it signed, keep the old CA until RetainPrevious, and the server switches only after Propagation.
func TestKeeperRotatesInAnOrderThatLosesNoRequest(t *testing.T) {
	ctx := context.Background()
	o := Options{Namespace: "outrigger-system", SecretName: "cert", ServiceName: "svc", CertDir: t.TempDir(),
		MutatingWebhookConfiguration: "m", ValidatingWebhookConfiguration: "v",
		Propagation: 5 * time.Second, RetainPrevious: 10 * time.Minute}
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: o.Namespace, Name: o.SecretName}}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(secret,
		&admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "m"},
			Webhooks: []admissionregistrationv1.MutatingWebhook{{Name: "a"}, {Name: "b"}}},
		&admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "v"},
			Webhooks: []admissionregistrationv1.ValidatingWebhook{{Name: "c"}}},
	).Build()
	k := NewKeeper(o)
	t0 := time.Now()
	ca1, cert1, key1 := issue(t)
	ca2, cert2, key2 := issue(t)

	for _, step := range []struct {
		name        string
		fill        [3][]byte // ca.crt, tls.crt, tls.key written to the Secret before the step; nil: unchanged
		at          time.Duration
		wantBundle  [][]byte // the CAs of every caBundle, in order
		wantServed  []byte   // the certificate served; nil: none
		wantRequeue time.Duration
	}{
		{"empty Secret: nothing yet", [3][]byte{}, 0, nil, nil, 0},
		{"first certificate: bundle and server at once", [3][]byte{ca1, cert1, key1}, 0, [][]byte{ca1}, cert1, 10 * time.Minute},
		{"rotated: new CA first, old kept, server waits", [3][]byte{ca2, cert2, key2}, time.Minute, [][]byte{ca2, ca1}, cert1, 5 * time.Second},
		{"still propagating", [3][]byte{}, time.Minute + 4*time.Second, [][]byte{ca2, ca1}, cert1, time.Second},
		{"propagated: server switches", [3][]byte{}, time.Minute + 5*time.Second, [][]byte{ca2, ca1}, cert2, 10*time.Minute - 5*time.Second},
		{"retained long enough: old CA leaves", [3][]byte{}, 11 * time.Minute, [][]byte{ca2}, cert2, 0},
	} {
		if step.fill[0] != nil {
			s := &corev1.Secret{}
			must(t, c.Get(ctx, client.ObjectKeyFromObject(secret), s))
			s.Data = map[string][]byte{caFile: step.fill[0], certFile: step.fill[1], keyFile: step.fill[2]}
			must(t, c.Update(ctx, s))
		}
		res, err := k.reconcile(ctx, c, t0.Add(step.at))
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if res.RequeueAfter != step.wantRequeue {
			t.Errorf("%s: requeue after %s, want %s", step.name, res.RequeueAfter, step.wantRequeue)
		}
		want := bytes.Join(step.wantBundle, nil)
		m := &admissionregistrationv1.MutatingWebhookConfiguration{}
		v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		must(t, c.Get(ctx, client.ObjectKey{Name: "m"}, m))
		must(t, c.Get(ctx, client.ObjectKey{Name: "v"}, v))
		for _, got := range [][]byte{m.Webhooks[0].ClientConfig.CABundle, m.Webhooks[1].ClientConfig.CABundle, v.Webhooks[0].ClientConfig.CABundle} {
			if !bytes.Equal(got, want) {
				t.Errorf("%s: caBundle holds %d CAs, not the %d wanted in order", step.name, bytes.Count(got, []byte("BEGIN")), len(step.wantBundle))
			}
		}
		served := k.served.Load()
		switch {
		case step.wantServed == nil && served != nil:
			t.Errorf("%s: serves a certificate already", step.name)
		case step.wantServed != nil && (served == nil || !bytes.Equal(pemOf(served.Certificate[0]), step.wantServed)):
			t.Errorf("%s: does not serve the wanted certificate", step.name)
		}
	}
	select {
	case <-k.ready:
	default:
		t.Error("ready never closed")
	}
}

func TestCABundle(t *testing.T) {
	now := time.Now()
	a, b, c, d := caPEM(t, now.Add(time.Hour)), caPEM(t, now.Add(time.Hour)), caPEM(t, now.Add(time.Hour)), caPEM(t, now.Add(time.Hour))
	expired := caPEM(t, now.Add(-time.Minute))
	join := func(cas ...[]byte) []byte { return bytes.Join(cas, nil) }
	for _, tc := range []struct {
		name         string
		ca, current  []byte
		keepPrevious bool
		want         []byte
	}{
		{"empty bundle", a, nil, true, a},
		{"same CA: unchanged", a, a, true, a},
		{"new CA first, previous after", b, a, true, join(b, a)},
		{"previous no longer kept", b, join(b, a), false, b},
		{"at most two previous, most recent first", d, join(c, b, a), true, join(d, c, b)},
		{"expired previous dropped", b, join(expired, a), true, join(b, a)},
		{"garbage dropped", b, []byte("not PEM"), true, b},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := caBundle(tc.ca, tc.current, tc.keepPrevious, now); !bytes.Equal(got, tc.want) {
				t.Errorf("got %d certificates, want %d, or not in order", bytes.Count(got, []byte("BEGIN")), bytes.Count(tc.want, []byte("BEGIN")))
			}
		})
	}
}

// issue makes a CA and a serving certificate it signed, as the rotator does.
func issue(t *testing.T) (ca, cert, key []byte) {
	t.Helper()
	r := &rotator.CertRotator{CAName: "test-ca", DNSName: "svc.ns.svc", ExtKeyUsages: &[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	now := time.Now()
	artifacts, err := r.CreateCACert(now.Add(-time.Hour), now.Add(time.Hour))
	must(t, err)
	cert, key, err = r.CreateCertPEM(artifacts, now.Add(-time.Hour), now.Add(time.Hour))
	must(t, err)
	return artifacts.CertPEM, cert, key
}

// caPEM makes a CA certificate that expires at notAfter.
func caPEM(t *testing.T, notAfter time.Time) []byte {
	t.Helper()
	artifacts, err := (&rotator.CertRotator{CAName: "test-ca"}).CreateCACert(notAfter.Add(-2*time.Hour), notAfter)
	must(t, err)
	return artifacts.CertPEM
}

func pemOf(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
