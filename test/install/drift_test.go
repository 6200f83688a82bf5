package install_test

// The Helm chart is a second copy of config/. These tests keep the two equal where they must be: with the release
// named outrigger in outrigger-system (as docs/install.md installs it), the chart renders the objects of
// config/default (or config/cert-manager) under the same kinds and names, the same CRDs byte for byte, the same
// RBAC rules and bindings, the same webhooks and the same manager pod settings.

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func TestChartCRDsAreConfigCRDs(t *testing.T) {
	want, _ := filepath.Glob(filepath.Join(repoRoot, "config", "crd", "bases", "*.yaml"))
	got, _ := filepath.Glob(filepath.Join(chartDir, "files", "crds", "*.yaml"))
	base := func(paths []string) []string {
		var names []string
		for _, p := range paths {
			names = append(names, filepath.Base(p))
		}
		return names
	}
	if len(want) == 0 {
		t.Fatal("no CRDs in config/crd/bases")
	}
	if diff := cmp.Diff(base(want), base(got)); diff != "" {
		t.Fatalf("charts/outrigger/files/crds differs from config/crd/bases (-config +chart):\n%s\n"+
			"Copy them: cp config/crd/bases/*.yaml charts/outrigger/files/crds/", diff)
	}
	for _, p := range want {
		w, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		g, err := os.ReadFile(filepath.Join(chartDir, "files", "crds", filepath.Base(p)))
		if err != nil {
			t.Fatal(err)
		}
		if string(w) != string(g) {
			t.Errorf("charts/outrigger/files/crds/%s differs from config/crd/bases: "+
				"cp config/crd/bases/*.yaml charts/outrigger/files/crds/", filepath.Base(p))
		}
	}
	// And the chart renders them as they are.
	rendered := map[string]*unstructured.Unstructured{}
	for _, o := range helmTemplate(t, nil) {
		if o.GetKind() == "CustomResourceDefinition" {
			rendered[o.GetName()] = o
		}
	}
	for _, o := range kustomizeBuild(t, "config/default") {
		if o.GetKind() != "CustomResourceDefinition" {
			continue
		}
		r, ok := rendered[o.GetName()]
		if !ok {
			t.Errorf("the chart does not render the CRD %s", o.GetName())
			continue
		}
		// config/default labels everything app.kubernetes.io/part-of; the rest must be the same.
		want := o.DeepCopy()
		unstructured.RemoveNestedField(want.Object, "metadata", "labels")
		got := r.DeepCopy()
		unstructured.RemoveNestedField(got.Object, "metadata", "labels")
		if diff := cmp.Diff(want.Object, got.Object); diff != "" {
			t.Errorf("CRD %s (-kustomize +helm):\n%s", o.GetName(), diff)
		}
	}
}

func TestChartMatchesConfig(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config string
		values map[string]any
	}{
		{"self-managed", "config/default", nil},
		{"cert-manager", "config/cert-manager", map[string]any{"certs": map[string]any{"mode": "cert-manager"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kust := index(kustomizeBuild(t, tc.config))
			helm := index(helmTemplate(t, tc.values))

			// The same objects (the Namespace is Helm's --create-namespace).
			var kustKeys, helmKeys []string
			for k := range kust {
				if !strings.HasPrefix(k, "Namespace/") {
					kustKeys = append(kustKeys, k)
				}
			}
			for k := range helm {
				helmKeys = append(helmKeys, k)
			}
			slices.Sort(kustKeys)
			slices.Sort(helmKeys)
			if diff := cmp.Diff(kustKeys, helmKeys); diff != "" {
				t.Errorf("objects (-kustomize +helm):\n%s", diff)
			}

			for key, k := range kust {
				h, ok := helm[key]
				if !ok {
					continue
				}
				var fields [][]string
				switch k.GetKind() {
				case "ClusterRole", "Role":
					fields = [][]string{{"rules"}, {"aggregationRule"}}
					for label, v := range k.GetLabels() {
						if strings.HasPrefix(label, "rbac.authorization.k8s.io/aggregate-to-") && h.GetLabels()[label] != v {
							t.Errorf("%s: label %s=%s missing from the chart's", key, label, v)
						}
					}
				case "ClusterRoleBinding", "RoleBinding":
					fields = [][]string{{"roleRef"}, {"subjects"}}
				case "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration":
					fields = [][]string{{"webhooks"}, {"metadata", "annotations"}}
				case "Service":
					fields = [][]string{{"spec", "ports"}}
				case "Certificate", "Issuer":
					fields = [][]string{{"spec"}}
				case "Deployment":
					fields = [][]string{
						{"spec", "replicas"},
						{"spec", "template", "metadata", "annotations"},
						{"spec", "template", "spec", "securityContext"},
						{"spec", "template", "spec", "serviceAccountName"},
						{"spec", "template", "spec", "terminationGracePeriodSeconds"},
						{"spec", "template", "spec", "volumes"},
					}
					kc, hc := container(t, k), container(t, h)
					for _, f := range []string{"name", "command", "env", "ports", "securityContext", "volumeMounts",
						"livenessProbe", "readinessProbe", "resources"} {
						if f == "volumeMounts" && tc.name == "cert-manager" {
							continue // the chart mounts cert-manager's Secret read-only
						}
						if diff := cmp.Diff(kc[f], hc[f]); diff != "" {
							t.Errorf("%s: container %s (-kustomize +helm):\n%s", key, f, diff)
						}
					}
					kArgs, hArgs := effectiveArgs(kc), effectiveArgs(hc)
					for flag, v := range kArgs {
						if hArgs[flag] != v {
							t.Errorf("%s: the chart runs the manager with --%s=%q, config with %q", key, flag, hArgs[flag], v)
						}
					}
				}
				for _, f := range fields {
					kv, _, _ := unstructured.NestedFieldNoCopy(k.Object, f...)
					hv, _, _ := unstructured.NestedFieldNoCopy(h.Object, f...)
					if diff := cmp.Diff(kv, hv); diff != "" {
						t.Errorf("%s: %s (-kustomize +helm):\n%s", key, strings.Join(f, "."), diff)
					}
				}
			}
		})
	}
}

