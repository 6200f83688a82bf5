package workload

import (
	"slices"
	"sync"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// Set is the kinds a manager serves now, safe for concurrent use: it grows when the CRD of a kind arrives while
// the manager runs, and the profile reconcilers read it on every reconcile.
type Set struct {
	mu    sync.RWMutex
	kinds []Kind
}

// NewSet returns a set of the given kinds.
func NewSet(kinds ...Kind) *Set { return &Set{kinds: slices.Clone(kinds)} }

// List returns the kinds, in the order they were added.
func (s *Set) List() []Kind {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.kinds)
}

// Add adds a kind, once.
func (s *Set) Add(k Kind) {
	s.mu.Lock()
	defer s.mu.Unlock()
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
