package admission

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/outrigger-dev/outrigger/internal/admission/policy"
	"github.com/outrigger-dev/outrigger/internal/selection"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// A fleet's profiles fit one policy per kind: the apiserver takes it (its size and CEL cost within limits) and
// admits through it, for the last namespace's profile as for the first.
func TestPolicies_AFleetOfProfilesFitsOnePolicy(t *testing.T) {
	const teams = 200
	var profiles []selection.Profile
	for i := range teams {
		ns := fmt.Sprintf("team-%03d", i)
		profiles = append(profiles, local(ns, "logs", sidecars("shipper"), volumes("logs"), mounts("logs", "/var/log/app")))
	}
	profiles = append(profiles, cluster("mesh", sidecars("proxy"), namespaceSelector("mesh", "on")))
	var compiled []policy.Profile
	for _, p := range profiles {
		c, err := policy.FromProfile(p, p.ProfileSpec())
		if err != nil {
			t.Fatal(err)
		}
		compiled = append(compiled, c)
	}
	c, _, err := policy.Compile(workload.Deployment, compiled, options)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(c.Policy)
	t.Logf("%d profiles: a policy of %d KiB, %d variables", len(profiles), len(raw)>>10, len(c.Policy.Spec.Variables))
	start := time.Now()
	upsert(t, c.Policy)
	upsert(t, c.Binding)
	t.Cleanup(func() { deletePolicies(t) })
	last := fmt.Sprintf("team-%03d", teams-1)
	ensureNamespace(t, last, map[string]string{"mesh": "on"})
	waitForProbe(t, workload.Deployment, deployment(last), 3000, "shipper")
	t.Logf("admitting through it %s after it was written", time.Since(start).Round(time.Millisecond))
}