func index(objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	m := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		m[o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName()] = o
	}
	return m
}

func container(t *testing.T, dep *unstructured.Unstructured) map[string]any {
	t.Helper()
	containers, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	if len(containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", dep.GetName(), len(containers))
	}
	return containers[0].(map[string]any)
}

// effectiveArgs is the manager's flags as it parses them: --flag and --flag=true alike.
func effectiveArgs(c map[string]any) map[string]string {
	args := map[string]string{}
	list, _ := c["args"].([]any)
	for _, a := range list {
		s, _ := a.(string)
		name, value, ok := strings.Cut(strings.TrimLeft(s, "-"), "=")
		if !ok {
			value = "true"
		}
		args[name] = value
	}
	return args
}

// TestChartValues checks that the values reach what they set.
func TestChartValues(t *testing.T) {
	objs := index(helmTemplate(t, otherValues))
	get := func(key string) *unstructured.Unstructured {
		o, ok := objs[key]
		if !ok {
			t.Fatalf("no %s rendered", key)
		}
		return o
	}
	dep := get("Deployment/outrigger-system/outrigger-controller-manager")
	c := container(t, dep)
	checks := []struct {
		what      string
		got, want any
	}{
		{"image", c["image"], "registry.example.com/outrigger:v9.9.9"},
		{"pullPolicy", c["imagePullPolicy"], "Always"},
		{"replicas", field(dep, "spec", "replicas"), int64(2)},
		{"nodeSelector", field(dep, "spec", "template", "spec", "nodeSelector"), map[string]any{"kubernetes.io/os": "linux"}},
		{"priorityClassName", field(dep, "spec", "template", "spec", "priorityClassName"), "system-cluster-critical"},
		{"--leader-elect", effectiveArgs(c)["leader-elect"], "false"},
		{"--metrics-secure", effectiveArgs(c)["metrics-secure"], "false"},
		{"--metrics-bind-address", effectiveArgs(c)["metrics-bind-address"], ":8080"},
		{"--zap-log-level", effectiveArgs(c)["zap-log-level"], "debug"},
		{"metrics Service port", field(get("Service/outrigger-system/outrigger-controller-manager-metrics-service"), "spec", "ports"),
			[]any{map[string]any{"name": "http", "port": int64(8080), "protocol": "TCP", "targetPort": "metrics"}}},
	}
	for _, ck := range checks {
		if diff := cmp.Diff(ck.want, ck.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", ck.what, diff)
		}
	}
	if field(dep, "spec", "template", "spec", "tolerations") == nil || field(dep, "spec", "template", "spec", "affinity") == nil {
		t.Errorf("tolerations or affinity missing")
	}
	// Helm merges maps into the defaults: the limits of values.yaml stay unless set to null.
	if diff := cmp.Diff(map[string]any{"requests": map[string]any{"cpu": "50m", "memory": "100Mi"},
		"limits": map[string]any{"cpu": "500m", "memory": "256Mi"}}, c["resources"]); diff != "" {
		t.Errorf("resources (-want +got):\n%s", diff)
	}
	mutating := get("MutatingWebhookConfiguration//outrigger-mutating-webhook-configuration")
	webhooks, _, _ := unstructured.NestedSlice(mutating.Object, "webhooks")
	wh := webhooks[0].(map[string]any)
	if wh["failurePolicy"] != "Fail" || wh["timeoutSeconds"] != int64(10) {
		t.Errorf("mutating webhook: failurePolicy %v, timeoutSeconds %v", wh["failurePolicy"], wh["timeoutSeconds"])
	}
	excluded, _, _ := unstructured.NestedSlice(wh, "namespaceSelector", "matchExpressions")
	if diff := cmp.Diff([]any{map[string]any{"key": "kubernetes.io/metadata.name", "operator": "NotIn",
		"values": []any{"kube-system", "monitoring", "outrigger-system"}}}, excluded); diff != "" {
		t.Errorf("namespace exclusions, with the release namespace added (-want +got):\n%s", diff)
	}
	// A configured kind reaches the manager's configuration as written (TestConfiguredKindsReachEveryPart checks the
	// rights and the webhook rule that go with it).
	cm := get("ConfigMap/outrigger-system/outrigger-workload-kinds")
	var kinds struct {
		Kinds []map[string]any `json:"kinds"`
	}
	if err := yaml.UnmarshalStrict([]byte(field(cm, "data", "workload-kinds.yaml").(string)), &kinds); err != nil {
		t.Fatalf("the workload kinds configuration: %v", err)
	}
	if diff := cmp.Diff([]map[string]any{cloneSetKind}, kinds.Kinds); diff != "" {
		t.Errorf("workload kinds configuration (-want +got):\n%s", diff)
	}
	if _, ok := objs["ClusterRole//outrigger-metrics-auth-role"]; ok {
		t.Errorf("metrics.secure=false still renders the metrics-auth ClusterRole")
	}

	// Invalid values fail the rendering rather than install something broken.
	for _, bad := range []map[string]any{
		{"certs": map[string]any{"mode": "external"}},
		{"webhook": map[string]any{"failurePolicy": "Never"}},
	} {
		if err := renderError(bad); err == nil {
			t.Errorf("values %v rendered without error", bad)
		}
	}
}

