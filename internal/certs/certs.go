// Package certs gives the webhook server a serving certificate on a cluster with nothing else installed: it keeps
// a CA and a serving certificate in a Secret of Outrigger's namespace, rotates them before they expire (with
// cert-controller's rotator), serves the certificate from memory (and writes it to the webhook server's
// certificate directory) and keeps the caBundle of the webhook configurations current, switching from one CA to
// the next without a moment in which the apiserver cannot call the webhook (see Keeper).
package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
)

// The file names the webhook server reads (controller-runtime's defaults) and the rotator writes into the Secret.
const (
	certFile = "tls.crt"
	keyFile  = "tls.key"
	caFile   = "ca.crt"
)

// Options say where the certificates live and what they are for.
type Options struct {
	// Namespace is Outrigger's own namespace, the only one whose Secrets the manager reads or writes.
	Namespace string
	// SecretName is the Secret holding the CA and the serving certificate.
	SecretName string
	// ServiceName is the webhook Service; the serving certificate is valid for its DNS names.
	ServiceName string
	// ExtraDNSNames are further names the serving certificate is valid for, e.g. localhost for a manager run
	// outside the cluster.
	ExtraDNSNames []string
	// CertDir is the webhook server's certificate directory.
	CertDir string
	// MutatingWebhookConfiguration and ValidatingWebhookConfiguration get the CA as their caBundle.
	MutatingWebhookConfiguration, ValidatingWebhookConfiguration string
	// Propagation and RetainPrevious time a rotation (see Keeper); 0 means DefaultPropagation and
	// DefaultRetainPrevious.
	Propagation, RetainPrevious time.Duration
	// RotatorName names the rotator's controller; "" is cert-controller's "cert-rotator". It must be unique in
	// the process: a test that starts a second manager in it gives another.
	RotatorName string
}

// CacheByObject limits the manager's cache to the one Secret and the two webhook configurations it needs, so the
// manager never lists or watches Secrets outside its namespace (nor other Secrets inside it), nor other webhook
// configurations. Give it to ctrl.Options.Cache.ByObject.
func (o Options) CacheByObject() map[client.Object]cache.ByObject {
	return map[client.Object]cache.ByObject{
		&corev1.Secret{}: {
			Namespaces: map[string]cache.Config{o.Namespace: {}},
			Field:      fields.OneTermEqualSelector("metadata.name", o.SecretName),
		},
		&admissionregistrationv1.MutatingWebhookConfiguration{}: {
			Field: fields.OneTermEqualSelector("metadata.name", o.MutatingWebhookConfiguration),
		},
		&admissionregistrationv1.ValidatingWebhookConfiguration{}: {
			Field: fields.OneTermEqualSelector("metadata.name", o.ValidatingWebhookConfiguration),
		},
	}
}

// Keeper keeps the webhook server's certificate and the webhook configurations' caBundle in step with the
// Secret, in the order that loses no admission request during a rotation:
//
//  1. the caBundles get the Secret's new CA first, followed by the CAs they had before, so the apiserver trusts
//     the old serving certificate and the new one alike;
//  2. the webhook server keeps serving its old certificate until the new CA has been in the caBundles for
//     Options.Propagation (the apiserver takes a caBundle up from its own watch, a moment after the update;
//     every replica of the apiserver separately), and only then switches, in memory, in one step;
//  3. the previous CAs leave the caBundles Options.RetainPrevious later, when every replica has switched.
//
// Without it, cert-controller's rotator replaces the caBundle with the new CA alone while the server still
// serves the old certificate (or the other way round), and the apiserver, which then trusts neither, admits the
// workloads of that moment without their sidecars (failurePolicy Ignore): TestCertificateRotationLosesNoAdmission
// lost 2 of about 2,000 creates that way.
type Keeper struct {
	o      Options
	served atomic.Pointer[tls.Certificate]
	// inBundles: when this process first saw each CA (by its PEM) in both caBundles. One reconcile at a time.
	inBundles map[string]time.Time
	ready     chan struct{}
	readyOnce sync.Once
}

// NewKeeper makes the Keeper of o. Give ServeFromMemory to the webhook server's TLSOpts, then call Setup.
func NewKeeper(o Options) *Keeper {
	if o.Propagation == 0 {
		o.Propagation = DefaultPropagation
	}
	if o.RetainPrevious == 0 {
		o.RetainPrevious = DefaultRetainPrevious
	}
	return &Keeper{o: o, inBundles: map[string]time.Time{}, ready: make(chan struct{})}
}

// DefaultPropagation is how long the webhook server waits, after a new CA reaches the caBundles, before it
// serves a certificate the CA signed. The apiserver usually sees the update within milliseconds; seconds cover
// a loaded or highly available control plane, and cost nothing: the old certificate is valid for months yet.
const DefaultPropagation = 5 * time.Second

