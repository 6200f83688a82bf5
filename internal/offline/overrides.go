package offline

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// Override is one of the workload's overrides a profile applies: the value the sidecar gets, and the profile's
// own, which the workload would have without it.
type Override struct {
	// Key is <sidecar>.<field>, as in the annotation sidecars.outrigger.dev/<key>.
	Key   string `json:"key"`
	Value string `json:"value"`
	// ProfileValue is the profile's value; "" when the profile sets none.
	ProfileValue string `json:"profileValue,omitempty"`
}

// String is the override as explain prints it.
func (o Override) String() string {
	was := "the profile sets none"
	if o.ProfileValue != "" {
		was = "the profile's: " + o.ProfileValue
	}
	return fmt.Sprintf("%s = %s (%s)", o.Key, o.Value, was)
}

// overridesOf lists the overrides applied (the engine's ProfileResult.Overrides) with the profile's values.
func overridesOf(spec *v1alpha1.SidecarProfileSpec, applied map[string]string) []Override {
	var out []Override
	for _, key := range slices.Sorted(maps.Keys(applied)) {
		out = append(out, Override{Key: key, Value: applied[key], ProfileValue: profileValue(spec, key)})
	}
	return out
}

// profileValue is what the profile's sidecar has at <sidecar>.<field>; "" for none.
func profileValue(spec *v1alpha1.SidecarProfileSpec, key string) string {
	sidecar, field, _ := strings.Cut(key, ".")
	i := slices.IndexFunc(spec.Sidecars, func(s v1alpha1.Sidecar) bool { return s.Name == sidecar })
	if i < 0 {
		return ""
	}
	c := spec.Sidecars[i].Container
	if env, ok := strings.CutPrefix(field, "env."); ok {
		for _, e := range c.Env {
			if e.Name == env {
				if e.ValueFrom != nil {
					return "(from valueFrom)"
				}
				return e.Value
			}
		}
		return ""
	}
	kind, res, _ := strings.Cut(field, ".")
	list := c.Resources.Requests
	if kind == "limits" {
		list = c.Resources.Limits
	}
	if q, ok := list[corev1.ResourceName(res)]; ok {
		return q.String()
	}
	return ""
}
