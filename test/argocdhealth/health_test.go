package argocdhealth_test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/test/argocdhealth"
)

// customizations is Outrigger's Argo CD resource_customizations directory, as Argo CD lays it out:
// <group>/<kind>/{health.lua,health_test.yaml,testdata/}.
var customizations = filepath.Join("..", "..", "config", "argocd", "resource_customizations")

// healthTests is Argo CD's health_test.yaml format.
type healthTests struct {
	Tests []struct {
		HealthStatus argocdhealth.Status `json:"healthStatus"`
		InputPath    string              `json:"inputPath"`
	} `json:"tests"`
}

// Every health_test.yaml case passes in gopher-lua, run as Argo CD runs health scripts; every testdata file is
// a valid object of its kind and is used by a case; each kind has Healthy, Progressing and Degraded cases.
func TestHealthScripts_ArgoCDTestCases(t *testing.T) {
	kinds := map[string]func() any{
		"SidecarProfile":        func() any { return &v1alpha1.SidecarProfile{} },
		"ClusterSidecarProfile": func() any { return &v1alpha1.ClusterSidecarProfile{} },
	}
	for kind, newObj := range kinds {
		t.Run(kind, func(t *testing.T) {
			dir := filepath.Join(customizations, v1alpha1.GroupVersion.Group, kind)
			script, err := argocdhealth.LoadScript(customizations, v1alpha1.GroupVersion.Group, kind)
			if err != nil {
				t.Fatal(err)
			}
			var tests healthTests
			readYAML(t, filepath.Join(dir, "health_test.yaml"), &tests)
			if len(tests.Tests) == 0 {
				t.Fatal("health_test.yaml has no tests")
			}
			used, seen := map[string]bool{}, map[string]bool{}
			for _, tc := range tests.Tests {
				used[filepath.Clean(tc.InputPath)] = true
				seen[tc.HealthStatus.Status] = true
				t.Run(filepath.Base(tc.InputPath), func(t *testing.T) {
					readYAML(t, filepath.Join(dir, tc.InputPath), newObj()) // a real object of the kind
					obj := liveObject(t, filepath.Join(dir, tc.InputPath))
					if obj.GetKind() != kind {
						t.Fatalf("%s is a %s, not a %s", tc.InputPath, obj.GetKind(), kind)
					}
					got, err := argocdhealth.Evaluate(script, obj)
					if err != nil {
						t.Fatalf("health.lua failed: %v", err)
					}
					if got != tc.HealthStatus {
						t.Errorf("health.lua returned\n  %+v\nhealth_test.yaml expects\n  %+v", got, tc.HealthStatus)
					}
				})
			}
			for _, want := range []string{argocdhealth.Healthy, argocdhealth.Progressing, argocdhealth.Degraded} {
				if !seen[want] {
					t.Errorf("no test case expects %s", want)
				}
			}
			files, _ := filepath.Glob(filepath.Join(dir, "testdata", "*.yaml"))
			sort.Strings(files)
			for _, f := range files {
				rel, _ := filepath.Rel(dir, f)
				if !used[rel] {
					t.Errorf("%s is used by no test in health_test.yaml", rel)
				}
			}
		})
	}
}

// Both kinds have the same status, so they have the same script: a fix to one must reach the other.
func TestHealthScripts_SameForBothKinds(t *testing.T) {
	a, err := argocdhealth.LoadScript(customizations, v1alpha1.GroupVersion.Group, "SidecarProfile")
	if err != nil {
		t.Fatal(err)
	}
	b, err := argocdhealth.LoadScript(customizations, v1alpha1.GroupVersion.Group, "ClusterSidecarProfile")
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatal("SidecarProfile/health.lua and ClusterSidecarProfile/health.lua differ: keep them identical")
	}
}

