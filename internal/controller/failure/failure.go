// Package failure remembers, per workload, why Outrigger's last attempt to bring it to what its profiles say
// failed: a refused write, a failed read, an unreadable injection record. The apiserver keeps no trace of a
// refused patch, so this memory is the only place the reason lives; the workload reconciler writes it and the
// profile reconciler reads it into status.
package failure

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/status"
)

// ID names a workload across kinds.
type ID struct {
	Kind v1alpha1.WorkloadKind
	types.NamespacedName
}

// Store holds the last failure of each workload.
type Store struct {
	mu sync.Mutex
	m  map[ID]status.Failure
}

// NewStore returns an empty store.
func NewStore() *Store { return &Store{m: map[ID]status.Failure{}} }

// Set records why the last attempt on a workload failed: reason is v1alpha1.ReasonWriteFailed,
// ReasonReadFailed or ReasonInvalidRecord.
func (s *Store) Set(id ID, reason string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[id] = status.Failure{Reason: reason, Message: err.Error()}
}

// Clear forgets a workload's failure once it is written, or already right, or gone.
func (s *Store) Clear(id ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

// Get returns the recorded failure of a workload; its Reason is "" when there is none.
func (s *Store) Get(id ID) status.Failure {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[id]
}
