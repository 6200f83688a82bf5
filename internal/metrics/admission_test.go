package metrics

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

type handlerFunc func(context.Context, admission.Request) admission.Response

func (f handlerFunc) Handle(ctx context.Context, req admission.Request) admission.Response {
	return f(ctx, req)
}

func request(kind string) admission.Request {
	var req admission.Request
	req.Kind = metav1.GroupVersionKind{Group: "example.com", Version: "v1", Kind: kind}
	return req
}

func TestInstrumentAdmission_CountsTheDecisionTheHandlerRecords(t *testing.T) {
	patched := admission.Allowed("")
	patched.Patch = []byte(`[{"op": "add", "path": "/x", "value": 1}]`)
	for _, tc := range []struct {
		name    string
		kind    string
		handler handlerFunc
		outcome Outcome
		reason  Reason
	}{
		{"recorded skip", "SkipKind", func(ctx context.Context, _ admission.Request) admission.Response {
			Decide(ctx, Skipped, NoProfile)
			return admission.Allowed("")
		}, Skipped, NoProfile},
		{"the last record wins", "ErrorKind", func(ctx context.Context, _ admission.Request) admission.Response {
			Decide(ctx, Injected, None)
			Decide(ctx, Error, None)
			return admission.Allowed("")
		}, Error, None},
		{"nothing recorded, a patch", "PatchKind", func(context.Context, admission.Request) admission.Response {
			return patched
		}, Injected, None},
		{"nothing recorded, no patch", "PlainKind", func(context.Context, admission.Request) admission.Response {
			return admission.Allowed("")
		}, Unchanged, None},
	} {
		t.Run(tc.name, func(t *testing.T) {
			InstrumentAdmission(tc.handler).Handle(context.Background(), request(tc.kind))
			if got := testutil.ToFloat64(decisions.WithLabelValues(tc.kind, string(tc.outcome), string(tc.reason))); got != 1 {
				t.Errorf("%s %s/%s = %v, want 1", tc.kind, tc.outcome, tc.reason, got)
			}
			// Every other outcome of the kind is there, at 0, so that its first increase is seen.
			series := 0
			for outcome, reasons := range Outcomes {
				for _, r := range reasons {
					series++
					if outcome == tc.outcome && r == tc.reason {
						continue
					}
					if got := testutil.ToFloat64(decisions.WithLabelValues(tc.kind, string(outcome), string(r))); got != 0 {
						t.Errorf("%s %s/%s = %v, want 0", tc.kind, outcome, r, got)
					}
				}
			}
			if got := testutil.CollectAndCount(duration); got < 1 {
				t.Errorf("no %s series", AdmissionDuration)
			}
		})
	}
}

// Decide outside an instrumented handler (the handler's own tests, the CLI) does nothing, and does not panic.
func TestDecide_WithoutInstrumentationIsANoOp(t *testing.T) {
	Decide(context.Background(), Conflict, NameConflict)
}
