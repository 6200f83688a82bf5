package controlplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The namespace and ServiceAccount config/default installs the manager as.
const (
	ManagerNamespace      = "outrigger-system"
	ManagerServiceAccount = "outrigger-controller-manager"
)

// rbacKinds are what InstallManagerRBAC takes from config/default: who the manager is and what it may do.
var rbacKinds = []string{"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}

// InstallManagerRBAC creates the manager's namespace, ServiceAccount, roles and bindings exactly as config/default
// renders them (kubectl kustomize), so that a manager run with ManagerConfig has the rights a cluster gives it,
// no more.
func (e *Env) InstallManagerRBAC(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, e.Kubectl(), "kustomize", "config/default")
	cmd.Dir = e.Root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("kubectl kustomize config/default: %w: %s", err, stderr.String())
	}
	c, err := client.New(e.Config, client.Options{})
	if err != nil {
		return err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("reading config/default: %w", err)
		}
		if !slices.Contains(rbacKinds, u.GetKind()) {
			continue
		}
		if err := client.IgnoreAlreadyExists(c.Create(ctx, &u)); err != nil {
			return fmt.Errorf("creating %s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
}

// ManagerConfig is the control plane's admin configuration impersonating the manager's ServiceAccount: with
// InstallManagerRBAC, the manager runs with the rights config/default grants it, and the webhook's
// matchConditions see its writes as the manager's own.
func (e *Env) ManagerConfig() *rest.Config {
	cfg := rest.CopyConfig(e.Config)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + ManagerNamespace + ":" + ManagerServiceAccount,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + ManagerNamespace, "system:authenticated"},
	}
	return cfg
}
