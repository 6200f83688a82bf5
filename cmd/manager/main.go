// Command manager runs Outrigger's controllers and admission webhooks: it injects the sidecars of SidecarProfiles
// and ClusterSidecarProfiles into the workloads they select and reports progress in the profiles' status.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/outrigger-dev/outrigger/internal/certs"
	"github.com/outrigger-dev/outrigger/internal/controller"
	"github.com/outrigger-dev/outrigger/internal/kindconfig"
	"github.com/outrigger-dev/outrigger/internal/manager"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// The values of --webhook-cert-mode.
const (
	certModeSelfManaged = "self-managed" // Outrigger makes, rotates and injects its own certificates
	certModeExternal    = "external"     // cert-manager (or a test, or a person) puts them in --webhook-cert-dir
)

// options are the manager's flags.
type options struct {
	metricsAddr, probeAddr string
	leaderElect            bool
	workloadKinds          string // --workload-kinds-config
	leaderElectionNS       string
	secureMetrics          bool
	enableHTTP2            bool
	pprofAddr              string
	workloadWorkers        int
	normalEvents           bool
	admission              string
	excludedNamespaces     []string // --excluded-namespaces
	webhook                webhookOptions
}

type webhookOptions struct {
	enabled                      bool
	certMode                     string
	certDir, host                string
	port                         int
	secretName, serviceName      string
	extraDNSNames                []string
	mutatingName, validatingName string
	namespace                    string // POD_NAMESPACE, not a flag
}

func main() {
	var o options
	flag.StringVar(&o.metricsAddr, "metrics-bind-address", "0", "Address of the metrics endpoint, e.g. :8443 (HTTPS) or :8080 (HTTP); 0 disables it.")
	flag.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz probes; 0 disables them.")
	flag.BoolVar(&o.leaderElect, "leader-elect", false, "Elect a leader, so that only one of several replicas reconciles.")
	flag.StringVar(&o.leaderElectionNS, "leader-election-namespace", "", "Namespace of the leader election Lease; empty: the manager's own namespace in a cluster (required with --leader-elect outside a cluster).")
	flag.BoolVar(&o.secureMetrics, "metrics-secure", true, "Serve metrics over HTTPS, with authentication and authorization by the apiserver.")
	flag.BoolVar(&o.enableHTTP2, "enable-http2", false, "Serve metrics and webhooks over HTTP/2 as well (off: HTTP/2 Stream Cancellation and Rapid Reset CVEs).")
	flag.StringVar(&o.pprofAddr, "pprof-bind-address", "0", "Address to serve Go's pprof profiles on, e.g. 127.0.0.1:6060; 0 disables it.")
	flag.IntVar(&o.workloadWorkers, "workload-workers", controller.DefaultWorkloadWorkers, "How many workloads of each kind are reconciled at once.")
	flag.BoolVar(&o.normalEvents, "normal-events", false, "Record a Normal event on the workload and the profile for every write (Injected, Updated, Removed, Repaired); "+
		"off, only Warnings (conflicts, refused writes). Each event is one more apiserver write: with thousands of workloads, off is faster.")
	flag.StringVar(&o.workloadKinds, "workload-kinds-config", "", "YAML file of the workload kinds to inject into beyond the built-in ones "+
		"(kinds: [{group, version, kind, resource, podTemplatePath, podSelectorPath, rollout}]); the Helm chart renders it from the value workloadKinds.")
	bindWebhookFlags(&o.webhook)
	zapOpts := zap.Options{Development: false}
	flag.StringVar(&o.admission, "admission", manager.AdmissionWebhook, "How new workloads get their sidecars: webhook (the mutating webhook), "+
		"policy (MutatingAdmissionPolicies the manager compiles from the profiles, run by the apiserver itself; Kubernetes 1.36 and later), "+
		"or auto (policy where the apiserver serves them, webhook elsewhere).")
	flag.Func("excluded-namespaces", "Namespaces, comma-separated, that Outrigger leaves alone as it does kube-system and its own: "+
		"no ClusterSidecarProfile reaches them, and no admission policy acts in them. List the same namespaces in the mutating "+
		"webhook's namespaceSelector; the Helm chart passes the value webhook.namespaceExclusions to both.",
		func(s string) error {
			names, err := parseNamespaces(s)
			o.excludedNamespaces = append(o.excludedNamespaces, names...)
			return err
		})
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	o.webhook.namespace = os.Getenv("POD_NAMESPACE")
	if o.workloadWorkers < 1 {
		fmt.Fprintf(os.Stderr, "outrigger: --workload-workers=%d: must be at least 1\n", o.workloadWorkers)
		os.Exit(2)
	}
	if err := o.webhook.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "outrigger:", err)
		os.Exit(2)
	}
	if err := run(o); err != nil {
		ctrl.Log.Error(err, "manager stopped")
		os.Exit(1)
	}
}

