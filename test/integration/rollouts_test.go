package integration

import (
	"context"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/utils/ptr"
)

// manualRolloutLabel opts a test's Deployment out of finishRollouts, for tests that write its status themselves
// (a rollout in progress, a stuck one).
const manualRolloutLabel = "test.outrigger.dev/rollout"

// finishRollouts plays, for the envtest suite, the part of kube-controller-manager and the kubelets that
// Outrigger reads: every Deployment whose status lags its generation is reported as fully rolled out, as the
// deployment controller would once its pods are available. envtest runs no controllers, and without this no
// profile selecting a Deployment could ever become Ready. It returns when ctx is done.
func finishRollouts(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
		var list appsv1.DeploymentList
		if err := k8s.List(ctx, &list); err != nil {
			continue
		}
		for i := range list.Items {
			d := &list.Items[i]
			if d.Labels[manualRolloutLabel] == "manual" || d.Status.ObservedGeneration == d.Generation {
				continue
			}
			replicas := ptr.Deref(d.Spec.Replicas, 1)
			d.Status = appsv1.DeploymentStatus{
				ObservedGeneration: d.Generation, Replicas: replicas, UpdatedReplicas: replicas,
				ReadyReplicas: replicas, AvailableReplicas: replicas,
			}
			_ = k8s.Status().Update(ctx, d) // a conflict is retried on the next tick
		}
	}
}
