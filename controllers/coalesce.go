package controllers

import (
	"context"
	"time"

	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// StatusCoalesceWindow is how long a profile's status waits after a change to one of its workloads or pods
// before it is computed again. Computing it looks at every workload the profile selects; without the wait, a
// burst of changes (a new profile injecting thousands of workloads, a rollout of hundreds of pods) would compute
// it once per change, and take CPU from the writes themselves. Changes within the window share one computation.
const StatusCoalesceWindow = time.Second

// coalesced is EnqueueRequestsFromMapFunc, except that it enqueues after StatusCoalesceWindow: the queue keeps
// an item's earliest time, so every event of a burst lands in the same reconcile.
type coalesced struct {
	mapFn handler.MapFunc
}

var _ handler.EventHandler = coalesced{}

func (h coalesced) Create(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.add(ctx, q, e.Object)
}

func (h coalesced) Update(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.add(ctx, q, e.ObjectOld, e.ObjectNew)
}

func (h coalesced) Delete(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.add(ctx, q, e.Object)
}

func (h coalesced) Generic(ctx context.Context, e event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.add(ctx, q, e.Object)
}

func (h coalesced) add(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request], objs ...client.Object) {
	for _, obj := range objs {
		for _, req := range h.mapFn(ctx, obj) {
			q.AddAfter(req, StatusCoalesceWindow)
		}
	}
}
