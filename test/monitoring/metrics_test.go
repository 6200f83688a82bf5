package monitoring

import (
	"context"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/promql/parser"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/metrics"
	"github.com/outrigger-dev/outrigger/internal/requestmetrics"
)

// otherExporters are the metrics of others that the dashboard reads on purpose: controller-runtime's, which the
// manager's endpoint serves too, and the apiserver's, which say how the MutatingAdmissionPolicies of admission:
// policy fare (the manager takes no part in that admission).
var otherExporters = []string{
	"controller_runtime_reconcile_errors_total",
	"controller_runtime_webhook_requests_total",
	"apiserver_mutating_admission_policy_check_total",
	"apiserver_mutating_admission_policy_check_duration_seconds_bucket",
}

// outriggerMetrics are the series names Outrigger's manager exports, read from its registry once each metric has
// a series: a profile's status and one admission decision recorded. Histograms give their _bucket, _sum and
// _count series.
func outriggerMetrics(t *testing.T) []string {
	t.Helper()
	metrics.SetProfile(types.NamespacedName{Namespace: "monitoring-test", Name: "p"}, v1alpha1.SidecarProfileStatus{
		Conditions:     []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue}},
		NeedsAttention: []v1alpha1.WorkloadAttention{{Kind: v1alpha1.KindDeployment, Name: "w", Reason: v1alpha1.ReasonConflict}},
	})
	defer metrics.ForgetProfile(types.NamespacedName{Namespace: "monitoring-test", Name: "p"})
	var req admission.Request
	req.Kind.Kind = "MonitoringTest"
	metrics.InstrumentAdmission(noDecision{}).Handle(context.Background(), req)

	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	// Not gathered without a request to the apiserver; requestmetrics' own test covers it.
	names := []string{requestmetrics.Name}
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "outrigger_") {
			continue
		}
		if f.GetType() == dto.MetricType_HISTOGRAM {
			names = append(names, f.GetName()+"_bucket", f.GetName()+"_sum", f.GetName()+"_count")
			continue
		}
		names = append(names, f.GetName())
	}
	slices.Sort(names)
	return slices.Compact(names)
}

type noDecision struct{}

func (noDecision) Handle(context.Context, admission.Request) admission.Response {
	return admission.Allowed("")
}

// exportedMetrics is the set of series names a query of Outrigger's may read.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	set := map[string]bool{}
	for _, n := range append(outriggerMetrics(t), otherExporters...) {
		set[n] = true
	}
	return set
}

func exportedList(set map[string]bool) string {
	var names []string
	for n := range set {
		names = append(names, n)
	}
	slices.Sort(names)
	return "exported: " + strings.Join(names, ", ")
}

// metricNames parses a PromQL expression and returns the metric names its selectors read; an error, or a
// selector without a metric name, fails the test.
func metricNames(t *testing.T, where, expr string) []string {
	t.Helper()
	node, err := promqlParser.ParseExpr(expr)
	if err != nil {
		t.Errorf("%s: %q does not parse: %v", where, expr, err)
		return nil
	}
	var names []string
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		if vs.Name == "" {
			t.Errorf("%s: the selector %s names no metric", where, vs)
			return nil
		}
		names = append(names, vs.Name)
		return nil
	})
	if len(names) == 0 && !strings.Contains(expr, "vector(") {
		t.Errorf("%s: %q reads no metric", where, expr)
	}
	return names
}
