package profile

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/selection"
	"github.com/outrigger-dev/outrigger/internal/status"
)

// maxEventNote is the longest note the events API stores.
const maxEventNote = 1024

// recordAdvice records a Warning event on the workload for each piece of advice that the status it replaces did
// not list: advice is told once when it shows, not at every reconcile (a profile is reconciled again on every
// change of its pods). Advice beyond what needsAttention holds is recorded again at each reconcile; the events
// API folds those repeats into one event series, as it does the conflicts' (an update every 30 minutes at most).
// A manager that restarts does not tell again what its status already lists.
func (r *Reconciler) recordAdvice(p selection.Profile, before []v1alpha1.WorkloadAttention, in status.Input) {
	if in.Deleting {
		return
	}
	listed := map[v1alpha1.WorkloadAttention]bool{}
	for _, a := range before {
		a.Since = nil
		listed[a] = true
	}
	for _, w := range in.Workloads {
		if !w.Selected || len(w.Advice) == 0 {
			continue
		}
		kind, ok := r.Kinds.ByName(w.Kind)
		if !ok {
			continue
		}
		ref := &corev1.ObjectReference{APIVersion: kind.GVK.GroupVersion().String(), Kind: kind.GVK.Kind,
			Namespace: w.Namespace, Name: w.Name, UID: w.UID}
		for _, a := range w.Advice {
			if listed[status.AdviceEntry(w, a)] {
				continue
			}
			r.Events.Eventf(ref, p, corev1.EventTypeWarning, a.Reason, "Advise", "%s", status.Truncate(a.String(), maxEventNote))
		}
	}
}
