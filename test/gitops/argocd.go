package gitops

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"

	"github.com/argoproj/gitops-engine/pkg/diff"
	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	"github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/discovery"
	"k8s.io/kube-openapi/pkg/util/proto"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// argoCD calls gitops-engine's diff as Argo CD's application controller does: with a GVK parser built from the
// cluster's OpenAPI schema, Argo CD's field manager, and a server-side dry-run apply for server-side diff.
type argoCD struct {
	gvkParser *managedfields.GvkParser
}

// argoCD builds the GVK parser from the cluster's OpenAPI schema, once it has the schemas of the kinds given
// (the apiserver publishes a CRD's schema a moment after it serves the CRD).
func (c *Cluster) argoCD(t *testing.T, kinds ...schema.GroupVersionKind) *argoCD {
	t.Helper()
	disco, err := discovery.NewDiscoveryClientForConfig(c.Env.Config)
	if err != nil {
		t.Fatal(err)
	}
	var parser *managedfields.GvkParser
	gomega.NewWithT(t).Eventually(func(g gomega.Gomega) {
		doc, err := disco.OpenAPISchema()
		g.Expect(err).NotTo(gomega.HaveOccurred())
		models, err := proto.NewOpenAPIData(doc)
		g.Expect(err).NotTo(gomega.HaveOccurred())
		parser, err = managedfields.NewGVKParser(models, false)
		g.Expect(err).NotTo(gomega.HaveOccurred(), "building the GVK parser as Argo CD does")
		for _, gvk := range kinds {
			g.Expect(parser.Type(gvk)).NotTo(gomega.BeNil(), "the apiserver publishes no OpenAPI schema for %s yet", gvk)
		}
	}, timeout, "500ms").Should(gomega.Succeed())
	return &argoCD{gvkParser: parser}
}

// kubectlDryRunner is Argo CD's server-side diff dry run: Argo CD runs kubectl's apply code in-process with
// server-side apply, server dry-run, force-conflicts, its field manager, and JSON output with managed fields
// (gitops-engine's pkg/utils/kube, which does not build against k8s.io/kubectl v0.37); here the real kubectl
// binary runs with the same options.
type kubectlDryRunner struct{ k *kubectlCLI }

func (r kubectlDryRunner) Run(_ context.Context, obj *unstructured.Unstructured, manager string) (string, error) {
	manifest, err := json.Marshal(obj)
	if err != nil {
		return "", err
	}
	return r.k.exec(string(manifest), "apply", "--server-side", "--dry-run=server", "--force-conflicts",
		"--field-manager="+manager, "--show-managed-fields", "-o", "json", "-f", "-")
}

// argoDiffMode is one of Argo CD's diff strategies, with the Application settings that select it.
type argoDiffMode struct {
	name     string
	settings string // what selects it, for the failure message
	opts     func(dryRun diff.ServerSideDryRunner) []diff.Option
}

var (
	legacyDiff = argoDiffMode{"legacy three-way diff (the default)", "no setting", func(diff.ServerSideDryRunner) []diff.Option { return nil }}
	// Argo CD switches to the structured-merge diff when the Application syncs with ServerSideApply=true.
	structuredMergeDiff = argoDiffMode{"structured-merge diff", "syncOptions: [ServerSideApply=true]", func(diff.ServerSideDryRunner) []diff.Option {
		return []diff.Option{diff.WithStructuredMergeDiff(true)}
	}}
	serverSideDiff = argoDiffMode{"server-side diff", "argocd.argoproj.io/compare-options: ServerSideDiff=true", func(dryRun diff.ServerSideDryRunner) []diff.Option {
		return []diff.Option{diff.WithServerSideDiff(true), diff.WithServerSideDryRunner(dryRun)}
	}}
	serverSideDiffWithWebhooks = argoDiffMode{"server-side diff including mutation webhooks",
		"argocd.argoproj.io/compare-options: ServerSideDiff=true,IncludeMutationWebhook=true", func(dryRun diff.ServerSideDryRunner) []diff.Option {
			return []diff.Option{diff.WithServerSideDiff(true), diff.WithServerSideDryRunner(dryRun), diff.WithIgnoreMutationWebhook(false)}
		}}
)

// diff compares the Git manifest with the live object as Argo CD does, and returns whether it finds them out of
// sync, with the difference. Server-side diff's dry runs go through k.
func (a *argoCD) diff(t *testing.T, k *kubectlCLI, ns, manifest string, live *unstructured.Unstructured, mode argoDiffMode) (bool, string) {
	t.Helper()
	config := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(manifest), &config.Object); err != nil {
		t.Fatal(err)
	}
	config.SetNamespace(ns) // Argo CD sets the Application's destination namespace
	opts := append([]diff.Option{
		diff.WithGVKParser(a.gvkParser), diff.WithManager(argoManager), diff.WithLogr(logr.Discard()),
		diff.WithNormalizer(diff.GetNoopNormalizer()), // no ignoreDifferences
	}, mode.opts(kubectlDryRunner{k})...)
	res, err := diff.Diff(config, live.DeepCopy(), opts...)
	if err != nil {
		t.Fatalf("%s: %v", mode.name, err)
	}
	if !res.Modified {
		return false, ""
	}
	var pred, norm map[string]any
	_ = json.Unmarshal(res.PredictedLive, &pred)
	_ = json.Unmarshal(res.NormalizedLive, &norm)
	return true, cmp.Diff(norm, pred)
}

// settled reads a workload once its status reports the current generation (envsuite.FinishRollouts plays its
// controller; a Rollout's status.observedGeneration is a string): the dry run of a server-side diff must not read
// a newer status than the live object.
func (c *Cluster) settled(g gomega.Gomega, ns string, w gitWorkload) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(w.kind.GVK)
	g.Eventually(func(g gomega.Gomega) {
		g.Expect(c.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: w.name}, u)).To(gomega.Succeed())
		observed, _, _ := unstructured.NestedFieldNoCopy(u.Object, "status", "observedGeneration")
		g.Expect(fmt.Sprint(observed)).To(gomega.Equal(strconv.FormatInt(u.GetGeneration(), 10)))
	}, timeout, interval).Should(gomega.Succeed())
	return u
}
