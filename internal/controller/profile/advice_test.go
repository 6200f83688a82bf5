package profile

import (
	"strings"
	"testing"

	"k8s.io/client-go/tools/events"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/advice"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/status"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// Advice is told in an event when it shows, not again while the status it replaces lists it; a change of its
// message is new advice; a profile being deleted tells nothing.
func TestRecordAdvice_TellsOnlyWhatTheStatusDidNotList(t *testing.T) {
	ref := inject.ProfileRef{Kind: inject.KindSidecarProfile, Name: "logs"}
	probe := advice.Advice{Profile: ref, Sidecar: "proxy", Reason: v1alpha1.ReasonStartupProbeInJob, Message: "has a startupProbe"}
	web := status.WorkloadObservation{Kind: v1alpha1.KindDeployment, Namespace: "shop", Name: "web", UID: "u1", Selected: true,
		Advice: []advice.Advice{probe}}
	listed := status.AdviceEntry(web, probe)
	changed := listed
	changed.Message = "had a startupProbe"
	for _, tc := range []struct {
		name     string
		before   []v1alpha1.WorkloadAttention
		deleting bool
		selected bool
		want     int
	}{
		{"new advice", nil, false, true, 1},
		{"already listed", []v1alpha1.WorkloadAttention{listed}, false, true, 0},
		{"listed with another message", []v1alpha1.WorkloadAttention{changed}, false, true, 1},
		{"the profile is being deleted", nil, true, true, 0},
		{"the profile no longer selects it", nil, false, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := events.NewFakeRecorder(10)
			r := &Reconciler{Events: rec, Kinds: workload.NewSet()}
			r.Kinds.Add(workload.Deployment)
			w := web
			w.Selected = tc.selected
			r.recordAdvice(&v1alpha1.SidecarProfile{}, tc.before, status.Input{Deleting: tc.deleting, Workloads: []status.WorkloadObservation{w}})
			if got := len(rec.Events); got != tc.want {
				t.Fatalf("%d events, want %d", got, tc.want)
			}
			if tc.want == 1 {
				if e := <-rec.Events; !strings.HasPrefix(e, "Warning StartupProbeInJob "+`SidecarProfile/logs: sidecar "proxy": has a startupProbe`) {
					t.Errorf("event %q", e)
				}
			}
		})
	}
}
