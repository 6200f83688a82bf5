// Package manager builds Outrigger's controller manager: the reconcilers, the webhooks and their certificates,
// the caches, probes and metrics. cmd/manager turns flags into Options; tests build the very same manager.
package manager

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/admission/policy"
	"github.com/outrigger-dev/outrigger/internal/advisor"
	"github.com/outrigger-dev/outrigger/internal/catalog"
	"github.com/outrigger-dev/outrigger/internal/certs"
	"github.com/outrigger-dev/outrigger/internal/controller"
	admissioncontroller "github.com/outrigger-dev/outrigger/internal/controller/admission"
	"github.com/outrigger-dev/outrigger/internal/kindconfig"
	"github.com/outrigger-dev/outrigger/internal/podcache"
	"github.com/outrigger-dev/outrigger/internal/requestmetrics"
	"github.com/outrigger-dev/outrigger/internal/revision/history"
	"github.com/outrigger-dev/outrigger/internal/selection"
	"github.com/outrigger-dev/outrigger/internal/webhook"
)

// Options configure the manager; cmd/manager's flags set them.
type Options struct {
	MetricsAddr, ProbeAddr string
	LeaderElect            bool
	// LeaderElectionNamespace: "" lets controller-runtime take the pod's own namespace.
	LeaderElectionNamespace string
	SecureMetrics           bool
	EnableHTTP2             bool
	// PprofAddr serves net/http/pprof when not "" or "0", for profiling.
	PprofAddr string
	// WorkloadWorkers is how many workloads of each kind are reconciled at once.
	WorkloadWorkers int
	// NormalEvents records every write as a Normal event (controller.Options.NormalEvents).
	NormalEvents bool
	// SkipControllerNameValidation lets a second manager in the same process register the same controller
	// names: only a test that restarts the manager in its own process needs it.
	SkipControllerNameValidation bool
	Webhook                      WebhookOptions
	// WorkloadKinds are the kinds the configuration adds to the built-in ones (kindconfig.Load).
	WorkloadKinds []kindconfig.Kind
	// Admission is how workloads get their sidecars at admission: one of AdmissionModes ("" is webhook).
	Admission string
	// ValidatingWebhookConfiguration is the name of the profiles' webhook configuration, which owns the
	// admission policies in policy mode.
	ValidatingWebhookConfiguration string
	// ExcludedNamespaces are protected as kube-system and the manager's own namespace are (--excluded-namespaces):
	// the namespaces the mutating webhook's namespaceSelector leaves out, so that the reconcilers, the status and
	// the admission policies leave them out too.
	ExcludedNamespaces []string
}

// WebhookOptions configure the admission webhooks and their serving certificate.
type WebhookOptions struct {
	Enabled bool
	// SelfManaged: Outrigger keeps its own CA and certificate (internal/certs); otherwise the files in
	// Certs.CertDir come from someone else (cert-manager, envtest).
	SelfManaged bool
	Host        string
	Port        int
	// Certs says where the certificate lives; Certs.Namespace is Outrigger's own namespace.
	Certs certs.Options
}

// rotators numbers the certificate rotators of managers started again in one process.
var rotators atomic.Int32

