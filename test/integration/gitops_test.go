package integration

import (
	"testing"

	"github.com/outrigger-dev/outrigger/test/gitops"
)

// Flux and Argo CD re-apply, diff, opt out and replace workloads the webhook injected, and keep their sidecars
// and generation (the scenarios of test/gitops, with the manager and its webhook in this suite's process; its
// outage stops both). test/admission runs the same scenarios with the manager in policy mode.
func TestGitOps_WithTheWebhook(t *testing.T) {
	c := &gitops.Cluster{Mode: gitops.Webhook, Env: testEnv, Client: k8s, Writes: writes,
		StopManager: stopManager, StartManager: startManager, InstallRolloutCRD: installRolloutCRD}
	for _, s := range gitops.Scenarios {
		t.Run(s.Name, func(t *testing.T) { s.Run(t, c) })
	}
}
