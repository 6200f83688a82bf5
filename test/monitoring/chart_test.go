package monitoring

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v4/pkg/chart/common"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/outrigger-dev/outrigger/test/render"
)

const chartDir = repoRoot + "/charts/outrigger"

// TestChart_ShipsTheRulesAndDashboardOfConfig: the chart's files are copies of config/components/prometheus, and
// rendered with monitoring on, the chart gives the same ServiceMonitor endpoints, PrometheusRule spec and
// dashboard as config/default with the component.
func TestChart_ShipsTheRulesAndDashboardOfConfig(t *testing.T) {
	for _, name := range []string{"rules.yaml", "dashboard.json"} {
		want, err := os.ReadFile(filepath.Join(repoRoot, "config/components/prometheus", name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(chartDir, "files/prometheus", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(want, got) {
			t.Errorf("charts/outrigger/files/prometheus/%s differs from config/components/prometheus/%[1]s: "+
				"cp config/components/prometheus/{rules.yaml,dashboard.json} charts/outrigger/files/prometheus/", name)
		}
	}

	kust := index(kustomizeWithComponent(t))
	helm := index(helmTemplate(t, map[string]any{
		"serviceMonitor":   map[string]any{"enabled": true},
		"prometheusRule":   map[string]any{"enabled": true, "labels": map[string]any{"release": "prometheus"}},
		"grafanaDashboard": map[string]any{"enabled": true},
	}))
	for _, tc := range []struct {
		key   string
		field []string
	}{
		{"ServiceMonitor/outrigger-system/outrigger-controller-manager-metrics-monitor", []string{"spec", "endpoints"}},
		{"PrometheusRule/outrigger-system/outrigger-alerts", []string{"spec"}},
		{"ConfigMap/outrigger-system/outrigger-grafana-dashboard", []string{"data"}},
		{"ConfigMap/outrigger-system/outrigger-grafana-dashboard", []string{"metadata", "labels", "grafana_dashboard"}},
	} {
		k, h := kust[tc.key], helm[tc.key]
		if k == nil || h == nil {
			t.Errorf("%s: rendered by kustomize %v, by helm %v", tc.key, k != nil, h != nil)
			continue
		}
		kv, _, _ := unstructured.NestedFieldNoCopy(k.Object, tc.field...)
		hv, _, _ := unstructured.NestedFieldNoCopy(h.Object, tc.field...)
		if kv == nil {
			t.Errorf("%s: no %s", tc.key, strings.Join(tc.field, "."))
		}
		if diff := cmp.Diff(kv, hv); diff != "" {
			t.Errorf("%s: %s (-kustomize +helm):\n%s", tc.key, strings.Join(tc.field, "."), diff)
		}
	}
	if got := helm["PrometheusRule/outrigger-system/outrigger-alerts"]; got != nil && got.GetLabels()["release"] != "prometheus" {
		t.Errorf("prometheusRule.labels did not reach the PrometheusRule: %v", got.GetLabels())
	}
	// The ServiceMonitor scrapes the port the metrics Service has.
	for name, objs := range map[string]map[string]*unstructured.Unstructured{"kustomize": kust, "helm": helm} {
		port, _, _ := unstructured.NestedSlice(objs["Service/outrigger-system/outrigger-controller-manager-metrics-service"].Object, "spec", "ports")
		endpoints, _, _ := unstructured.NestedSlice(objs["ServiceMonitor/outrigger-system/outrigger-controller-manager-metrics-monitor"].Object, "spec", "endpoints")
		if len(port) != 1 || len(endpoints) != 1 || port[0].(map[string]any)["name"] != endpoints[0].(map[string]any)["port"] {
			t.Errorf("%s: the ServiceMonitor's endpoints %v do not scrape the metrics Service's port %v", name, endpoints, port)
		}
	}
}

// TestChart_MonitoringIsOffByDefault: like the ServiceMonitor, the rules and the dashboard need CRDs or a Grafana
// that not every cluster has.
func TestChart_MonitoringIsOffByDefault(t *testing.T) {
	for key := range index(helmTemplate(t, nil)) {
		if strings.HasPrefix(key, "PrometheusRule/") || strings.HasPrefix(key, "ServiceMonitor/") || strings.Contains(key, "grafana") {
			t.Errorf("rendered by default: %s", key)
		}
	}
}

// kustomizeWithComponent builds config/default with the component, as docs/metrics.md tells to.
func kustomizeWithComponent(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rel := func(path string) string { // kustomize takes no absolute paths
		r, err := filepath.Rel(dir, filepath.Join(root, path))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	overlay := "resources:\n- " + rel("config/default") + "\ncomponents:\n- " + rel("config/components/prometheus") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(overlay), 0o600); err != nil {
		t.Fatal(err)
	}
	objs, err := render.Kustomize(dir)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// helmTemplate is `helm template outrigger charts/outrigger -n outrigger-system` with the values on top of
// values.yaml, in-process.
func helmTemplate(t *testing.T, values map[string]any) []*unstructured.Unstructured {
	t.Helper()
	objs, err := render.Helm(chartDir, common.ReleaseOptions{Name: "outrigger", Namespace: "outrigger-system", Revision: 1, IsInstall: true}, values, nil)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func index(objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	m := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		m[o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName()] = o
	}
	return m
}
