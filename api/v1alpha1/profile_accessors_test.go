package v1alpha1

import "testing"

// An empty workloadKinds reaches the default kinds only: a kind added later must be listed to be reached.
func TestSelectsKind_EmptyMeansTheDefaultKindsOnly(t *testing.T) {
	for _, tc := range []struct {
		name  string
		kinds []WorkloadKind
		kind  WorkloadKind
		want  bool
	}{
		{"empty: a default kind", nil, KindCronJob, true},
		{"empty: a kind Outrigger learns later", nil, "StatefulSet", false},
		{"listed", []WorkloadKind{KindJob}, KindJob, true},
		{"not listed", []WorkloadKind{KindJob}, KindDeployment, false},
		{"a later kind, listed", []WorkloadKind{"StatefulSet"}, "StatefulSet", true},
	} {
		s := SidecarProfileSpec{WorkloadKinds: tc.kinds}
		if got := s.SelectsKind(tc.kind); got != tc.want {
			t.Errorf("%s: SelectsKind(%s) = %v, want %v", tc.name, tc.kind, got, tc.want)
		}
	}
}
