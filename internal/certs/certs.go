// Package certs gives the webhook server a serving certificate on a cluster with nothing else installed: it keeps
// a CA and a serving certificate in a Secret of Outrigger's namespace, rotates them before they expire (with
// cert-controller's rotator), writes them to the webhook server's certificate directory and keeps the caBundle of
// the webhook configurations current.
package certs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

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
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
)

// The file names the webhook server reads (controller-runtime's defaults) and the rotator writes into the Secret.
const (
	certFile = "tls.crt"
	keyFile  = "tls.key"
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
}

// CacheByObject limits the manager's cache to the one Secret it needs, so the manager never lists or watches
// Secrets outside its namespace (nor other Secrets inside it). Give it to ctrl.Options.Cache.ByObject.
func (o Options) CacheByObject() map[client.Object]cache.ByObject {
	return map[client.Object]cache.ByObject{
		&corev1.Secret{}: {
			Namespaces: map[string]cache.Config{o.Namespace: {}},
			Field:      fields.OneTermEqualSelector("metadata.name", o.SecretName),
		},
	}
}

// Setup creates the Secret if it is missing and adds to mgr the rotator and the controller that copies the
// certificate to CertDir. The returned channel is closed once the certificate is in CertDir and the CA is in both
// webhook configurations: the webhook server must not start before, as it cannot without a certificate.
func Setup(ctx context.Context, mgr ctrl.Manager, o Options) (<-chan struct{}, error) {
	// The rotator only updates the Secret, it never creates it.
	if err := createSecret(ctx, mgr.GetClient(), o); err != nil {
		return nil, err
	}
	ready := make(chan struct{})
	svc := o.ServiceName + "." + o.Namespace + ".svc"
	err := rotator.AddRotator(mgr, &rotator.CertRotator{
		SecretKey:      types.NamespacedName{Namespace: o.Namespace, Name: o.SecretName},
		CertDir:        o.CertDir,
		CAName:         "outrigger-ca",
		CAOrganization: "outrigger",
		DNSName:        svc,
		ExtraDNSNames:  append([]string{svc + ".cluster.local"}, o.ExtraDNSNames...),
		IsReady:        ready,
		Webhooks: []rotator.WebhookInfo{
			{Name: o.MutatingWebhookConfiguration, Type: rotator.Mutating},
			{Name: o.ValidatingWebhookConfiguration, Type: rotator.Validating},
		},
		FieldOwner: "outrigger",
		// Every replica serves webhooks, so every replica needs the certificate, leader or not. Replicas that
		// rotate at the same time conflict on the Secret's resourceVersion, and the losers retry.
		RequireLeaderElection: false,
	})
	if err != nil {
		return nil, fmt.Errorf("adding the certificate rotator: %w", err)
	}
	if err := addFileWriter(mgr, o); err != nil {
		return nil, err
	}
	return ready, nil
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

// addFileWriter adds a controller that writes the Secret's certificate and key to CertDir whenever they change,
// and recreates the Secret if it is deleted.
// The rotator does not write files (it expects the Secret mounted as a volume, which kubelet refreshes only after
// a minute or so, and which a manager run outside the cluster does not have); the webhook server notices the new
// files by itself.
func addFileWriter(mgr ctrl.Manager, o Options) error {
	key := types.NamespacedName{Namespace: o.Namespace, Name: o.SecretName}
	c := mgr.GetClient()
	return ctrl.NewControllerManagedBy(mgr).
		Named("webhook-cert-files").
		For(&corev1.Secret{}).
		// On every replica, like the webhook server it feeds.
		WithOptions(controller.Options{NeedLeaderElection: ptr.To(false)}).
		Complete(reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
			if req.NamespacedName != key {
				return reconcile.Result{}, nil
			}
			secret := &corev1.Secret{}
			if err := c.Get(ctx, key, secret); err != nil {
				if apierrors.IsNotFound(err) {
					// Deleted (the usual way to force new certificates): recreate it empty, and the rotator,
					// which only ever updates it, issues a new CA and serving certificate into it.
					return reconcile.Result{}, createSecret(ctx, c, o)
				}
				return reconcile.Result{}, err
			}
			return reconcile.Result{}, writeFiles(o.CertDir, secret.Data[certFile], secret.Data[keyFile])
		}))
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
