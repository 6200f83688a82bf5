package faults

import (
	"context"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// tracker watches the Deployments of a set, as any client of the apiserver sees them, to know how far the
// manager got: a Deployment it wrote has a higher generation than at the last checkpoint. It is what decides
// when to kill the manager.
type tracker struct {
	mu   sync.Mutex
	gen  map[string]int64 // Deployment key -> generation last seen
	stop chan struct{}
}

func startTracker(ctx context.Context, set string) (*tracker, error) {
	t := &tracker{gen: map[string]int64{}, stop: make(chan struct{})}
	f := informers.NewSharedInformerFactoryWithOptions(shared.cs, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = setLabel + "=" + set
	}))
	inf := f.Apps().V1().Deployments().Informer()
	observe := func(obj any) {
		if d, ok := obj.(*appsv1.Deployment); ok {
			t.mu.Lock()
			t.gen[key(d)] = d.Generation
			t.mu.Unlock()
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: observe, UpdateFunc: func(_, obj any) { observe(obj) },
	}); err != nil {
		return nil, err
	}
	f.Start(t.stop)
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		close(t.stop)
		return nil, fmt.Errorf("the tracker's informer did not sync: %w", ctx.Err())
	}
	return t, nil
}

func (t *tracker) close() { close(t.stop) }

// written counts the model's Deployments written since the last checkpoint.
func (t *tracker) written(m *model) int {
	n := 0
	for _, k := range m.keys() {
		tr := m.get(k)
		t.mu.Lock()
		g := t.gen[k]
		t.mu.Unlock()
		if g > tr.gen {
			n++
		}
	}
	return n
}

// waitWritten waits until at least n of the model's Deployments were written since the last checkpoint, polling
// every 5 ms so that a kill lands close to the fraction asked for, and returns how many were.
func (t *tracker) waitWritten(ctx context.Context, m *model, n int, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		got := t.written(m)
		if got >= n {
			return got, nil
		}
		if time.Now().After(deadline) {
			return got, fmt.Errorf("%d of the %d Deployment writes awaited seen after %s", got, n, timeout)
		}
		select {
		case <-ctx.Done():
			return got, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}
