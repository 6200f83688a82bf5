package workload

import (
	"slices"
	"sync"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// Set is the kinds a manager serves now, safe for concurrent use: it grows when the CRD of a kind arrives while
// the manager runs, and the profile reconcilers read it on every reconcile. It also holds the kinds the manager
// refused to serve, with why, for the status of the profiles that list them.
type Set struct {
	mu      sync.RWMutex
	kinds   []Kind
	refused map[v1alpha1.WorkloadKind]string
}

// NewSet returns a set of the given kinds.
func NewSet(kinds ...Kind) *Set { return &Set{kinds: slices.Clone(kinds)} }

// List returns the kinds, in the order they were added.
func (s *Set) List() []Kind {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.kinds)
}

// Add adds a kind, once; a kind refused before is no longer.
func (s *Set) Add(k Kind) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.refused, k.Name)
	if !slices.ContainsFunc(s.kinds, func(have Kind) bool { return have.GVK == k.GVK }) {
		s.kinds = append(s.kinds, k)
	}
}

// ByName returns the kind of a name, if the set has it now.
func (s *Set) ByName(name v1alpha1.WorkloadKind) (Kind, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return Kinds(s.kinds).ByName(name)
}

// Refuse records that the manager does not serve a kind, and why (which entry of its configuration, what to fix).
func (s *Set) Refuse(name v1alpha1.WorkloadKind, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refused == nil {
		s.refused = map[v1alpha1.WorkloadKind]string{}
	}
	s.refused[name] = why
}

// Refusal says why the manager does not serve a kind it was configured with; false when it was not refused.
func (s *Set) Refusal(name v1alpha1.WorkloadKind) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	why, ok := s.refused[name]
	return why, ok
}