// New builds the manager. ctx stops what New starts in the background; Start the manager with the same ctx.
func New(ctx context.Context, cfg *rest.Config, o Options) (ctrl.Manager, error) {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
	utilruntime.Must(apiextensionsv1.AddToScheme(scheme)) // the kind watcher's CRDs, read as metadata

	var tlsOpts []func(*tls.Config)
	if !o.EnableHTTP2 {
		// HTTP/2 Stream Cancellation and Rapid Reset CVEs.
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metricsOpts := metricsserver.Options{BindAddress: o.MetricsAddr, SecureServing: o.SecureMetrics, TLSOpts: tlsOpts}
	if o.SecureMetrics {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	// Only Outrigger's pods, trimmed; and, for self-managed certificates, the one Secret and the two webhook
	// configurations, and the webhook server presents the certificate the keeper chose (see certs.Keeper).
	// Workloads without their managedFields, which the manager never reads: about a third of a Deployment as
	// the cache would hold it (docs/benchmarks.md, memory).
	cacheOpts := cache.Options{ByObject: podcache.ByObject(), DefaultTransform: cache.TransformStripManagedFields()}
	maps.Copy(cacheOpts.ByObject, history.CacheByObject())
	maps.Copy(cacheOpts.ByObject, advisor.CacheByObject()) // quotas, limit ranges, autoscalers: trimmed
	// The manager's own namespace is out of reach of ClusterSidecarProfiles, as kube-system is, and so are the
	// namespaces excluded from the webhook: one set, or the reconciler would inject what the webhook skipped.
	protected := selection.ProtectedNamespaces(append([]string{o.Webhook.Certs.Namespace}, o.ExcludedNamespaces...)...)
	policies, err := policyOptions(ctx, cfg, o, protected)
	if err != nil {
		return nil, err
	}
	if policies != nil { // only an apiserver that serves them has the kinds to cache
		maps.Copy(cacheOpts.ByObject, admissioncontroller.CacheByObject())
	}
	webhookTLSOpts := tlsOpts
	var keeper *certs.Keeper
	if o.Webhook.Enabled && o.Webhook.SelfManaged {
		if o.SkipControllerNameValidation {
			// cert-controller names its controller itself, outside the manager's controller options.
			o.Webhook.Certs.RotatorName = fmt.Sprintf("cert-rotator-%d", rotators.Add(1))
		}
		maps.Copy(cacheOpts.ByObject, o.Webhook.Certs.CacheByObject())
		keeper = certs.NewKeeper(o.Webhook.Certs)
		webhookTLSOpts = append(slices.Clone(tlsOpts), keeper.ServeFromMemory)
	}
	cfg = requestmetrics.Instrument(cfg)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: scheme,
		Cache:  cacheOpts,
		// Kinds read as unstructured objects (an Argo Rollout) are read from the cache, with its indexes, as
		// typed ones are; controller-runtime's client otherwise sends their reads to the apiserver.
		Client:                  client.Options{Cache: &client.CacheOptions{Unstructured: true}},
		Metrics:                 metricsOpts,
		HealthProbeBindAddress:  o.ProbeAddr,
		PprofBindAddress:        o.PprofAddr,
		LeaderElection:          o.LeaderElect,
		LeaderElectionID:        "outrigger.sidecars.outrigger.dev",
		LeaderElectionNamespace: o.LeaderElectionNamespace,
		WebhookServer: ctrlwebhook.NewServer(ctrlwebhook.Options{
			Host: o.Webhook.Host, Port: o.Webhook.Port, CertDir: o.Webhook.Certs.CertDir, TLSOpts: webhookTLSOpts,
		}),
		Controller: config.Controller{SkipNameValidation: &o.SkipControllerNameValidation},
	})
	if err != nil {
		return nil, err
	}
	// Asked once, at start: a cluster upgrade drains the nodes, which restarts the manager.
	co := controller.Options{
		NativeSidecarsUnsupported: controller.NativeSidecarSupport(cfg), WorkloadWorkers: o.WorkloadWorkers,
		NormalEvents: o.NormalEvents, Protected: protected, Configured: o.WorkloadKinds,
		RevisionNamespace: revisionNamespace(o.Webhook.Certs.Namespace),
	}
	co.Policies = policies
	if co.Policies == nil {
		if err := mgr.Add(policiesLeftBehind(cfg)); err != nil {
			return nil, err
		}
	}
	served, err := controller.Setup(ctx, mgr, co)
	if err != nil {
		return nil, err
	}
	register := func() {
		webhook.Register(mgr, catalog.Catalog{Reader: mgr.GetClient(), Protected: protected, RevisionNamespace: co.RevisionNamespace}, served, co.Known())
	}
	webhooksReady, err := setupWebhooks(ctx, mgr, o.Webhook, keeper, register)
	if err != nil {
		return nil, err
	}
	for name, check := range map[string]healthz.Checker{"readyz": healthz.Ping, "webhooks": webhooksReady} {
		if err := mgr.AddReadyzCheck(name, check); err != nil {
			return nil, err
		}
	}
	return mgr, mgr.AddHealthzCheck("healthz", healthz.Ping)
}

// setupWebhooks registers the webhooks once their certificate is there, and returns the readiness check that
// passes once the webhook server serves. Registering adds the webhook server to the manager, which starts it at
// once if the manager runs; the server fails to start without a certificate, hence the wait (gatekeeper's way).
func setupWebhooks(ctx context.Context, mgr ctrl.Manager, w WebhookOptions, keeper *certs.Keeper, register func()) (healthz.Checker, error) {
	if !w.Enabled {
		return healthz.Ping, nil
	}
	if !w.SelfManaged {
		// The files are there already (or the server fails to start, which says what is missing).
		register()
		return mgr.GetWebhookServer().StartedChecker(), nil
	}
	certsReady, err := keeper.Setup(ctx, mgr)
	if err != nil {
		return nil, err
	}
	registered := make(chan struct{})
	go func() {
		select {
		case <-certsReady:
			if ctx.Err() == nil { // the manager refuses new runnables once it stops
				register()
				close(registered)
			}
		case <-ctx.Done():
		}
	}()
	return func(req *http.Request) error {
		select {
		case <-registered:
			return mgr.GetWebhookServer().StartedChecker()(req)
		default:
			return errors.New("the webhook certificate is not ready yet")
		}
	}, nil
}

// policyOptions resolves the admission mode, logs it and sets its gauge; nil options for webhook mode.
func policyOptions(ctx context.Context, cfg *rest.Config, o Options, protected selection.Protected) (*controller.PolicyOptions, error) {
	mode, err := resolveAdmission(cfg, o.Admission)
	if err != nil {
		return nil, err
	}
	admissionMode.Reset()
	admissionMode.WithLabelValues(mode).Set(1)
	logger := ctrl.Log.WithName("admission")
	logger.Info("admission mode", "asked", cmp.Or(o.Admission, AdmissionWebhook), "mode", mode)
	if mode != AdmissionPolicy {
		return nil, nil
	}
	user, err := whoAmI(ctx, cfg)
	if err != nil {
		logger.Info("the admission policies see the manager's own writes too: its user name is unknown", "error", err.Error())
	}
	return &controller.PolicyOptions{Options: policy.Options{Protected: protected, ManagerUser: user}, Owner: o.ValidatingWebhookConfiguration}, nil
}

// revisionNamespace is where ClusterSidecarProfiles keep their revisions: the manager's namespace (POD_NAMESPACE);
// a manager run outside a cluster without it keeps them in default, which every cluster has.
func revisionNamespace(own string) string {
	if own == "" {
		return corev1.NamespaceDefault
	}
	return own
}
