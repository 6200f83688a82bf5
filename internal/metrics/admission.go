package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// Names of the admission metrics: the mutating webhook's decisions and handling time, by workload kind (the
// admission request's kind: only the kinds the webhook configuration's rules send, so a bounded set).
const (
	AdmissionDecisions = "outrigger_admission_decisions_total"  // kind, outcome, reason
	AdmissionDuration  = "outrigger_admission_duration_seconds" // kind
)

// Outcome is what the mutating webhook did with a workload: the outcome label.
type Outcome string

// The outcomes.
const (
	// Injected: the webhook answered with a patch: sidecars added, updated, or removed for a profile that no longer
	// selects the workload.
	Injected Outcome = "injected"
	// Unchanged: profiles select the workload, and it already is as they say (or a rollout holds it where it is).
	Unchanged Outcome = "unchanged"
	// Skipped: nothing to do for the workload; the reason label says why.
	Skipped Outcome = "skipped"
	// Conflict: a profile selecting the workload was not injected (the others may have been); the reason label
	// says why. The workload's events and the profile's needsAttention name it.
	Conflict Outcome = "conflict"
	// Error: the webhook could not decide (an object it cannot read, profiles it cannot list): the workload was
	// admitted unchanged, with a warning, and the reconciler takes it from there.
	Error Outcome = "error"
)

// Reason is why a workload was skipped or in conflict: the reason label ("" for the other outcomes).
type Reason string

// The reasons.
const (
	// OptedOut (skipped): the workload carries sidecars.outrigger.dev/inject=disabled.
	OptedOut Reason = "opted_out"
	// NoProfile (skipped): no profile selects the workload.
	NoProfile Reason = "no_profile"
	// ProtectedNamespace (skipped): no profile selects the workload, in a namespace no ClusterSidecarProfile
	// reaches (kube-system, Outrigger's own, --excluded-namespaces).
	ProtectedNamespace Reason = "protected_namespace"
	// KindNotServed (skipped): the manager does not serve the request's kind (a configured kind whose CRD has no
	// pod template where the configuration says).
	KindNotServed Reason = "kind_not_served"
	// TemplateImmutable (skipped): an update of a workload whose pod template cannot change (a Job).
	TemplateImmutable Reason = "template_immutable"
	// NoPodTemplate (skipped): the workload has no pod template of its own (an Argo Rollout with workloadRef).
	NoPodTemplate Reason = "no_pod_template"
	// NameConflict (conflict): a sidecar, volume or mount path of a profile has the name of one of the workload's.
	NameConflict Reason = "name_conflict"
	// MissingVolume (conflict): a profile's sidecar mounts a volume neither the profile nor the workload declares.
	MissingVolume Reason = "missing_volume"
	// None is the reason of the outcomes injected, unchanged and error.
	None Reason = ""
)

// Outcomes lists every outcome with the reasons it takes: the label values each kind's counters start at 0 with,
// so that the first decision of a kind is an increase a rate or an alert sees.
var Outcomes = map[Outcome][]Reason{
	Injected:  {None},
	Unchanged: {None},
	Skipped:   {OptedOut, NoProfile, ProtectedNamespace, KindNotServed, TemplateImmutable, NoPodTemplate},
	Conflict:  {NameConflict, MissingVolume},
	Error:     {None},
}

// DurationBuckets are the handling time histogram's buckets, in seconds: the handler takes about 80µs on the
// benchmark (docs/benchmarks.md), and the apiserver gives up at the webhook's timeoutSeconds (at most 30 s, 5 as
// installed).
var DurationBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

var (
	decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: AdmissionDecisions,
		Help: "Requests of the mutating webhook by workload kind, outcome (injected, unchanged, skipped, conflict, error) and reason (why skipped or in conflict).",
	}, []string{"kind", "outcome", "reason"})
	duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    AdmissionDuration,
		Help:    "Time the mutating webhook took to answer a request, by workload kind.",
		Buckets: DurationBuckets,
	}, []string{"kind"})
	// kindsSeen are the kinds whose counters were started at 0.
	kindsSeen sync.Map
)

func init() {
	metrics.Registry.MustRegister(decisions, duration)
}

// decisionKey is the context key of the decision the handler records.
type decisionKey struct{}

type decision struct {
	outcome Outcome
	reason  Reason
}

// Decide records the webhook's decision for the request being handled (ctx is the one InstrumentAdmission gave the
// handler); the last call wins. Without InstrumentAdmission it does nothing.
func Decide(ctx context.Context, outcome Outcome, reason Reason) {
	if d, ok := ctx.Value(decisionKey{}).(*decision); ok {
		d.outcome, d.reason = outcome, reason
	}
}

// InstrumentAdmission counts the decisions of the handler, by the request's kind, and times it. A handler that
// records no decision is counted injected when it answered with a patch and unchanged otherwise.
func InstrumentAdmission(next admission.Handler) admission.Handler {
	return instrumented{next: next}
}

type instrumented struct{ next admission.Handler }

func (h instrumented) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	d := &decision{}
	resp := h.next.Handle(context.WithValue(ctx, decisionKey{}, d), req)
	if d.outcome == "" {
		d.outcome = Unchanged
		if len(resp.Patches) > 0 || len(resp.Patch) > 0 {
			d.outcome = Injected
		}
	}
	kind := req.Kind.Kind
	startAtZero(kind)
	duration.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	decisions.WithLabelValues(kind, string(d.outcome), string(d.reason)).Inc()
	return resp
}

// startAtZero creates a kind's counters at 0 the first time the kind is seen.
func startAtZero(kind string) {
	if _, seen := kindsSeen.LoadOrStore(kind, true); seen {
		return
	}
	for outcome, reasons := range Outcomes {
		for _, r := range reasons {
			decisions.WithLabelValues(kind, string(outcome), string(r))
		}
	}
}
