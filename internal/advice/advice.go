// Package advice is what Outrigger tells a person about one workload without blocking anything: a native-sidecar
// pitfall (internal/pitfall), an override the profile does not allow. Advice never changes what is injected, nor
// the profile's Ready, Stalled or Degraded conditions. It reaches people four ways, all from the same values: an
// admission warning (internal/webhook; none in admission by policy, which has no webhook to answer), a Warning
// event on the workload and an entry of the profile's status.needsAttention (both by the profile reconciler), and
// a line of `outrigger explain` (internal/offline). internal/advisor gathers it for one workload.
package advice

import (
	"fmt"
	"sort"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
)

// Advice is something a person should change about one workload that blocks nothing: a native-sidecar
// pitfall, an override the profile does not allow.
type Advice struct {
	Profile inject.ProfileRef `json:"profile"`           // the profile concerned
	Sidecar string            `json:"sidecar,omitempty"` // the sidecar concerned, "" when none
	Reason  string            `json:"reason"`            // a v1alpha1 Reason constant (CamelCase)
	Message string            `json:"message"`           // what is wrong and what to change
}

// Subject names the profile, and the sidecar when there is one: `SidecarProfile/logs: sidecar "shipper"`.
func (a Advice) Subject() string {
	if a.Sidecar == "" {
		return a.Profile.String()
	}
	return fmt.Sprintf("%s: sidecar %q", a.Profile, a.Sidecar)
}

// String is the advice in one line, as events and `outrigger explain` print it: the subject, the message and
// the reason, which docs/pitfalls.md is searched by.
func (a Advice) String() string {
	return fmt.Sprintf("%s: %s (%s)", a.Subject(), a.Message, a.Reason)
}

// Warning is the advice as an admission warning, prefixed like the webhook's other warnings.
func (a Advice) Warning() string { return "Outrigger: " + a.String() }

// Warnings are the advice as admission warnings, in order.
func Warnings(all []Advice) []string {
	out := make([]string, 0, len(all))
	for _, a := range all {
		out = append(out, a.Warning())
	}
	return out
}

// About returns the advice about one profile, in order.
func About(all []Advice, ref inject.ProfileRef) []Advice {
	var out []Advice
	for _, a := range all {
		if a.Profile == ref {
			out = append(out, a)
		}
	}
	return out
}

// Sort orders advice by profile, sidecar and reason, so that every path (webhook, status, CLI) lists it alike
// and a status computed twice from the same observations is the same.
func Sort(all []Advice) {
	sort.SliceStable(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if a.Profile != b.Profile {
			return a.Profile.String() < b.Profile.String()
		}
		if a.Sidecar != b.Sidecar {
			return a.Sidecar < b.Sidecar
		}
		return a.Reason < b.Reason
	})
}

// IsReason reports whether a status reason is one of advice: such needsAttention entries rank below a sidecar
// problem and above what is left alone on purpose (internal/status), and never change a condition. A new kind of
// advice adds its reason here.
func IsReason(reason string) bool {
	switch reason {
	case v1alpha1.ReasonPodFailurePolicyMatchesSidecars, v1alpha1.ReasonStartupProbeInJob,
		v1alpha1.ReasonQuotaRefusesSidecars, v1alpha1.ReasonLimitRangeRefusesSidecars,
		v1alpha1.ReasonAutoscalerCountsSidecars, v1alpha1.ReasonGracePeriodTooShort, v1alpha1.ReasonOverrideRefused:
		return true
	}
	return false
}
