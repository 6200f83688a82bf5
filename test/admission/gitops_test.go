package admission

import (
	"context"
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/internal/selection"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// A GitOps tool applies the bare manifest server-side, again and again, and diffs with a server-side dry-run.
// Through the policies, as through the webhook: created with the sidecars, a re-apply keeps them and the
// generation, and the dry-run shows them, so the diff is in sync.
func TestPolicies_GitOpsReapplyKeepsSidecarsAndGeneration(t *testing.T) {
	ns := "gitops"
	ensureNamespace(t, ns, nil)
	runs.Add(1)
	applyPolicies(t, []selection.Profile{local(ns, "logs", sidecars("shipper"), volumes("logs"), mounts("logs", "/var/log/app"))}, 2000)
	t.Cleanup(func() { deletePolicies(t) })
	bare := deployment(ns)
	bare.SetName(fmt.Sprintf("argo-%d", runs.Load()))
	waitForProbe(t, workload.Deployment, bare, 2000, "shipper")

	t.Run("replace with the bare manifest", func(t *testing.T) {
		// kubectl replace, or a client-side apply that drops the injection: an update without the record.
		obj := bare.DeepCopyObject().(client.Object)
		obj.SetName(bare.GetName() + "-replace")
		if err := k8s.Create(context.Background(), obj); err != nil {
			t.Fatal(err)
		}
		replaced := bare.DeepCopyObject().(client.Object)
		replaced.SetName(obj.GetName())
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			current := bare.DeepCopyObject().(client.Object)
			if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), current); err != nil {
				return err
			}
			replaced.SetResourceVersion(current.GetResourceVersion())
			return k8s.Update(context.Background(), replaced)
		})
		if err != nil {
			t.Fatal(err)
		}
		u := toUnstructured(t, replaced)
		if got := initContainers(t, u); len(got) != 1 || u.GetGeneration() != 1 {
			t.Errorf("after a replace with the bare manifest: init containers %v, generation %d; want the sidecar back, generation 1", got, u.GetGeneration())
		}
	})
	for _, manager := range []string{"argocd-controller", "kustomize-controller"} {
		t.Run(manager, func(t *testing.T) {
			obj := bare.DeepCopyObject().(client.Object)
			obj.SetName(bare.GetName() + "-" + manager)
			for i := range 3 {
				applied := apply(t, obj, manager, false)
				if got := initContainers(t, applied); len(got) != 1 || got[0] != "shipper" {
					t.Fatalf("apply %d: init containers %v, want [shipper]", i+1, got)
				}
				if applied.GetGeneration() != 1 {
					t.Errorf("apply %d: generation %d, want 1 (a re-apply of the same manifest must not roll out)", i+1, applied.GetGeneration())
				}
			}
			dry := apply(t, obj, manager, true)
			if got := initContainers(t, dry); len(got) != 1 {
				t.Errorf("a server-side dry-run apply shows init containers %v: a diff would report the sidecars missing", got)
			}
		})
	}
}

// apply applies obj server-side as the field manager, as Flux and Argo CD do, and returns what the apiserver
// answered.
func apply(t *testing.T, obj client.Object, manager string, dryRun bool) *unstructured.Unstructured {
	t.Helper()
	u := toUnstructured(t, obj)
	u.SetAPIVersion("apps/v1")
	u.SetKind("Deployment")
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "status")
	opts := []client.ApplyOption{client.FieldOwner(manager), client.ForceOwnership}
	if dryRun {
		opts = append(opts, client.DryRunAll)
	}
	// The answer (the object as stored, or as it would be on a dry-run) is written back into u.
	if err := k8s.Apply(context.Background(), client.ApplyConfigurationFromUnstructured(u), opts...); err != nil {
		t.Fatalf("server-side apply as %s: %v", manager, err)
	}
	return u
}

func toUnstructured(t *testing.T, obj client.Object) *unstructured.Unstructured {
	t.Helper()
	raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: raw}
}

func initContainers(t *testing.T, u *unstructured.Unstructured) []string {
	t.Helper()
	cs, _, err := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "initContainers")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cs {
		names = append(names, c.(map[string]any)["name"].(string))
	}
	return names
}
