package monitoring

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/rules"
	"sigs.k8s.io/yaml"
)

const (
	repoRoot  = "../.."
	rulesPath = "config/components/prometheus/rules.yaml"
	// rulesFile is the name rules_test.yaml gives the rule groups (the PrometheusRule's spec).
	rulesFile = "outrigger.rules.yaml"
)

var promqlParser = parser.NewParser(parser.Options{})

// ruleGroups returns the spec of the PrometheusRule at path (from the repository's root): a rule file's content.
func ruleGroups(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, path))
	if err != nil {
		t.Fatal(err)
	}
	var rule struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Spec       any    `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &rule); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if rule.APIVersion != "monitoring.coreos.com/v1" || rule.Kind != "PrometheusRule" {
		t.Fatalf("%s: a %s %s, want a monitoring.coreos.com/v1 PrometheusRule", path, rule.APIVersion, rule.Kind)
	}
	spec, err := yaml.Marshal(rule.Spec)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// parsedRules validates the rule groups as Prometheus does when it loads a rule file (promtool check rules): YAML
// fields, PromQL, templates, durations, and label and annotation names.
func parsedRules(t *testing.T) *rulefmt.RuleGroups {
	t.Helper()
	groups, errs := rulefmt.Parse(ruleGroups(t, rulesPath), false, model.UTF8Validation, promqlParser, promslog.NewNopLogger())
	for _, err := range errs {
		t.Errorf("%s: %v", rulesPath, err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
	return groups
}

func TestRules_AreValidForPrometheusAndNameOnlyExportedMetrics(t *testing.T) {
	exported := exportedMetrics(t)
	alerts := 0
	for _, g := range parsedRules(t).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				t.Errorf("group %s: a recording rule %s; the file holds alerts only", g.Name, r.Record)
				continue
			}
			alerts++
			if !strings.HasPrefix(r.Alert, "Outrigger") {
				t.Errorf("alert %s: its name does not start with Outrigger", r.Alert)
			}
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s: wants a severity label and summary and description annotations", r.Alert)
			}
			for _, name := range metricNames(t, r.Alert, r.Expr) {
				if !exported[name] {
					t.Errorf("alert %s reads %s, which no one exports (%s)", r.Alert, name, exportedList(exported))
				}
			}
		}
	}
	if alerts == 0 {
		t.Fatalf("%s: no alerts", rulesPath)
	}
}

// unitTests is promtool's rule test file, the fields these tests use.
type unitTests struct {
	RuleFiles          []string       `json:"rule_files"`
	EvaluationInterval model.Duration `json:"evaluation_interval"`
	Tests              []testGroup    `json:"tests"`
}

type testGroup struct {
	Name        string         `json:"name"`
	Interval    model.Duration `json:"interval"`
	InputSeries []struct {
		Series string `json:"series"`
		Values string `json:"values"`
	} `json:"input_series"`
	AlertRuleTests []alertTest `json:"alert_rule_test"`
}

type alertTest struct {
	EvalTime  model.Duration `json:"eval_time"`
	Alertname string         `json:"alertname"`
	ExpAlerts []struct {
		ExpLabels      map[string]string `json:"exp_labels"`
		ExpAnnotations map[string]string `json:"exp_annotations"`
	} `json:"exp_alerts"`
}

// firing is an alert as the tests compare it: its labels and annotations.
type firing struct{ Labels, Annotations map[string]string }

// TestRules_EachAlertFiresOnItsSeriesAndStaysQuietOtherwise runs testdata/rules_test.yaml as promtool test rules
// does: the input series loaded into Prometheus' test storage, the rule groups evaluated by Prometheus' rule
// manager at every evaluation interval, and the alerts firing at each eval_time compared with those expected.
func TestRules_EachAlertFiresOnItsSeriesAndStaysQuietOtherwise(t *testing.T) {
	var suite unitTests
	data, err := os.ReadFile("testdata/rules_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, &suite); err != nil {
		t.Fatalf("testdata/rules_test.yaml: %v", err)
	}
	if !slices.Equal(suite.RuleFiles, []string{rulesFile}) {
		t.Fatalf("testdata/rules_test.yaml: rule_files %v, want [%s] (the spec of %s)", suite.RuleFiles, rulesFile, rulesPath)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, rulesFile), ruleGroups(t, rulesPath), 0o600); err != nil {
		t.Fatal(err)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tg := range suite.Tests {
		t.Run(tg.Name, func(t *testing.T) {
			runGroup(t, tg, time.Duration(suite.EvaluationInterval), filepath.Join(dir, rulesFile))
		})
		for _, at := range tg.AlertRuleTests {
			if len(at.ExpAlerts) > 0 {
				fires[at.Alertname] = true
			} else {
				quiet[at.Alertname] = true
			}
		}
	}
	for _, g := range parsedRules(t).Groups {
		for _, r := range g.Rules {
			if !fires[r.Alert] || !quiet[r.Alert] {
				t.Errorf("alert %s: testdata/rules_test.yaml must show it firing (%v) and quiet (%v)", r.Alert, fires[r.Alert], quiet[r.Alert])
			}
		}
	}
}

// runGroup evaluates the rules over one test group's series, from 0 to its last eval_time, and checks the alerts.
func runGroup(t *testing.T, tg testGroup, evalInterval time.Duration, ruleFile string) {
	var load strings.Builder
	load.WriteString("load " + tg.Interval.String() + "\n")
	for _, s := range tg.InputSeries {
		load.WriteString("  " + s.Series + " " + s.Values + "\n")
	}
	storage, err := promqltest.NewLazyLoader(load.String(), promqltest.LazyLoaderOpts{
		EnableAtModifier: true, EnableNegativeOffset: true, Parser: promqlParser})
	if err != nil {
		t.Fatalf("input_series: %v", err)
	}
	defer func() {
		if err := storage.Close(); err != nil {
			t.Error(err)
		}
	}()
	storage.SubqueryInterval = evalInterval
	m := rules.NewManager(&rules.ManagerOptions{
		QueryFunc:    rules.EngineQueryFunc(storage.QueryEngine(), storage.Storage()),
		AppendableV2: storage.Storage(),
		Context:      context.Background(),
		NotifyFunc:   func(context.Context, string, ...*rules.Alert) {},
		Logger:       promslog.NewNopLogger(),
		Parser:       promqlParser,
	})
	groups, errs := m.LoadGroups(evalInterval, labels.EmptyLabels(), "", nil, false, ruleFile)
	if len(errs) > 0 {
		t.Fatalf("loading the rules: %v", errs)
	}
	for _, g := range groups {
		for _, r := range g.Rules() {
			if a, ok := r.(*rules.AlertingRule); ok {
				a.SetRestored(true) // as promtool does: no state to restore from a previous run
			}
		}
	}
	byTime := map[time.Duration][]alertTest{}
	var last time.Duration
	for _, at := range tg.AlertRuleTests {
		d := time.Duration(at.EvalTime)
		if d%evalInterval != 0 {
			t.Fatalf("eval_time %s is not a multiple of evaluation_interval %s", d, evalInterval)
		}
		byTime[d] = append(byTime[d], at)
		last = max(last, d)
	}
	start := time.Unix(0, 0).UTC()
	for at := time.Duration(0); at <= last; at += evalInterval {
		storage.WithSamplesTill(start.Add(at), func(err error) {
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range groups {
				g.Eval(storage.Context(), start.Add(at))
				for _, r := range g.Rules() {
					if r.LastError() != nil {
						t.Fatalf("rule %s at %s: %v", r.Name(), at, r.LastError())
					}
				}
			}
		})
		for _, want := range byTime[at] {
			checkAlerts(t, at, want, groups)
		}
	}
}

func checkAlerts(t *testing.T, at time.Duration, want alertTest, groups map[string]*rules.Group) {
	t.Helper()
	got := []firing{}
	for _, g := range groups {
		for _, r := range g.Rules() {
			a, ok := r.(*rules.AlertingRule)
			if !ok || a.Name() != want.Alertname {
				continue
			}
			for _, alert := range a.ActiveAlerts() {
				if alert.State == rules.StateFiring {
					got = append(got, firing{Labels: alert.Labels.Map(), Annotations: alert.Annotations.Map()})
				}
			}
		}
	}
	exp := []firing{}
	for _, e := range want.ExpAlerts {
		l := map[string]string{"alertname": want.Alertname}
		for k, v := range e.ExpLabels {
			l[k] = v
		}
		exp = append(exp, firing{Labels: l, Annotations: e.ExpAnnotations})
	}
	sortFirings(got)
	sortFirings(exp)
	if diff := cmp.Diff(exp, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("%s at %s (-want +got):\n%s", want.Alertname, at, diff)
	}
}

func sortFirings(f []firing) {
	slices.SortFunc(f, func(a, b firing) int {
		return strings.Compare(labels.FromMap(a.Labels).String(), labels.FromMap(b.Labels).String())
	})
}
