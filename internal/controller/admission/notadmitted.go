package admission

import (
	"fmt"
	"strings"
	"sync"

	"github.com/outrigger-dev/outrigger/internal/admission/policy"
	"github.com/outrigger-dev/outrigger/internal/selection"
)

// NotAdmitted remembers, per profile, why an admission policy that should place it does not: the policy cannot be
// compiled within the apiserver's limits, or the apiserver refused it. Neither leaves anything a watch delivers or
// the profile reconciler could read (a policy that cannot be compiled is never written; one refused is not
// stored), so this memory is where the reason lives: the policy reconciler sets it at each compile, and the
// profile reconciler reads it into the profile's status.
type NotAdmitted struct {
	mu  sync.Mutex
	why map[profileKey]string
}

// profileKey names a profile across kinds and namespaces.
type profileKey struct{ kind, namespace, name string }

func keyOf(p selection.Profile) profileKey {
	return profileKey{selection.Ref(p).Kind, p.GetNamespace(), p.GetName()}
}

func keyOfListed(l policy.Listed) profileKey { return profileKey{l.Kind, l.Namespace, l.Name} }

// NewNotAdmitted returns an empty memory: every profile admitted.
func NewNotAdmitted() *NotAdmitted { return &NotAdmitted{why: map[profileKey]string{}} }

// For is why an admission policy that should place the profile does not, "" when every one does.
func (n *NotAdmitted) For(p selection.Profile) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.why[keyOf(p)]
}

// set replaces every profile's reason with those of problems (per profile, why each policy that should place it
// does not) and returns the profiles whose reason changed, with their new one ("" for none).
func (n *NotAdmitted) set(problems map[profileKey][]string) map[profileKey]string {
	why := map[profileKey]string{}
	for k, reasons := range problems {
		why[k] = reasons[0]
		if len(reasons) > 1 {
			why[k] += fmt.Sprintf(" (and %d more admission policies that should place it)", len(reasons)-1)
		}
		why[k] = shortened(why[k])
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	changed := map[profileKey]string{}
	for k, w := range why {
		if n.why[k] != w {
			changed[k] = w
		}
	}
	for k := range n.why {
		if _, ok := why[k]; !ok {
			changed[k] = ""
		}
	}
	n.why = why
	return changed
}

// maxReason is the longest reason kept: what a condition's message and an event's note take (1 KiB).
const maxReason = 1024

// shortened cuts a reason to maxReason bytes, on a character's boundary.
func shortened(s string) string {
	if len(s) <= maxReason {
		return s
	}
	return strings.ToValidUTF8(s[:maxReason-len("...")], "") + "..."
}
