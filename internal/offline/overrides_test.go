package offline

import (
	"strings"
	"testing"
)

// overridableProfile is a SidecarProfile "logs" with a sidecar "logs" of 128Mi of memory, whose memory limit
// (at most 1Gi) and LOG_LEVEL a workload may override.
const overridableProfile = `apiVersion: sidecars.outrigger.dev/v1alpha1
kind: SidecarProfile
metadata:
  name: logs
  namespace: default
spec:
  selector: {matchLabels: {app: web}}
  sidecars:
  - name: logs
    image: logs:1
    resources: {limits: {memory: 128Mi}}
  overrides:
  - sidecar: logs
    resources: [{name: limits.memory, max: 1Gi}]
    env: [LOG_LEVEL]
`

func TestExplain_ShowsTheEffectiveValuesOfOverrides(t *testing.T) {
	web := strings.Replace(deployment("web", "default", "app: web"), "  labels: {app: web}",
		"  labels: {app: web}\n  annotations:\n    sidecars.outrigger.dev/logs.limits.memory: 512Mi\n"+
			"    sidecars.outrigger.dev/logs.env.LOG_LEVEL: debug\n    sidecars.outrigger.dev/logs.limits.cpu: \"2\"\n"+
			"    sidecars.outrigger.dev/log.limits.cpu: \"2\"", 1)
	res := mustPredict(t, web, overridableProfile)
	var out strings.Builder
	if err := WriteExplanation(&out, res.Workloads, "text"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"      override: logs.env.LOG_LEVEL = debug (the profile sets none)\n",
		"      override: logs.limits.memory = 512Mi (the profile's: 128Mi)\n",
		`  advice: SidecarProfile/logs: sidecar "logs": annotation sidecars.outrigger.dev/logs.limits.cpu="2": the profile does not allow`,
		"; the sidecar keeps the profile's value (OverrideRefused)\n",
		`  warning: annotation sidecars.outrigger.dev/log.limits.cpu="2": no profile that selects the workload has a sidecar "log": fix the sidecar's name in the annotation` + "\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("explain does not say\n%s\nin:\n%s", want, out.String())
		}
	}
}
