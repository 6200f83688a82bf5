// Package controlplane is the one way Outrigger's tests, benchmarks and demo start a control plane: a local
// kube-apiserver and etcd (controller-runtime's envtest) of KubernetesVersion, with what Options ask for of
// Outrigger's CRDs and webhook configurations; and Outrigger's manager on it, either bin/manager as a separate
// process (StartManager: it can be stopped, killed with SIGKILL, restarted and scraped for its metrics) or
// internal/manager in the calling process (StartInProcessManager).
package controlplane

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// Paths relative to the repository root.
const (
	crdDir           = "config/crd/bases"
	webhookManifests = "config/webhook/manifests.yaml"
)

// DefaultAssets is where `make envtest-binaries` builds kube-apiserver, etcd and kubectl of KubernetesVersion,
// relative to the repository root; KUBEBUILDER_ASSETS overrides it.
var DefaultAssets = filepath.Join("bin", "k8s", KubernetesVersion)

// Env is a running control plane.
type Env struct {
	*envtest.Environment
	// Root is the repository root the paths are relative to.
	Root string
	// Assets is the directory of kube-apiserver, etcd and kubectl.
	Assets string
}

// Root finds the repository root (the directory of go.mod) from the working directory up, so that tests in any
// package and commands run from the root find the same files.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory: run from inside the repository")
		}
		dir = parent
	}
}

// Assets is the directory of the Kubernetes binaries: KUBEBUILDER_ASSETS, or what `make envtest-binaries` builds.
// It fails, saying how to build them, when they are not there.
func Assets(root string) (string, error) {
	dir := cmp.Or(os.Getenv("KUBEBUILDER_ASSETS"), filepath.Join(root, DefaultAssets))
	for _, bin := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return "", fmt.Errorf("%s not found: run `make envtest-binaries` to build kube-apiserver, etcd and kubectl",
				filepath.Join(dir, bin))
		}
	}
	return dir, nil
}

// Options say what Start installs on the control plane and how it runs the apiserver. The zero Options are a
// bare apiserver, as a cluster with nothing installed.
type Options struct {
	// CRDs installs Outrigger's CRDs (config/crd/bases) and waits until they are served.
	CRDs bool
	// Webhooks installs Outrigger's webhook configurations as shipped (config/webhook/manifests.yaml), which
	// envtest points at a local port with a serving certificate of its own that the apiserver trusts: give
	// env.WebhookInstallOptions to StartManager, or WebhookServing to a webhook server. The profiles' validating
	// webhook fails closed, so nothing can write a profile until that server serves.
	Webhooks bool
	// APIServerFlags are added to kube-apiserver's command line: flag name (without the dashes) to value.
	APIServerFlags map[string]string
	// Logger becomes controller-runtime's logger, which envtest (and an in-process manager) log through. The zero
	// Logger discards, and keeps controller-runtime from complaining after 30 s that none was set.
	Logger logr.Logger
}

// Start starts kube-apiserver and etcd from Assets(root), with what o asks for. Missing binaries are an error,
// never a reason to skip.
func Start(root string, o Options) (*Env, error) {
	assets, err := Assets(root)
	if err != nil {
		return nil, err
	}
	logger := o.Logger
	if logger.GetSink() == nil {
		logger = logr.Discard()
	}
	ctrllog.SetLogger(logger)
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	if o.CRDs {
		env.CRDDirectoryPaths = []string{filepath.Join(root, crdDir)}
		env.ErrorIfCRDPathMissing = true
	}
	if o.Webhooks {
		env.WebhookInstallOptions = envtest.WebhookInstallOptions{Paths: []string{filepath.Join(root, webhookManifests)}}
	}
	for name, value := range o.APIServerFlags {
		env.ControlPlane.GetAPIServer().Configure().Append(name, value)
	}
	if _, err := env.Start(); err != nil {
		// Start can fail after etcd and the apiserver are up (installing the CRDs): stop what did start.
		_ = env.Stop()
		return nil, fmt.Errorf("starting the control plane from %s: %w", assets, err)
	}
	return &Env{Environment: env, Root: root, Assets: assets}, nil
}

// Stop stops the apiserver and etcd.
func (e *Env) Stop() error {
	if err := e.Environment.Stop(); err != nil {
		return fmt.Errorf("stopping the control plane: %w", err)
	}
	return nil
}

// Kubectl is the path of the kubectl binary of KubernetesVersion.
func (e *Env) Kubectl() string { return filepath.Join(e.Assets, "kubectl") }

// WebhookServing is where the webhook configurations Start installed (Options.Webhooks) point: the host and port
// a webhook server must listen on, and the directory of the serving certificate and key (tls.crt, tls.key) the
// apiserver trusts. All zero without Options.Webhooks.
func (e *Env) WebhookServing() (host string, port int, certDir string) {
	w := e.WebhookInstallOptions
	return w.LocalServingHost, w.LocalServingPort, w.LocalServingCertDir
}

// Client returns a client of the apiserver with envtest's admin configuration (e.Config, a system:masters
// user), reading straight from the apiserver: no cache.
func (e *Env) Client(scheme *runtime.Scheme) (client.Client, error) {
	c, err := client.New(e.Config, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("a client of the control plane: %w", err)
	}
	return c, nil
}

// AdminConfig returns a client configuration of a new system:masters user called name.
func (e *Env) AdminConfig(name string) (*rest.Config, error) {
	user, err := e.AddUser(envtest.User{Name: name, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, fmt.Errorf("creating the %s user: %w", name, err)
	}
	return user.Config(), nil
}

// WriteAdminKubeconfig writes a kubeconfig of a system:masters user to path (0600: it holds a client key).
func (e *Env) WriteAdminKubeconfig(name, path string) error {
	user, err := e.AddUser(envtest.User{Name: name, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("creating the %s user: %w", name, err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		return fmt.Errorf("creating the kubeconfig: %w", err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("writing the kubeconfig: %w", err)
	}
	return nil
}
