package install_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// namespaceExclusionsComponent is the kustomize counterpart of the chart's value webhook.namespaceExclusions.
const namespaceExclusionsComponent = "config/components/namespace-exclusions"

// TestNamespaceExclusionsAgree: each way of installing Outrigger leaves the same namespaces alone in the manager
// (kube-system, its own namespace and --excluded-namespaces: the reconcilers, the status, the admission policies)
// as in the mutating webhook's namespaceSelector, where there is one; otherwise the reconciler would inject a
// workload the webhook skipped, or a policy one the webhook would skip.
func TestNamespaceExclusionsAgree(t *testing.T) {
	exclude := func(values map[string]any, names ...any) map[string]any {
		out := map[string]any{"webhook": map[string]any{"namespaceExclusions": names}}
		maps.Copy(out, values)
		return out
	}
	for _, tc := range []struct {
		name   string
		render func(*testing.T) []*unstructured.Unstructured
		want   []string
	}{
		{"helm default values", func(t *testing.T) []*unstructured.Unstructured { return helmTemplate(t, nil) },
			[]string{"kube-system", "outrigger-system"}},
		{"helm namespaceExclusions", func(t *testing.T) []*unstructured.Unstructured {
			return helmTemplate(t, exclude(nil, "kube-system", "monitoring"))
		}, []string{"kube-system", "monitoring", "outrigger-system"}},
		{"helm namespaceExclusions without kube-system", func(t *testing.T) []*unstructured.Unstructured {
			return helmTemplate(t, exclude(nil, "monitoring", "outrigger-system"))
		}, []string{"kube-system", "monitoring", "outrigger-system"}},
		{"helm namespaceExclusions, admission=policy", func(t *testing.T) []*unstructured.Unstructured {
			return helmTemplate(t, exclude(map[string]any{"admission": "policy"}, "kube-system", "monitoring"))
		}, []string{"kube-system", "monitoring", "outrigger-system"}},
		{"kustomize config-default", func(t *testing.T) []*unstructured.Unstructured { return kustomizeBuild(t, "config/default") },
			[]string{"kube-system", "outrigger-system"}},
		{"kustomize config-default with the namespace-exclusions component", func(t *testing.T) []*unstructured.Unstructured {
			return kustomizeOverlay(t, "config/default", namespaceExclusionsComponent)
		}, []string{"kube-system", "monitoring", "outrigger-system"}},
		{"kustomize config-cert-manager with the namespace-exclusions component", func(t *testing.T) []*unstructured.Unstructured {
			return kustomizeOverlay(t, "config/cert-manager", namespaceExclusionsComponent)
		}, []string{"kube-system", "monitoring", "outrigger-system"}},
		{"kustomize config-default with the namespace-exclusions and admission-policy components", func(t *testing.T) []*unstructured.Unstructured {
			return kustomizeOverlay(t, "config/default", namespaceExclusionsComponent, admissionPolicyComponent)
		}, []string{"kube-system", "monitoring", "outrigger-system"}},
		{"kustomize config-default with the admission-policy and namespace-exclusions components", func(t *testing.T) []*unstructured.Unstructured {
			return kustomizeOverlay(t, "config/default", admissionPolicyComponent, namespaceExclusionsComponent)
		}, []string{"kube-system", "monitoring", "outrigger-system"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := tc.render(t)
			if got := managerExclusions(t, objs); !slices.Equal(got, tc.want) {
				t.Errorf("the manager leaves %v alone, want %v", got, tc.want)
			}
			got, ok := webhookExclusions(t, objs)
			if ok && !slices.Equal(got, tc.want) {
				t.Errorf("the mutating webhook's namespaceSelector leaves %v out, want %v, as the manager", got, tc.want)
			}
		})
	}
	err := renderError(map[string]any{"webhook": map[string]any{"namespaceExclusions": []any{"team=a"}}})
	if err == nil || !strings.Contains(err.Error(), `webhook.namespaceExclusions: "team=a" is not a namespace name`) {
		t.Errorf("a namespace exclusion that is no namespace's name renders, or says something else: %v", err)
	}
}

// managerExclusions are the namespaces the manager leaves alone, sorted: kube-system, its own (POD_NAMESPACE, the
// Deployment's namespace) and those of every --excluded-namespaces.
func managerExclusions(t *testing.T, objs []*unstructured.Unstructured) []string {
	t.Helper()
	var dep *unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "Deployment" {
			dep = o
		}
	}
	if dep == nil {
		t.Fatal("no Deployment rendered")
	}
	names := []string{"kube-system", dep.GetNamespace()}
	args, _, _ := unstructured.NestedStringSlice(container(t, dep), "args")
	for _, a := range args {
		if list, ok := strings.CutPrefix(a, "--excluded-namespaces="); ok {
			names = append(names, strings.Split(list, ",")...)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// webhookExclusions are the namespaces the mutating webhook's namespaceSelector leaves out, sorted; false when
// no mutating webhook is installed (policy mode).
func webhookExclusions(t *testing.T, objs []*unstructured.Unstructured) ([]string, bool) {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() != "MutatingWebhookConfiguration" {
			continue
		}
		webhooks, _, _ := unstructured.NestedSlice(o.Object, "webhooks")
		if len(webhooks) != 1 {
			t.Fatalf("%s: %d webhooks, want 1", o.GetName(), len(webhooks))
		}
		exprs, _, _ := unstructured.NestedSlice(webhooks[0].(map[string]any), "namespaceSelector", "matchExpressions")
		var names []string
		for _, e := range exprs {
			expr := e.(map[string]any)
			if expr["key"] != "kubernetes.io/metadata.name" || expr["operator"] != "NotIn" {
				t.Fatalf("%s: namespaceSelector expression %v, want only kubernetes.io/metadata.name NotIn", o.GetName(), expr)
			}
			values, _, _ := unstructured.NestedStringSlice(expr, "values")
			names = append(names, values...)
		}
		slices.Sort(names)
		return names, true
	}
	return nil, false
}
