package admission

import (
	"context"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/admission/policy"
	"github.com/outrigger-dev/outrigger/internal/controlplane"
	"github.com/outrigger-dev/outrigger/internal/manager"
	"github.com/outrigger-dev/outrigger/test/envsuite"
	"github.com/outrigger-dev/outrigger/test/gitops"
)

// Flux and Argo CD re-apply, diff, opt out and replace workloads the policies injected, and keep their sidecars
// and generation as with the webhook: the scenarios of test/gitops, which test/integration runs with the webhook,
// here with the manager in policy mode, in this process. Its outage stops the manager only: the policies it
// wrote keep injecting.
func TestGitOps_WithThePolicies(t *testing.T) {
	c := policyModeCluster(t)
	for _, s := range gitops.Scenarios {
		t.Run(s.Name, func(t *testing.T) { s.Run(t, c) })
	}
}

// policyModeCluster starts the manager in policy mode as its ServiceAccount (the rights config/default grants it),
// with its writes to workloads counted, and the part of kube-controller-manager Outrigger reads. When the test is
// done, it deletes the scenarios' profiles and waits until the manager has released them and deleted their
// policies, so the tests after it start from a cluster without either.
func policyModeCluster(t *testing.T) *gitops.Cluster {
	ctx := context.Background()
	if err := env.InstallManagerRBAC(ctx); err != nil {
		t.Fatalf("the manager's RBAC: %v", err)
	}
	writes := envsuite.NewWriteCounter()
	var mgr *controlplane.InProcessManager
	start := func() error {
		mcfg := env.ManagerConfig()
		mcfg.WrapTransport = writes.Wrap
		m, err := controlplane.StartInProcessManager(ctx, env, mcfg, manager.Options{NormalEvents: true, Admission: manager.AdmissionPolicy})
		if err != nil {
			return err
		}
		mgr = m
		ready, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		return m.WaitReady(ready)
	}
	stop := func() {
		if err := mgr.Stop(); err != nil {
			t.Errorf("stopping the manager: %v", err)
		}
	}
	if err := start(); err != nil {
		t.Fatalf("starting the manager in policy mode: %v", err)
	}
	rollouts, stopRollouts := context.WithCancel(ctx)
	go envsuite.FinishRollouts(rollouts, k8s)
	c := &gitops.Cluster{Mode: gitops.Policy, Env: env, Client: k8s, Writes: writes, StopManager: stop, StartManager: start,
		InstallRolloutCRD: func() error { return nil }} // run installs it (installKindsOutsideTheScheme)
	t.Cleanup(func() {
		defer stopRollouts()
		defer stop()
		for _, ns := range c.Namespaces() {
			if err := k8s.DeleteAllOf(ctx, &v1alpha1.SidecarProfile{}, client.InNamespace(ns)); err != nil {
				t.Errorf("deleting the profiles of %s: %v", ns, err)
			}
		}
		waitFor(t, "the scenarios' profiles and their policies to be gone", func() bool {
			var profiles v1alpha1.SidecarProfileList
			var cluster v1alpha1.ClusterSidecarProfileList
			var policies admissionregistrationv1.MutatingAdmissionPolicyList
			return k8s.List(ctx, &profiles) == nil && len(profiles.Items) == 0 &&
				k8s.List(ctx, &cluster) == nil && len(cluster.Items) == 0 &&
				k8s.List(ctx, &policies, client.MatchingLabels{policy.ManagedByLabel: policy.ManagedBy}) == nil && len(policies.Items) == 0
		})
	})
	return c
}
