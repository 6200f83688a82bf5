package profile

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// StatusCoalesceWindow is the least time a profile's status waits after a change to one of its workloads or pods
// before it is computed again. Computing it looks at every workload the profile selects; without the wait, a
// burst of changes (a new profile injecting thousands of workloads, a rollout of hundreds of pods) would compute
// it once per change, and take CPU from the writes themselves. Changes within the window share one computation.
const StatusCoalesceWindow = time.Second

// statusCostFactor spaces a profile's status computations by their own cost: after one that took d, the next
// waits at least d*statusCostFactor. So computing statuses takes at most about a tenth of a core, however many
// workloads a profile selects (a profile over 5,000 Deployments took about 0.2 s: its status follows within 2 s).
const statusCostFactor = 10

// statusPacer remembers what each profile's last status computation cost, to space the next.
type statusPacer struct {
	mu   sync.Mutex
	cost map[types.NamespacedName]time.Duration
}

func newStatusPacer() *statusPacer {
	return &statusPacer{cost: map[types.NamespacedName]time.Duration{}}
}

// record notes what computing a profile's status took.
func (p *statusPacer) record(profile types.NamespacedName, took time.Duration) {
	if p == nil {
		return // a reconciler not set up with a manager, as in a unit test
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cost[profile] = took
}

// forget drops a profile that is gone.
func (p *statusPacer) forget(profile types.NamespacedName) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.cost, profile)
}

// window is how long a change waits before the profile's status is computed again.
func (p *statusPacer) window(profile types.NamespacedName) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return max(StatusCoalesceWindow, statusCostFactor*p.cost[profile])
}

// coalesced is EnqueueRequestsFromMapFunc, except that it enqueues after the pacer's window: the queue keeps an
// item's earliest time, so every event of a burst lands in the same reconcile.
type coalesced struct {
	mapFn handler.MapFunc
	pacer *statusPacer
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
			q.AddAfter(req, h.pacer.window(req.NamespacedName))
		}
	}
}