// Flux reads the same status with kstatus. Where the two differ, it is on purpose, and docs/gitops.md says so:
// the health script ranks Stalled before Reconciling (a stuck rollout needs a person even while another workload
// still rolls out) and reads Degraded=True as Degraded (kstatus only knows it through Ready=False:
// InProgress); and it waits for a status with conditions, where kstatus takes no status as Current (a live
// profile always has one: the CRD defaults status.observedGeneration to -1).
func TestHealthScripts_AgainstKstatus(t *testing.T) {
	dir := filepath.Join(customizations, v1alpha1.GroupVersion.Group, "SidecarProfile")
	script, err := argocdhealth.LoadScript(customizations, v1alpha1.GroupVersion.Group, "SidecarProfile")
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]struct {
		argo    string
		kstatus status.Status
	}{
		"no-status.yaml":                    {argocdhealth.Progressing, status.CurrentStatus},
		"not-observed.yaml":                 {argocdhealth.Progressing, status.InProgressStatus},
		"generation-behind.yaml":            {argocdhealth.Progressing, status.InProgressStatus},
		"no-conditions.yaml":                {argocdhealth.Progressing, status.CurrentStatus},
		"progressing.yaml":                  {argocdhealth.Progressing, status.InProgressStatus},
		"rolling-out-sidecar-starting.yaml": {argocdhealth.Progressing, status.InProgressStatus},
		"deleting.yaml":                     {argocdhealth.Progressing, status.TerminatingStatus},
		"healthy.yaml":                      {argocdhealth.Healthy, status.CurrentStatus},
		"healthy-no-workload.yaml":          {argocdhealth.Healthy, status.CurrentStatus},
		"stalled-conflict.yaml":             {argocdhealth.Degraded, status.FailedStatus},
		"stalled-rollout-stuck.yaml":        {argocdhealth.Degraded, status.InProgressStatus},
		"degraded-sidecar-restarting.yaml":  {argocdhealth.Degraded, status.InProgressStatus},
	} {
		obj := liveObject(t, filepath.Join(dir, "testdata", file))
		got, err := argocdhealth.Evaluate(script, obj)
		if err != nil {
			t.Fatal(err)
		}
		ks, err := status.Compute(obj)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != want.argo || ks.Status != want.kstatus {
			t.Errorf("%s: Argo CD %s and kstatus %s, want %s and %s", file, got.Status, ks.Status, want.argo, want.kstatus)
		}
	}
}

// docs/gitops.md gives the argocd-cm snippet; both of its keys hold exactly the script.
func TestDocs_ArgoCDConfigMapSnippetIsTheScript(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "gitops.md"))
	if err != nil {
		t.Fatal(err)
	}
	var snippet string
	for _, block := range strings.Split(string(raw), "```yaml\n")[1:] {
		block = block[:strings.Index(block, "```")]
		if strings.Contains(block, "name: argocd-cm") {
			snippet = block
		}
	}
	if snippet == "" {
		t.Fatal("docs/gitops.md has no argocd-cm snippet")
	}
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal([]byte(snippet), &cm); err != nil {
		t.Fatalf("the argocd-cm snippet: %v", err)
	}
	for _, kind := range []string{"SidecarProfile", "ClusterSidecarProfile"} {
		script, err := argocdhealth.LoadScript(customizations, v1alpha1.GroupVersion.Group, kind)
		if err != nil {
			t.Fatal(err)
		}
		key := "resource.customizations.health." + v1alpha1.GroupVersion.Group + "_" + kind
		if cm.Data[key] != script {
			t.Errorf("argocd-cm %s in docs/gitops.md is not %s/health.lua", key, kind)
		}
	}
}

// Argo CD opens no string, math or io library for health scripts: a script that needs one fails there, and so
// here. Numbers arrive as Lua numbers whether the object was decoded with int64 (a live object) or float64.
func TestEvaluate_BehavesAsArgoCD(t *testing.T) {
	obj := &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"generation": int64(2)},
		"status":   map[string]any{"observedGeneration": float64(2)},
	}}
	for _, tc := range []struct {
		name, script string
		want         argocdhealth.Status
		fails        bool
	}{
		{"numbers compare", `return {status = obj.metadata.generation == obj.status.observedGeneration and "Healthy" or "Degraded", message = tostring(obj.metadata.generation)}`,
			argocdhealth.Status{Status: argocdhealth.Healthy, Message: "2"}, false},
		{"no string library", `return {status = string.upper("healthy")}`, argocdhealth.Status{}, true},
		{"unknown status", `return {status = "Fine"}`, argocdhealth.Status{Status: argocdhealth.Unknown, Message: "Lua returned an invalid health status"}, false},
		{"endless loop is cut", `while true do end`, argocdhealth.Status{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := argocdhealth.Evaluate(tc.script, obj)
			if (err != nil) != tc.fails {
				t.Fatalf("error %v, want failure %v", err, tc.fails)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// readYAML decodes a file strictly: an unknown or misspelt field fails.
func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(raw, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// liveObject decodes a file as Argo CD holds a live object: unstructured, integers as int64.
func liveObject(t *testing.T, path string) *unstructured.Unstructured {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(raw)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(j); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return obj
}
