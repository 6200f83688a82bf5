package admission

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/outrigger-dev/outrigger/internal/selection"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// A fleet's profiles: one small policy per team's namespace, which the apiserver takes and admits through soon
// after, for the last namespace's profile as for the first, with the cluster-wide profile too.
func TestPolicies_AFleetOfProfilesIsShardedByNamespace(t *testing.T) {
	const teams = 200
	var profiles []selection.Profile
	for i := range teams {
		ns := fmt.Sprintf("team-%03d", i)
		profiles = append(profiles, local(ns, "logs", sidecars("shipper"), volumes("logs"), mounts("logs", "/var/log/app")))
	}
	profiles = append(profiles, cluster("mesh", sidecars("proxy"), namespaceSelector("mesh", "on")))
	cs := compileProfiles(t, workload.Deployment, profiles)
	if len(cs) != teams+1 {
		t.Fatalf("%d policies, want one per team's namespace and one for the other namespaces", len(cs))
	}
	largest := 0
	for _, c := range cs {
		raw, _ := json.Marshal(c.Policy)
		largest = max(largest, len(raw))
	}
	t.Logf("%d profiles: %d policies, the largest %d KiB", len(profiles), len(cs), largest>>10)
	start := time.Now()
	for _, c := range cs {
		upsert(t, c.Policy)
		upsert(t, c.Binding)
	}
	t.Logf("writing them took %s", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	t.Cleanup(func() { deletePolicies(t) })
	last := fmt.Sprintf("team-%03d", teams-1)
	ensureNamespace(t, last, map[string]string{"mesh": "on"})
	waitForProbe(t, workload.Deployment, deployment(last), 3000, "shipper")
	waitForProbe(t, workload.Deployment, deployment(last), 3001, "proxy")
	t.Logf("the last namespace's policy admitted %s after the last write", time.Since(start).Round(time.Millisecond))
}
