package controllers

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// workloadID names a workload across kinds.
type workloadID struct {
	Kind v1alpha1.WorkloadKind
	types.NamespacedName
}

// Failures remembers, per workload, why the apiserver refused Outrigger's last write (or why the workload's
// injection record cannot be read), so that profile status can name the workload and the answer. The apiserver
// keeps no trace of a refused patch, so this memory is the only place the reason lives.
type Failures struct {
	mu sync.Mutex
	m  map[workloadID]string
}

// NewFailures returns an empty store.
func NewFailures() *Failures { return &Failures{m: map[workloadID]string{}} }

// Set records the failure of the last write to a workload.
func (f *Failures) Set(id workloadID, msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[id] = msg
}

// Clear forgets a workload's failure once it is written, or already right.
func (f *Failures) Clear(id workloadID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m, id)
}

// Get returns the recorded failure of a workload, or "".
func (f *Failures) Get(id workloadID) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m[id]
}