func field(o *unstructured.Unstructured, path ...string) any {
	v, _, _ := unstructured.NestedFieldNoCopy(o.Object, path...)
	return v
}

// TestChartOtherReleaseName renders the chart as a release with a long name without "outrigger" in it: every name
// must fit, and the names the manager is given by flags must be those of the objects rendered.
func TestChartOtherReleaseName(t *testing.T) {
	objs := helmTemplateAs(t, "platform-sidecar-injection-prod", nil)
	byKind := map[string]map[string]bool{}
	var dep *unstructured.Unstructured
	for _, o := range objs {
		if byKind[o.GetKind()] == nil {
			byKind[o.GetKind()] = map[string]bool{}
		}
		byKind[o.GetKind()][o.GetName()] = true
		if o.GetKind() != "CustomResourceDefinition" && !strings.HasPrefix(o.GetName(), "platform-sidecar-inject") {
			t.Errorf("%s %s: not named after the release", o.GetKind(), o.GetName())
		}
		if o.GetKind() == "Service" && len(o.GetName()) > 63 {
			t.Errorf("Service name %s is longer than 63 characters", o.GetName())
		}
		if o.GetKind() == "Deployment" {
			dep = o
		}
	}
	if dep == nil {
		t.Fatal("no Deployment rendered")
	}
	args := effectiveArgs(container(t, dep))
	for flag, kind := range map[string]string{
		"webhook-service-name":             "Service",
		"mutating-webhook-configuration":   "MutatingWebhookConfiguration",
		"validating-webhook-configuration": "ValidatingWebhookConfiguration",
	} {
		if !byKind[kind][args[flag]] {
			t.Errorf("--%s=%s names no rendered %s (%v)", flag, args[flag], kind, byKind[kind])
		}
	}
	role := index(objs)["Role/outrigger-system/"+strings.TrimSuffix(args["webhook-service-name"], "-webhook-service")+"-webhook-cert-role"]
	if role == nil || !strings.Contains(fmtRules(role), args["webhook-secret-name"]) {
		t.Errorf("the webhook-cert Role does not let the manager update the Secret %s", args["webhook-secret-name"])
	}
	wantSA, _, _ := unstructured.NestedString(dep.Object, "spec", "template", "spec", "serviceAccountName")
	if !byKind["ServiceAccount"][wantSA] {
		t.Errorf("the Deployment runs as %s, which is not rendered", wantSA)
	}
}

func fmtRules(o *unstructured.Unstructured) string {
	rules, _, _ := unstructured.NestedSlice(o.Object, "rules")
	return fmt.Sprint(rules)
}
