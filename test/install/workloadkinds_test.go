package install_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/outrigger-dev/outrigger/internal/kindconfig"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// workloadKindsComponent is the kustomize counterpart of the chart's value workloadKinds.
const workloadKindsComponent = "config/components/workload-kinds"

// kustomizeOverlay builds an overlay of base with the components, as a user's own kustomization would be
// written: in a directory of its own that refers to config/ by relative paths.
func kustomizeOverlay(t *testing.T, base string, components ...string) []*unstructured.Unstructured {
	t.Helper()
	dir := t.TempDir()
	rel := func(p string) string {
		abs, err := filepath.Abs(filepath.Join(repoRoot, p))
		if err != nil {
			t.Fatal(err)
		}
		r, err := filepath.Rel(dir, abs)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	k := "resources:\n- " + rel(base) + "\ncomponents:\n"
	for _, c := range components {
		k += "- " + rel(c) + "\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o600); err != nil {
		t.Fatal(err)
	}
	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build of %s with %v: %v", base, components, err)
	}
	out, err := resMap.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, "kustomize build of "+base+" with "+strings.Join(components, ", "), out)
}

// TestConfiguredKindsReachEveryPart checks, for each way of installing configured kinds, that the configuration
// the manager reads is valid and that every kind in it has the manager's rights and a mutating webhook rule:
// the three parts a user edits together.
func TestConfiguredKindsReachEveryPart(t *testing.T) {
	for _, r := range []struct {
		name   string
		render func(t *testing.T) []*unstructured.Unstructured
	}{
		{"helm workloadKinds", func(t *testing.T) []*unstructured.Unstructured { return helmTemplate(t, otherValues) }},
		{"kustomize config-default with the component", func(t *testing.T) []*unstructured.Unstructured {
			return kustomizeOverlay(t, "config/default", workloadKindsComponent)
		}},
		{"kustomize config-cert-manager with the component", func(t *testing.T) []*unstructured.Unstructured {
			return kustomizeOverlay(t, "config/cert-manager", workloadKindsComponent)
		}},
	} {
		t.Run(r.name, func(t *testing.T) {
			objs := r.render(t)
			kinds := configuredKinds(t, objs)
			if len(kinds) == 0 {
				t.Fatal("the configuration holds no kind")
			}
			sa := managerServiceAccount(t, objs)
			grants := grantsTo(objs, sa)
			rules := mutatingRules(t, objs)
			for _, k := range kinds {
				gr := k.GroupResource()
				for _, verb := range []string{"get", "list", "watch", "patch"} {
					if !grants[gr.Group+"/"+gr.Resource+"/"+verb] {
						t.Errorf("%s: the manager's service account %s may not %s %s", k.Entry, sa, verb, gr)
					}
				}
				if !slices.Contains(rules, gr.Group+"/"+k.GVK.Version+"/"+gr.Resource+"/CREATE,UPDATE") {
					t.Errorf("%s: the mutating webhook has no CREATE, UPDATE rule for %s/%s %s; its rules: %v",
						k.Entry, gr.Group, k.GVK.Version, gr.Resource, rules)
				}
			}
		})
	}
}

// configuredKinds follows the manager's --workload-kinds-config to the ConfigMap mounted there, and loads the file
// as the manager would.
func configuredKinds(t *testing.T, objs []*unstructured.Unstructured) []kindconfig.Kind {
	t.Helper()
	dep := managerDeployment(t, objs)
	c := container(t, dep)
	path := effectiveArgs(c)["workload-kinds-config"]
	if path == "" {
		t.Fatal("the manager has no --workload-kinds-config")
	}
	mounts, _ := c["volumeMounts"].([]any)
	var volume string
	for _, m := range mounts {
		m := m.(map[string]any)
		if filepath.Dir(path) == m["mountPath"] {
			volume = m["name"].(string)
		}
	}
	if volume == "" {
		t.Fatalf("no volume is mounted at %s, where --workload-kinds-config points: %v", filepath.Dir(path), mounts)
	}
	volumes, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "volumes")
	var configMap string
	for _, v := range volumes {
		v := v.(map[string]any)
		if v["name"] == volume {
			configMap, _, _ = unstructured.NestedString(v, "configMap", "name")
		}
	}
	cm, ok := index(objs)["ConfigMap/"+dep.GetNamespace()+"/"+configMap]
	if !ok {
		t.Fatalf("volume %s: no ConfigMap %q rendered", volume, configMap)
	}
	data, _, _ := unstructured.NestedString(cm.Object, "data", filepath.Base(path))
	file := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	kinds, errs := kindconfig.Load(file, workload.All)
	for _, err := range errs {
		t.Errorf("the rendered configuration: %v", err)
	}
	return kinds
}

func managerDeployment(t *testing.T, objs []*unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == "Deployment" {
			return o
		}
	}
	t.Fatal("no Deployment rendered")
	return nil
}

// managerServiceAccount is namespace/name of the manager's service account.
func managerServiceAccount(t *testing.T, objs []*unstructured.Unstructured) string {
	t.Helper()
	dep := managerDeployment(t, objs)
	name, _, _ := unstructured.NestedString(dep.Object, "spec", "template", "spec", "serviceAccountName")
	return dep.GetNamespace() + "/" + name
}

// grantsTo is the set of group/resource/verb the ClusterRoles bound to the service account grant.
func grantsTo(objs []*unstructured.Unstructured, sa string) map[string]bool {
	byName := index(objs)
	grants := map[string]bool{}
	for _, b := range objs {
		if b.GetKind() != "ClusterRoleBinding" || !boundTo(b, sa) {
			continue
		}
		roleName, _, _ := unstructured.NestedString(b.Object, "roleRef", "name")
		role, ok := byName["ClusterRole//"+roleName]
		if !ok {
			continue
		}
		rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
		for _, r := range rules {
			r := r.(map[string]any)
			for _, g := range stringList(r, "apiGroups") {
				for _, res := range stringList(r, "resources") {
					for _, v := range stringList(r, "verbs") {
						grants[g+"/"+res+"/"+v] = true
					}
				}
			}
		}
	}
	return grants
}

func boundTo(binding *unstructured.Unstructured, sa string) bool {
	subjects, _, _ := unstructured.NestedSlice(binding.Object, "subjects")
	for _, s := range subjects {
		s := s.(map[string]any)
		if s["kind"] == "ServiceAccount" && s["namespace"].(string)+"/"+s["name"].(string) == sa {
			return true
		}
	}
	return false
}

// mutatingRules lists the rules of the workloads webhook as group/version/resource/OPERATIONS, one per
// combination of group, version and resource.
func mutatingRules(t *testing.T, objs []*unstructured.Unstructured) []string {
	t.Helper()
	var out []string
	for _, o := range objs {
		if o.GetKind() != "MutatingWebhookConfiguration" {
			continue
		}
		webhooks, _, _ := unstructured.NestedSlice(o.Object, "webhooks")
		for _, wh := range webhooks {
			rules, _ := wh.(map[string]any)["rules"].([]any)
			for _, r := range rules {
				r := r.(map[string]any)
				ops := strings.Join(stringList(r, "operations"), ",")
				for _, g := range stringList(r, "apiGroups") {
					for _, v := range stringList(r, "apiVersions") {
						for _, res := range stringList(r, "resources") {
							out = append(out, g+"/"+v+"/"+res+"/"+ops)
						}
					}
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no mutating webhook rule rendered")
	}
	return out
}

func stringList(m map[string]any, field string) []string {
	list, _, _ := unstructured.NestedStringSlice(m, field)
	return list
}
