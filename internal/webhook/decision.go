package webhook

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/metrics"
	"github.com/outrigger-dev/outrigger/internal/mutation"
	"github.com/outrigger-dev/outrigger/internal/selection"
)

// decide records, for the admission metrics, what the engine's run on a workload decided.
func decide(ctx context.Context, obj client.Object, profiles []inject.Profile, m mutation.Mutation, protected selection.Protected) {
	outcome, reason := classify(obj, profiles, m, protected)
	metrics.Decide(ctx, outcome, reason)
}

// classify names the decision: a profile left out for a conflict outweighs what was done for the others, since
// that is what a person has to act on.
func classify(obj client.Object, profiles []inject.Profile, m mutation.Mutation, protected selection.Protected) (metrics.Outcome, metrics.Reason) {
	for _, p := range m.Profiles {
		if p.Outcome == inject.Conflicted {
			return metrics.Conflict, metrics.NameConflict
		}
	}
	switch {
	case len(m.Held) > 0:
		return metrics.Conflict, metrics.MissingVolume
	case m.Changed:
		return metrics.Injected, metrics.None
	case len(profiles) > 0:
		return metrics.Unchanged, metrics.None
	case selection.OptedOut(obj):
		return metrics.Skipped, metrics.OptedOut
	case protected.Has(obj.GetNamespace()):
		return metrics.Skipped, metrics.ProtectedNamespace
	}
	return metrics.Skipped, metrics.NoProfile
}

// decideNotServed records the skip of a request for a kind the manager does not serve, or of an update of a
// workload whose template cannot change.
func decideNotServed(ctx context.Context, served bool) {
	if !served {
		metrics.Decide(ctx, metrics.Skipped, metrics.KindNotServed)
		return
	}
	metrics.Decide(ctx, metrics.Skipped, metrics.TemplateImmutable)
}
