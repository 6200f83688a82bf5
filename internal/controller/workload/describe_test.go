package workload

import (
	"testing"

	"github.com/outrigger-dev/outrigger/internal/inject"
)

func TestDescribe_NamesWhatAWriteDidPerProfile(t *testing.T) {
	logs := inject.ProfileRef{Kind: inject.KindSidecarProfile, Name: "logs"}
	mesh := inject.ProfileRef{Kind: inject.KindClusterSidecarProfile, Name: "mesh"}
	for _, tc := range []struct {
		name               string
		changes            []change
		wantReason, wantNo string
	}{
		{"one injection", []change{{logs, "Injected"}}, "Injected", "injected sidecars of SidecarProfile/logs"},
		// A profile whose sidecars a write only carried along was not repaired: the note does not say so.
		{"injection carrying another profile along", []change{{logs, "Repaired"}, {mesh, "Injected"}},
			"Injected", "injected sidecars of ClusterSidecarProfile/mesh"},
		{"update and removal", []change{{logs, "Removed"}, {mesh, "Updated"}},
			"Updated", "updated sidecars of ClusterSidecarProfile/mesh; removed sidecars of SidecarProfile/logs"},
		{"repair only", []change{{logs, "Repaired"}}, "Repaired", "repaired sidecars of SidecarProfile/logs"},
	} {
		reason, note := describe(tc.changes)
		if reason != tc.wantReason || note != tc.wantNo {
			t.Errorf("%s: got %q %q, want %q %q", tc.name, reason, note, tc.wantReason, tc.wantNo)
		}
	}
}
