// Package admission checks that Outrigger's two admission paths agree: a workload created through the
// MutatingAdmissionPolicies that internal/admission/policy compiles is stored exactly as the engine's own
// injection of it, on a real kube-apiserver and etcd (internal/controlplane). Missing binaries fail the suite.
package admission

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/controlplane"
	"github.com/outrigger-dev/outrigger/internal/kindconfig"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

var (
	env    *controlplane.Env
	k8s    client.Client
	scheme = runtime.NewScheme()
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
	root, err := controlplane.Root()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	if env, err = controlplane.Start(root, controlplane.Options{CRDs: true}); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\nBuild the binaries with `make envtest-binaries` (make test does it for you).\n", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	if k8s, err = env.Client(scheme); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	if err := installKindsOutsideTheScheme(root); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	if err := ensure(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: referenceNamespace}}); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	return m.Run()
}

func ensure(obj client.Object) error { return k8s.Create(context.Background(), obj) }

// installKindsOutsideTheScheme installs the CRDs of Argo Rollouts and of the configured test kinds, Widget (its
// template at spec.runner.podTemplate) and Lambda (at spec.function.template, under a CEL reserved word), and adds
// them to the kinds the policies are compiled for.
func installKindsOutsideTheScheme(root string) error {
	rollouts, err := controlplane.ArgoRolloutCRD(root)
	if err != nil {
		return err
	}
	dir := filepath.Join(root, "test", "testdata", "kinds")
	for _, configured := range []struct{ config, kind string }{{"workload-kinds.yaml", "Widget"}, {"lambda-kinds.yaml", "Lambda"}} {
		kinds, errs := kindconfig.Load(filepath.Join(dir, configured.config), workload.All)
		if len(errs) > 0 {
			return fmt.Errorf("the configured kinds: %v", errs)
		}
		for _, k := range kinds {
			if string(k.Name) == configured.kind {
				served = append(served, k.Kind)
			}
		}
	}
	served = append(served, workload.ArgoRollout)
	_, err = envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{ErrorIfPathMissing: true,
		Paths: []string{rollouts, filepath.Join(dir, "widgets-crd.yaml"), filepath.Join(dir, "lambdas-crd.yaml")}})
	return err
}
