package install_test

import (
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// admissionPolicyComponent is the kustomize counterpart of the chart's value admission: policy.
const admissionPolicyComponent = "config/components/admission-policy"

// TestAdmissionModes: each way of installing Outrigger in each admission mode gives the manager that mode and
// installs the mutating webhook exactly when the mode is webhook (in policy mode it would only cost a call).
func TestAdmissionModes(t *testing.T) {
	policyServed := common.DefaultCapabilities.Copy()
	policyServed.APIVersions = append(policyServed.APIVersions, "admissionregistration.k8s.io/v1/MutatingAdmissionPolicy")
	for _, tc := range []struct {
		name   string
		render func(*testing.T) []*unstructured.Unstructured
		want   string
	}{
		{"helm default values", func(t *testing.T) []*unstructured.Unstructured { return helmTemplate(t, nil) }, "webhook"},
		{"helm admission=policy", func(t *testing.T) []*unstructured.Unstructured {
			return helmTemplate(t, map[string]any{"admission": "policy"})
		}, "policy"},
		{"helm admission=auto, a cluster without MutatingAdmissionPolicy", func(t *testing.T) []*unstructured.Unstructured {
			return helmTemplate(t, map[string]any{"admission": "auto"})
		}, "webhook"},
		{"helm admission=auto, a cluster that serves it", func(t *testing.T) []*unstructured.Unstructured {
			return helmTemplateWith(t, releaseName, map[string]any{"admission": "auto"}, policyServed)
		}, "policy"},
		{"kustomize config-default", func(t *testing.T) []*unstructured.Unstructured { return kustomizeOverlay(t, "config/default") }, "webhook"},
		{"kustomize config-default with the admission-policy component", func(t *testing.T) []*unstructured.Unstructured {
			return kustomizeOverlay(t, "config/default", admissionPolicyComponent)
		}, "policy"},
		{"kustomize config-cert-manager with the admission-policy component", func(t *testing.T) []*unstructured.Unstructured {
			return kustomizeOverlay(t, "config/cert-manager", admissionPolicyComponent)
		}, "policy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := tc.render(t)
			if got := admissionFlag(t, objs); got != tc.want {
				t.Errorf("the manager runs with --admission=%s, want %s", got, tc.want)
			}
			hasMutating := slices.ContainsFunc(objs, func(o *unstructured.Unstructured) bool { return o.GetKind() == "MutatingWebhookConfiguration" })
			if hasMutating != (tc.want == "webhook") {
				t.Errorf("a MutatingWebhookConfiguration is installed: %v, want %v", hasMutating, tc.want == "webhook")
			}
			if !slices.ContainsFunc(objs, func(o *unstructured.Unstructured) bool { return o.GetKind() == "ValidatingWebhookConfiguration" }) {
				t.Error("the profiles' ValidatingWebhookConfiguration is missing")
			}
		})
	}
	if err := renderError(map[string]any{"admission": "polcy"}); err == nil || !strings.Contains(err.Error(), "admission must be webhook, policy or auto") {
		t.Errorf("a misspelt admission mode renders, or says something else: %v", err)
	}
}

// admissionFlag is the manager's --admission value; webhook, its default, when it has none.
func admissionFlag(t *testing.T, objs []*unstructured.Unstructured) string {
	t.Helper()
	mode := "webhook"
	for _, o := range objs {
		if o.GetKind() != "Deployment" {
			continue
		}
		containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		for _, c := range containers {
			args, _, _ := unstructured.NestedStringSlice(c.(map[string]any), "args")
			for _, a := range args {
				if v, ok := strings.CutPrefix(a, "--admission="); ok {
					mode = v
				}
			}
		}
		return mode
	}
	t.Fatal("no Deployment rendered")
	return ""
}
