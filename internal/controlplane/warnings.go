package controlplane

import "sync"

// Warnings records the warnings the apiserver sends back (rest.Config.WarningHandler): deprecated APIs, unknown
// fields, the warnings of admission webhooks and of ValidatingAdmissionPolicies bound with Warn.
type Warnings struct {
	mu   sync.Mutex
	seen []string
}

// HandleWarningHeader records one warning.
func (w *Warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen = append(w.seen, text)
}

// Take returns the warnings recorded since the last Take, and forgets them.
func (w *Warnings) Take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.seen
	w.seen = nil
	return out
}
