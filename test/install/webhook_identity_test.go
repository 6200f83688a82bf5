package install_test

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The mutating webhook skips the manager's own writes by its username: the condition must name the very
// ServiceAccount, in the very namespace, that the rendered Deployment runs as, or the reconciler's repairs wait
// on the webhook again (kustomize's config/default, and a Helm release of another name).
func TestMutatingWebhookSkipsTheManagersOwnWrites(t *testing.T) {
	for name, objs := range map[string][]*unstructured.Unstructured{
		"kustomize config/default":        kustomizeBuild(t, "config/default"),
		"helm release platform-injection": helmTemplateAs(t, "platform-injection", nil),
	} {
		t.Run(name, func(t *testing.T) {
			var dep, mutating *unstructured.Unstructured
			for _, o := range objs {
				switch o.GetKind() {
				case "Deployment":
					dep = o
				case "MutatingWebhookConfiguration":
					mutating = o
				}
			}
			if dep == nil || mutating == nil {
				t.Fatal("no Deployment or no MutatingWebhookConfiguration rendered")
			}
			sa, _, _ := unstructured.NestedString(dep.Object, "spec", "template", "spec", "serviceAccountName")
			want := "system:serviceaccount:" + dep.GetNamespace() + ":" + sa
			webhooks, _, _ := unstructured.NestedSlice(mutating.Object, "webhooks")
			conditions, _, _ := unstructured.NestedSlice(webhooks[0].(map[string]any), "matchConditions")
			var found bool
			for _, c := range conditions {
				expr, _ := c.(map[string]any)["expression"].(string)
				found = found || strings.Contains(expr, "'"+want+"'")
			}
			if !found {
				t.Errorf("no matchCondition of the mutating webhook names %s: %v", want, conditions)
			}
		})
	}
}
