package workload

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	registry "github.com/outrigger-dev/outrigger/internal/workload"
)

// A kind read as unstructured objects is patched with a JSON patch that carries the resourceVersion the engine
// read: a workload changed since is refused with a conflict (and reconciled again), never overwritten.
func TestPatch_UnstructuredKindIsGuardedByTheResourceVersionItWasReadAt(t *testing.T) {
	for _, tc := range []struct {
		name     string
		changed  bool // another writer changed the Rollout after the engine read it
		conflict bool
	}{
		{"unchanged since read", false, false},
		{"changed since read", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			stored := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
				"metadata": map[string]any{"namespace": "shop", "name": "web"},
				"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
					"containers": []any{map[string]any{"name": "app", "image": "app:1"}},
				}}},
			}}
			c := fake.NewClientBuilder().WithScheme(runtime.NewScheme()).WithObjects(stored).Build()
			read := stored.DeepCopy()
			if err := c.Get(ctx, client.ObjectKeyFromObject(read), read); err != nil {
				t.Fatal(err)
			}
			if tc.changed {
				other := read.DeepCopy()
				other.SetLabels(map[string]string{"edited": "by-someone-else"})
				if err := c.Update(ctx, other); err != nil {
					t.Fatal(err)
				}
			}
			before, err := registry.ArgoRollout.PodTemplate(read)
			if err != nil {
				t.Fatal(err)
			}
			after := before.DeepCopy()
			after.Spec.InitContainers = []corev1.Container{{Name: "proxy", Image: "proxy:1", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}}

			r := &Reconciler{Client: c, Kind: registry.ArgoRollout}
			err = r.patch(ctx, read, before, after)
			if got := apierrors.IsConflict(err); got != tc.conflict {
				t.Fatalf("patch: %v, want a conflict: %v", err, tc.conflict)
			}
			got := &unstructured.Unstructured{}
			got.SetGroupVersionKind(registry.ArgoRollout.GVK)
			if err := c.Get(ctx, client.ObjectKeyFromObject(read), got); err != nil {
				t.Fatal(err)
			}
			inits, _, _ := unstructured.NestedSlice(got.Object, "spec", "template", "spec", "initContainers")
			if injected := len(inits) == 1; injected == tc.conflict {
				t.Errorf("stored initContainers %v after the patch (conflict %v)", inits, tc.conflict)
			}
		})
	}
}
