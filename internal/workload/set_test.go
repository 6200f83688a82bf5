package workload

import "testing"

// A refused kind is reported until the kind is served; a kind never refused has no refusal.
func TestSet_RefusalLastsUntilTheKindIsServed(t *testing.T) {
	s := NewSet(Deployment)
	if _, ok := s.Refusal(StatefulSet.Name); ok {
		t.Fatalf("a kind never refused has a refusal")
	}
	s.Refuse(StatefulSet.Name, "kinds[0]: no field template")
	if why, ok := s.Refusal(StatefulSet.Name); !ok || why != "kinds[0]: no field template" {
		t.Fatalf("Refusal = %q, %v", why, ok)
	}
	if _, ok := s.ByName(StatefulSet.Name); ok {
		t.Fatalf("a refused kind is served")
	}
	s.Add(StatefulSet)
	if _, ok := s.Refusal(StatefulSet.Name); ok {
		t.Fatalf("a served kind is still refused")
	}
}