// DefaultRetainPrevious is how long the previous CAs stay in the caBundles after the new one arrived: long enough
// for every replica to have switched, short enough that a CA rotated away because its key leaked stops being
// trusted soon.
const DefaultRetainPrevious = 10 * time.Minute

// maxPreviousCAs bounds the caBundle when rotations follow each other faster than RetainPrevious.
const maxPreviousCAs = 2

// ServeFromMemory makes the webhook server present the certificate the Keeper chose. For ctrlwebhook.Options.TLSOpts.
func (k *Keeper) ServeFromMemory(c *tls.Config) {
	c.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		if cert := k.served.Load(); cert != nil {
			return cert, nil
		}
		return nil, errors.New("no webhook serving certificate yet")
	}
}

// Setup creates the Secret if it is missing and adds to mgr the rotator and the controller that applies the
// Secret to the caBundles and the webhook server. The returned channel is closed once the server has a
// certificate and the CA is in both webhook configurations: the webhook server must not start before, as it
// cannot serve without a certificate.
func (k *Keeper) Setup(ctx context.Context, mgr ctrl.Manager) (<-chan struct{}, error) {
	o := k.o
	// The rotator only updates the Secret, it never creates it.
	if err := createSecret(ctx, mgr.GetClient(), o); err != nil {
		return nil, err
	}
	svc := o.ServiceName + "." + o.Namespace + ".svc"
	err := rotator.AddRotator(mgr, &rotator.CertRotator{
		SecretKey:      types.NamespacedName{Namespace: o.Namespace, Name: o.SecretName},
		CertDir:        o.CertDir,
		CAName:         "outrigger-ca",
		CAOrganization: "outrigger",
		DNSName:        svc,
		ExtraDNSNames:  append([]string{svc + ".cluster.local"}, o.ExtraDNSNames...),
		// The rotator's readiness (the files are there) is not ours: k.ready says when the server can serve.
		IsReady: make(chan struct{}),
		// No Webhooks: the rotator would put the new CA alone into the caBundles at once (see Keeper).
		FieldOwner: "outrigger",
		// Every replica serves webhooks, so every replica needs the certificate, leader or not. Replicas that
		// rotate at the same time conflict on the Secret's resourceVersion, and the losers retry.
		RequireLeaderElection: false,
		ControllerName:        o.RotatorName,
	})
	if err != nil {
		return nil, fmt.Errorf("adding the certificate rotator: %w", err)
	}
	if err := k.addController(mgr); err != nil {
		return nil, err
	}
	return k.ready, nil
}

// createSecret creates the Secret empty; the rotator fills it. Create rather than get-then-create, so that the
// manager needs no get permission, and so that replicas starting together do not race.
func createSecret(ctx context.Context, c client.Client, o Options) error {
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
		Namespace: o.Namespace,
		Name:      o.SecretName,
		Labels:    map[string]string{"app.kubernetes.io/name": "outrigger", "app.kubernetes.io/component": "webhook-certificate"},
	}}
	if err := c.Create(ctx, secret); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating Secret %s/%s for the webhook certificates: %w", o.Namespace, o.SecretName, err)
	}
	return nil
}

// addController adds the controller that applies the Secret to the caBundles and the webhook server (see
// Keeper), and recreates the Secret if it is deleted. It watches the two webhook configurations too, so a
// caBundle someone emptied (re-applying config/ with another tool) is filled again.
func (k *Keeper) addController(mgr ctrl.Manager) error {
	key := types.NamespacedName{Namespace: k.o.Namespace, Name: k.o.SecretName}
	toSecret := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: key}}
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("webhook-certs").
		For(&corev1.Secret{}).
		Watches(&admissionregistrationv1.MutatingWebhookConfiguration{}, toSecret).
		Watches(&admissionregistrationv1.ValidatingWebhookConfiguration{}, toSecret).
		// On every replica, like the webhook server it feeds.
		WithOptions(controller.Options{NeedLeaderElection: ptr.To(false)}).
		Complete(reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
			if req.NamespacedName != key {
				return reconcile.Result{}, nil
			}
			return k.reconcile(ctx, mgr.GetClient(), time.Now())
		}))
}

