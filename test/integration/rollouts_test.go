package integration

import (
	"context"
	"fmt"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/internal/workload"
)

// manualRolloutLabel opts a test's workload out of finishRollouts, for tests that write its status themselves
// (a rollout in progress, a stuck one).
const manualRolloutLabel = "test.outrigger.dev/rollout"

// finishRollouts plays, for the envtest suite, the part of kube-controller-manager and the kubelets that
// Outrigger reads: every Deployment, StatefulSet, DaemonSet and Argo Rollout whose status lags its generation is reported as
// fully rolled out, as its controller would once its pods are available (a DaemonSet on one node). An OnDelete
// StatefulSet or DaemonSet is reported as its controller does: it replaces no pod, so only a workload created
// with its current template (generation 1) runs it. envtest runs no controllers, and without this no profile
// selecting these workloads could ever become Ready. It returns when ctx is done.
func finishRollouts(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
		finish(ctx, &appsv1.DeploymentList{}, func(o client.Object) bool {
			d := o.(*appsv1.Deployment)
			if d.Status.ObservedGeneration == d.Generation {
				return false
			}
			replicas := ptr.Deref(d.Spec.Replicas, 1)
			d.Status = appsv1.DeploymentStatus{
				ObservedGeneration: d.Generation, Replicas: replicas, UpdatedReplicas: replicas,
				ReadyReplicas: replicas, AvailableReplicas: replicas,
			}
			return true
		})
		finish(ctx, &appsv1.StatefulSetList{}, func(o client.Object) bool {
			s := o.(*appsv1.StatefulSet)
			if s.Status.ObservedGeneration == s.Generation {
				return false
			}
			replicas := ptr.Deref(s.Spec.Replicas, 1)
			s.Status = appsv1.StatefulSetStatus{ObservedGeneration: s.Generation, Replicas: replicas, ReadyReplicas: replicas,
				AvailableReplicas: replicas, CurrentReplicas: replicas, UpdatedReplicas: replicas,
				CurrentRevision: revision(s.Generation), UpdateRevision: revision(s.Generation)}
			if s.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType && s.Generation > 1 {
				s.Status.CurrentRevision, s.Status.UpdatedReplicas = revision(1), 0
			}
			return true
		})
		finish(ctx, &appsv1.DaemonSetList{}, func(o client.Object) bool {
			d := o.(*appsv1.DaemonSet)
			if d.Status.ObservedGeneration == d.Generation {
				return false
			}
			d.Status = appsv1.DaemonSetStatus{ObservedGeneration: d.Generation, DesiredNumberScheduled: 1, CurrentNumberScheduled: 1,
				NumberReady: 1, NumberAvailable: 1, UpdatedNumberScheduled: 1}
			if d.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType && d.Generation > 1 {
				d.Status.UpdatedNumberScheduled = 0
			}
			return true
		})
		// Argo Rollouts, once a test installs its CRD (before, the list fails and nothing happens): Healthy, with
		// the new pods the stable ReplicaSet, as after a promotion.
		finish(ctx, workload.ArgoRollout.NewList(), func(o client.Object) bool {
			u := o.(*unstructured.Unstructured)
			generation := strconv.FormatInt(u.GetGeneration(), 10)
			if observed, _, _ := unstructured.NestedString(u.Object, "status", "observedGeneration"); observed == generation {
				return false
			}
			replicas, found, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
			if !found {
				replicas = 1
			}
			u.Object["status"] = map[string]any{"observedGeneration": generation, "phase": "Healthy",
				"replicas": replicas, "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
				"currentPodHash": revision(u.GetGeneration()), "stableRS": revision(u.GetGeneration())}
			return true
		})
	}
}

// finish writes the status that done sets on every listed workload not labelled manualRolloutLabel; done says
// whether there is anything to write.
func finish(ctx context.Context, list client.ObjectList, done func(client.Object) bool) {
	if err := k8s.List(ctx, list); err != nil {
		return
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return
	}
	for _, item := range items {
		o := item.(client.Object)
		if o.GetLabels()[manualRolloutLabel] == "manual" || !done(o) {
			continue
		}
		_ = k8s.Status().Update(ctx, o) // a conflict is retried on the next tick
	}
}

func revision(generation int64) string { return fmt.Sprintf("rev-%d", generation) }
