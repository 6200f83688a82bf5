package profile

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/selection"
	"github.com/outrigger-dev/outrigger/internal/status"
)

// The profile's revisions are ControllerRevisions it owns (created and pruned; never updated, as a revision's
// content is what its name hashes).
// +kubebuilder:rbac:groups=apps,resources=controllerrevisions,verbs=get;list;watch;create;delete

// keepRevisions stores the current revision, which the status may name as the candidate, before the status does,
// and prunes the history, keeping the stable and candidate revisions.
func (r *Reconciler) keepRevisions(ctx context.Context, p selection.Profile, in status.Input, st v1alpha1.SidecarProfileStatus) error {
	if in.Deleting || in.SpecError != nil {
		return nil
	}
	gvk, err := apiutil.GVKForObject(p, r.Scheme())
	if err != nil {
		return err
	}
	var keep []string
	if st.Rollout != nil {
		keep = []string{st.Rollout.StableRevision, st.Rollout.CandidateRevision}
	}
	return r.Revisions.Keep(ctx, p, metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind}, in.Revision, keep...)
}

// recordRolloutEvents tells, on the profile, when a wave opened, the rollout completed or halted.
func (r *Reconciler) recordRolloutEvents(p selection.Profile, old, now *v1alpha1.RolloutStatus) {
	if now == nil || r.Events == nil {
		return
	}
	was := v1alpha1.RolloutStatus{}
	if old != nil {
		was = *old
	}
	switch {
	case now.Halted != "" && (was.Halted == "" || was.CandidateRevision != now.CandidateRevision):
		r.Events.Eventf(p, nil, corev1.EventTypeWarning, v1alpha1.EventRolloutHalted, "Rollout", "revision %s: %s", now.CandidateRevision, now.Halted)
	case now.CandidateRevision != "" && now.Wave > 0 && (now.Wave != was.Wave || now.CandidateRevision != was.CandidateRevision):
		r.Events.Eventf(p, nil, corev1.EventTypeNormal, v1alpha1.EventWaveOpened, "Rollout", "revision %s: wave %d of %d opened", now.CandidateRevision, now.Wave, now.Waves)
	case was.CandidateRevision != "" && now.CandidateRevision == "" && now.StableRevision == was.CandidateRevision:
		r.Events.Eventf(p, nil, corev1.EventTypeNormal, v1alpha1.EventRolledOut, "Rollout", "revision %s reached every workload and is stable", now.StableRevision)
	}
}
