package gitops

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

const (
	fluxManager = "kustomize-controller"
	argoManager = "argocd-controller" // Argo CD's field manager for server-side apply and server-side diff
)

// kubectlCLI is the real kubectl, built with the apiserver (bin/k8s/<version>/kubectl), pointed at the envtest
// apiserver as a member of system:masters.
type kubectlCLI struct {
	t                    *testing.T
	c                    *Cluster
	bin, kubeconfig, dir string
}

func (c *Cluster) kubectl(t *testing.T) *kubectlCLI {
	t.Helper()
	bin, err := filepath.Abs(c.Env.Kubectl())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the real kubectl is needed (`make envtest-binaries` builds it): %v", err)
	}
	user, err := c.Env.AddUser(envtest.User{Name: "gitops-tester", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatalf("adding a kubectl user: %v", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	return &kubectlCLI{t: t, c: c, bin: bin, kubeconfig: path, dir: dir}
}

// exec runs kubectl with a manifest on stdin, and returns its stdout, logging what it printed.
func (k *kubectlCLI) exec(stdin string, args ...string) (string, error) {
	cmd := exec.Command(k.bin, append([]string{"--kubeconfig", k.kubeconfig, "--cache-dir", filepath.Join(k.dir, "cache")}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	printed := strings.TrimSpace(stdout.String() + "\n" + stderr.String())
	if err != nil {
		return "", fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, printed)
	}
	if len(printed) > 300 {
		printed = printed[:300] + "..."
	}
	k.t.Logf("kubectl %s: %s", strings.Join(args, " "), printed)
	return stdout.String(), nil
}

// run is exec that fails the test when kubectl fails.
func (k *kubectlCLI) run(stdin string, args ...string) string {
	k.t.Helper()
	out, err := k.exec(stdin, args...)
	if err != nil {
		k.t.Fatal(err)
	}
	return out
}

// fluxApply applies a manifest as Flux's kustomize-controller does: server-side, as kustomize-controller.
func (k *kubectlCLI) fluxApply(ns, manifest string, forceConflicts bool) string {
	args := []string{"apply", "--server-side", "--field-manager=" + fluxManager, "-n", ns, "-f", "-"}
	if forceConflicts {
		args = append(args, "--force-conflicts")
	}
	return k.run(manifest, args...)
}

// fluxDrifted answers as kustomize-controller's drift detection does before it applies: a server-side dry-run
// apply of the manifest, compared with the live object on the spec, and on the labels and annotations the
// manifest sets. No drift: Flux reports the object unchanged and sends nothing.
func (k *kubectlCLI) fluxDrifted(g gomega.Gomega, ns, manifest string, w gitWorkload) bool {
	out := k.run(manifest, "apply", "--server-side", "--dry-run=server", "--force-conflicts", "--field-manager="+fluxManager,
		"-o", "json", "-n", ns, "-f", "-")
	dryRun := &unstructured.Unstructured{}
	g.Expect(dryRun.UnmarshalJSON([]byte(out))).To(gomega.Succeed())
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(dryRun.GroupVersionKind())
	g.Expect(k.c.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: w.name}, live)).To(gomega.Succeed())
	return !equality.Semantic.DeepDerivative(dryRun.GetLabels(), live.GetLabels()) ||
		!equality.Semantic.DeepDerivative(dryRun.GetAnnotations(), live.GetAnnotations()) ||
		!equality.Semantic.DeepEqual(dryRun.Object["spec"], live.Object["spec"])
}

// replace writes the whole object from the manifest, as `kubectl replace` and Argo CD's Replace=true do. kubectl
// sends the resourceVersion it just read, so a status update in between (envsuite.FinishRollouts) is a conflict:
// it is tried again, as Argo CD's next sync would.
func (k *kubectlCLI) replace(g gomega.Gomega, ns, manifest string) {
	g.Eventually(func() error {
		_, err := k.exec(manifest, "replace", "-n", ns, "-f", "-")
		if err != nil && !strings.Contains(err.Error(), "Conflict") {
			k.t.Fatal(err)
		}
		return err
	}, timeout, interval).Should(gomega.Succeed())
}

// argoClientSideApply applies a manifest as Argo CD does by default: client-side, recording the
// last-applied-configuration annotation.
func (k *kubectlCLI) argoClientSideApply(ns, manifest string) string {
	return k.run(manifest, "apply", "-n", ns, "-f", "-")
}