func bindWebhookFlags(w *webhookOptions) {
	flag.BoolVar(&w.enabled, "enable-webhooks", true, "Serve the admission webhooks, which inject workloads as they are created and check profiles.")
	flag.StringVar(&w.certMode, "webhook-cert-mode", certModeSelfManaged, "Where the webhook serving certificate comes from: "+
		"self-managed (Outrigger makes and rotates a CA and certificate in a Secret of its namespace and sets the webhook configurations' caBundle) "+
		"or external (files in --webhook-cert-dir, e.g. from cert-manager; the caBundle is someone else's job).")
	flag.StringVar(&w.certDir, "webhook-cert-dir", "/tmp/k8s-webhook-server/serving-certs", "Directory of the webhook server's tls.crt and tls.key.")
	flag.StringVar(&w.host, "webhook-host", "", "Address the webhook server listens on; empty for all interfaces.")
	flag.IntVar(&w.port, "webhook-port", 9443, "Port of the webhook server.")
	flag.StringVar(&w.secretName, "webhook-secret-name", "outrigger-webhook-server-cert", "Secret, in POD_NAMESPACE, of the self-managed CA and certificate.")
	flag.StringVar(&w.serviceName, "webhook-service-name", "outrigger-webhook-service", "Service, in POD_NAMESPACE, in front of the webhook server; the self-managed certificate is valid for its DNS names.")
	flag.Func("webhook-cert-extra-dns", "Further DNS names, comma-separated, for the self-managed certificate, e.g. localhost for a manager run outside the cluster (DNS names only: the certificate cannot carry IP addresses).",
		func(s string) error {
			for name := range strings.SplitSeq(s, ",") {
				w.extraDNSNames = append(w.extraDNSNames, strings.TrimSpace(name))
			}
			return nil
		})
	flag.StringVar(&w.mutatingName, "mutating-webhook-configuration", "outrigger-mutating-webhook-configuration", "MutatingWebhookConfiguration whose caBundle the self-managed mode keeps current.")
	flag.StringVar(&w.validatingName, "validating-webhook-configuration", "outrigger-validating-webhook-configuration", "ValidatingWebhookConfiguration whose caBundle the self-managed mode keeps current.")
}

// validate turns bad flag values into an error that names the flag and what it accepts.
func (w webhookOptions) validate() error {
	if !w.enabled {
		return nil
	}
	if w.certMode != certModeSelfManaged && w.certMode != certModeExternal {
		return fmt.Errorf("--webhook-cert-mode=%q: must be %s or %s", w.certMode, certModeSelfManaged, certModeExternal)
	}
	if w.port < 1 || w.port > 65535 {
		return fmt.Errorf("--webhook-port=%d: must be between 1 and 65535", w.port)
	}
	if w.certMode == certModeExternal {
		return nil
	}
	if w.namespace == "" {
		return errors.New("POD_NAMESPACE is not set: --webhook-cert-mode=self-managed keeps its certificates in a Secret " +
			"of the manager's namespace; set POD_NAMESPACE to it (the Deployment does, from the downward API), " +
			"or use --webhook-cert-mode=external or --enable-webhooks=false")
	}
	for _, name := range w.extraDNSNames {
		if name == "" || net.ParseIP(name) != nil {
			return fmt.Errorf("--webhook-cert-extra-dns: %q is not a DNS name (IP addresses are not supported; use e.g. localhost)", name)
		}
	}
	for _, f := range []struct{ flag, value string }{{"webhook-secret-name", w.secretName}, {"webhook-service-name", w.serviceName},
		{"mutating-webhook-configuration", w.mutatingName}, {"validating-webhook-configuration", w.validatingName}} {
		if f.value == "" {
			return fmt.Errorf("--%s must not be empty with --webhook-cert-mode=self-managed", f.flag)
		}
	}
	return nil
}

// parseNamespaces reads a comma-separated list of namespace names; the empty list is none. A name that cannot be
// a namespace's would exclude nothing, silently, so it is refused.
func parseNamespaces(list string) ([]string, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	var names []string
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
			return nil, fmt.Errorf("%q is not a namespace name (%s): list namespace names separated by commas, "+
				"e.g. --excluded-namespaces=monitoring,istio-system", name, strings.Join(errs, "; "))
		}
		names = append(names, name)
	}
	return names, nil
}

// selfManaged reports whether the manager serves webhooks with certificates of its own.
func (w webhookOptions) selfManaged() bool { return w.enabled && w.certMode == certModeSelfManaged }

func (w webhookOptions) certOptions() certs.Options {
	return certs.Options{
		Namespace: w.namespace, SecretName: w.secretName, ServiceName: w.serviceName, ExtraDNSNames: w.extraDNSNames,
		CertDir: w.certDir, MutatingWebhookConfiguration: w.mutatingName, ValidatingWebhookConfiguration: w.validatingName,
	}
}

func run(o options) error {
	ctx := ctrl.SetupSignalHandler()
	var kinds []kindconfig.Kind
	if o.workloadKinds != "" {
		var errs []error
		// A bad entry is logged, and the others are served: one team's typo must not stop injection for all.
		kinds, errs = kindconfig.Load(o.workloadKinds, workload.All)
		for _, err := range errs {
			ctrl.Log.Error(err, "not serving a configured workload kind")
		}
		for _, k := range kinds {
			ctrl.Log.Info("configured workload kind", "kind", k.GVK.String(), "entry", k.Entry)
		}
	}
	mgr, err := manager.New(ctx, ctrl.GetConfigOrDie(), manager.Options{
		WorkloadKinds: kinds,
		MetricsAddr:   o.metricsAddr, ProbeAddr: o.probeAddr,
		LeaderElect: o.leaderElect, LeaderElectionNamespace: o.leaderElectionNS,
		SecureMetrics: o.secureMetrics, EnableHTTP2: o.enableHTTP2, PprofAddr: o.pprofAddr, WorkloadWorkers: o.workloadWorkers,
		NormalEvents: o.normalEvents, Admission: o.admission, ValidatingWebhookConfiguration: o.webhook.validatingName,
		ExcludedNamespaces: o.excludedNamespaces,
		Webhook: manager.WebhookOptions{
			Enabled: o.webhook.enabled, SelfManaged: o.webhook.selfManaged(),
			Host: o.webhook.host, Port: o.webhook.port, Certs: o.webhook.certOptions(),
		},
	})
	if err != nil {
		return err
	}
	ctrl.Log.Info("starting Outrigger")
	return mgr.Start(ctx)
}