// reconcile makes one step of the order Keeper describes, and says when to look again.
func (k *Keeper) reconcile(ctx context.Context, c client.Client, now time.Time) (reconcile.Result, error) {
	secret := &corev1.Secret{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: k.o.Namespace, Name: k.o.SecretName}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			// Deleted (the usual way to force new certificates): recreate it empty, and the rotator, which only
			// ever updates it, issues a new CA and serving certificate into it.
			return reconcile.Result{}, createSecret(ctx, c, k.o)
		}
		return reconcile.Result{}, err
	}
	ca, cert, key := secret.Data[caFile], secret.Data[certFile], secret.Data[keyFile]
	if len(ca) == 0 || len(cert) == 0 || len(key) == 0 {
		return reconcile.Result{}, nil // the rotator has not filled the Secret yet
	}
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		// The rotator writes all three at once; a Secret edited by hand gets its next update.
		log.FromContext(ctx).Error(err, "the webhook certificate Secret holds no usable key pair; waiting for the rotator", "secret", k.o.SecretName)
		return reconcile.Result{}, nil
	}

	// 1. Both caBundles trust the new CA, and the previous ones until RetainPrevious after it arrived.
	since, seen := k.inBundles[string(ca)]
	keepPrevious := !seen || now.Sub(since) < k.o.RetainPrevious
	if err := k.ensureBundles(ctx, c, ca, keepPrevious, now); err != nil {
		return reconcile.Result{}, err
	}
	if !seen {
		since = now
		k.inBundles = map[string]time.Time{string(ca): now} // older CAs are never seen again
	}

	// 2. The server switches once the apiserver has had the time to take the new caBundle up. A server that
	// serves nothing yet switches at once: there is nothing to lose.
	if current := k.served.Load(); current == nil || !bytes.Equal(current.Certificate[0], pair.Certificate[0]) {
		if wait := k.o.Propagation - now.Sub(since); current != nil && wait > 0 {
			return reconcile.Result{RequeueAfter: wait}, nil
		}
		// The rotator takes the files' presence as the sign that the server has a certificate.
		if err := writeFiles(k.o.CertDir, cert, key); err != nil {
			return reconcile.Result{}, err
		}
		k.served.Store(&pair)
		log.FromContext(ctx).Info("webhook server switched to the Secret's serving certificate")
	}
	k.readyOnce.Do(func() { close(k.ready) })

	// 3. Look again when the previous CAs are to leave the caBundles.
	if keepPrevious {
		return reconcile.Result{RequeueAfter: k.o.RetainPrevious - now.Sub(since)}, nil
	}
	return reconcile.Result{}, nil
}

// ensureBundles puts ca first in the caBundle of every webhook of both configurations, followed, if keepPrevious,
// by the unexpired CAs the caBundle had. A configuration that does not exist is skipped, as the rotator did:
// the webhooks of a configuration that is not installed are never called.
func (k *Keeper) ensureBundles(ctx context.Context, c client.Client, ca []byte, keepPrevious bool, now time.Time) error {
	update := func(obj client.Object, bundles []*[]byte) error {
		changed := false
		for _, b := range bundles {
			if next := caBundle(ca, *b, keepPrevious, now); !bytes.Equal(next, *b) {
				*b, changed = next, true
			}
		}
		if !changed {
			return nil
		}
		// Update with the resourceVersion read: replicas that race conflict, and the losers retry.
		return c.Update(ctx, obj, client.FieldOwner("outrigger"))
	}
	mutating := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := c.Get(ctx, client.ObjectKey{Name: k.o.MutatingWebhookConfiguration}, mutating); client.IgnoreNotFound(err) != nil {
		return err
	} else if err == nil {
		var bundles []*[]byte
		for i := range mutating.Webhooks {
			bundles = append(bundles, &mutating.Webhooks[i].ClientConfig.CABundle)
		}
		if err := update(mutating, bundles); err != nil {
			return fmt.Errorf("caBundle of MutatingWebhookConfiguration %s: %w", mutating.Name, err)
		}
	}
	validating := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := c.Get(ctx, client.ObjectKey{Name: k.o.ValidatingWebhookConfiguration}, validating); client.IgnoreNotFound(err) != nil {
		return err
	} else if err == nil {
		var bundles []*[]byte
		for i := range validating.Webhooks {
			bundles = append(bundles, &validating.Webhooks[i].ClientConfig.CABundle)
		}
		if err := update(validating, bundles); err != nil {
			return fmt.Errorf("caBundle of ValidatingWebhookConfiguration %s: %w", validating.Name, err)
		}
	}
	return nil
}

// caBundle is ca followed, if keepPrevious, by up to maxPreviousCAs certificates of current that are not in ca
// and not expired at now, in their order (the most recent first). Blocks that do not parse are dropped.
func caBundle(ca, current []byte, keepPrevious bool, now time.Time) []byte {
	out := bytes.Clone(ca)
	if !keepPrevious {
		return out
	}
	kept := 0
	for rest := current; kept < maxPreviousCAs; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if block.Type != "CERTIFICATE" || err != nil || now.After(cert.NotAfter) {
			continue
		}
		encoded := pem.EncodeToMemory(block)
		if bytes.Contains(ca, encoded) {
			continue
		}
		out = append(out, encoded...)
		kept++
	}
	return out
}

// writeFiles writes the key, then the certificate, each atomically (a rename), and only when it changed. The
// certificate comes last because the rotator takes its presence as the sign that both are there.
func writeFiles(dir string, cert, key []byte) error {
	if len(cert) == 0 || len(key) == 0 {
		return nil // the rotator has not filled the Secret yet
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := writeIfChanged(filepath.Join(dir, keyFile), key); err != nil {
		return err
	}
	return writeIfChanged(filepath.Join(dir, certFile), cert)
}

func writeIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
