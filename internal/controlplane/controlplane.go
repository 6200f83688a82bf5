// Package controlplane starts what Outrigger's demo, benchmarks and fault tests run against: a local
// kube-apiserver and etcd (controller-runtime's envtest) with Outrigger's CRDs and webhook configurations, and
// bin/manager as a separate process, which can be stopped, killed with SIGKILL, restarted and scraped for its
// metrics.
package controlplane

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// Paths relative to the repository root.
const (
	defaultAssets    = "bin/k8s/v1.37.1" // what `make envtest-binaries` builds; KUBEBUILDER_ASSETS overrides it
	crdDir           = "config/crd/bases"
	webhookManifests = "config/webhook/manifests.yaml"
)

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
	dir := cmp.Or(os.Getenv("KUBEBUILDER_ASSETS"), filepath.Join(root, defaultAssets))
	for _, bin := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return "", fmt.Errorf("%s not found: run `make envtest-binaries` to build kube-apiserver, etcd and kubectl",
				filepath.Join(dir, bin))
		}
	}
	return dir, nil
}

// Start starts kube-apiserver and etcd with Outrigger's CRDs and its webhook configurations as shipped, which
// envtest points at a local port with a serving certificate of its own (WebhookInstallOptions), for a manager
// started with ManagerOptions.Webhook. apiserverFlags are added to the apiserver's command line.
func Start(root string, apiserverFlags ...string) (*Env, error) {
	assets, err := Assets(root)
	if err != nil {
		return nil, err
	}
	// envtest logs through controller-runtime's logger; without one it complains after 30s. Its errors are
	// returned anyway.
	ctrllog.SetLogger(logr.Discard())
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(root, crdDir)},
		ErrorIfCRDPathMissing: true,
		WebhookInstallOptions: envtest.WebhookInstallOptions{Paths: []string{filepath.Join(root, webhookManifests)}},
	}
	for i := 0; i+1 < len(apiserverFlags); i += 2 {
		env.ControlPlane.GetAPIServer().Configure().Append(apiserverFlags[i], apiserverFlags[i+1])
	}
	if _, err := env.Start(); err != nil {
		// Start can fail after etcd and the apiserver are up (installing the CRDs): stop what did start.
		_ = env.Stop()
		return nil, fmt.Errorf("starting the control plane: %w", err)
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

// AdminConfig returns a client configuration of a system:masters user.
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
