package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// tracker watches the workloads (of one kind) of the measured sets and knows, for each, whether its template
// carries a profile's sidecars at a revision: what "converged" means, seen as any client of the apiserver sees it.
type tracker struct {
	kind    workload.Kind
	mu      sync.Mutex
	carried map[string]map[string]string // set -> workload key -> recorded revision of the set's profile
	ref     map[string]inject.ProfileRef // set -> the profile that injects it
	stop    chan struct{}
}

func startTracker(ctx context.Context, cs kubernetes.Interface, kind workload.Kind, refs map[string]inject.ProfileRef) (*tracker, error) {
	t := &tracker{kind: kind, carried: map[string]map[string]string{}, ref: refs, stop: make(chan struct{})}
	for set := range refs {
		t.carried[set] = map[string]string{}
	}
	f := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = fmt.Sprintf("%s in (%s,%s)", setLabel, setBare, setOutrigger)
	}))
	gi, err := f.ForResource(kind.GVK.GroupVersion().WithResource(kind.Resource))
	if err != nil {
		return nil, err
	}
	inf := gi.Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    t.observe,
		UpdateFunc: func(_, obj any) { t.observe(obj) },
		DeleteFunc: func(obj any) {
			if o, ok := obj.(client.Object); ok {
				t.mu.Lock()
				delete(t.carried[o.GetLabels()[setLabel]], o.GetNamespace()+"/"+o.GetName())
				t.mu.Unlock()
			}
		},
	}); err != nil {
		return nil, err
	}
	f.Start(t.stop)
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return nil, fmt.Errorf("the tracker's informer did not sync: %w", ctx.Err())
	}
	return t, nil
}

func (t *tracker) observe(obj any) {
	o, ok := obj.(client.Object)
	if !ok {
		return
	}
	set := o.GetLabels()[setLabel]
	tmpl := t.kind.Template(o)
	if set == setBare {
		tmpl = asOutriggers(tmpl)
	}
	rec, err := inject.ReadRecord(tmpl)
	rev := ""
	if e, ok := rec.Entry(t.ref[set]); err == nil && ok {
		rev = e.Hash
	}
	t.mu.Lock()
	t.carried[set][o.GetNamespace()+"/"+o.GetName()] = rev
	t.mu.Unlock()
}

// count is how many workloads of a set carry revision rev ("" counts those that carry nothing).
func (t *tracker) count(set, rev string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, r := range t.carried[set] {
		if r == rev {
			n++
		}
	}
	return n
}

// waitFor waits until n workloads of a set carry rev, and returns when that was seen (polled every 20 ms).
func (t *tracker) waitFor(ctx context.Context, set, rev string, n int, timeout time.Duration) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if t.count(set, rev) >= n {
			return time.Now(), nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("%d of %d %s of set %s carry revision %q after %s", t.count(set, rev), n, plural(t.kind), set, rev, timeout)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (t *tracker) close() { close(t.stop) }
