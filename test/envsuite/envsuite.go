// Package envsuite is what the envtest suites (test/integration, test/admission) run beside Outrigger's manager on
// a real kube-apiserver: the part of kube-controller-manager that Outrigger reads (FinishRollouts), a count of the
// manager's writes to workloads (WriteCounter), and a namespace per test. It holds no test itself: both suites
// run the GitOps scenarios of test/gitops on it, each with the manager in its own admission mode.
package envsuite

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/internal/workload"
)

// NewNamespace creates a namespace of its own for one test, with labels.
func NewNamespace(t *testing.T, c client.Client, labels map[string]string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-", Labels: labels}}
	if err := c.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	return ns.Name
}

// WriteCounter counts the manager's successful writes to workloads, per namespace, from a transport around its
// requests (Wrap, as a rest.Config's WrapTransport). A write refused for a stale resourceVersion changes nothing
// and is not counted as a write, but as a conflict.
type WriteCounter struct {
	mu        sync.Mutex
	resources []string
	path      *regexp.Regexp // the API path of a workload of the resources, capturing its namespace
	counts    map[string]int
	conflicts map[string]int
}

// NewWriteCounter counts the writes to the workloads of every kind of the registry.
func NewWriteCounter() *WriteCounter {
	w := &WriteCounter{counts: map[string]int{}, conflicts: map[string]int{}}
	var resources []string
	for _, k := range workload.All {
		resources = append(resources, k.Resource)
	}
	w.AddResources(resources...)
	return w
}

// AddResources counts the writes to the workloads of more resources too (configured kinds').
func (w *WriteCounter) AddResources(resources ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.resources = append(w.resources, resources...)
	w.path = regexp.MustCompile(`/namespaces/([^/]+)/(` + strings.Join(w.resources, "|") + `)(/|$)`)
}

// Wrap returns rt, counting the writes it sends.
func (w *WriteCounter) Wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(req)
		if req.Method == http.MethodGet || err != nil || (resp.StatusCode >= 300 && resp.StatusCode != http.StatusConflict) {
			return resp, err
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if m := w.path.FindStringSubmatch(req.URL.Path); m != nil {
			if resp.StatusCode == http.StatusConflict {
				w.conflicts[m[1]]++
			} else {
				w.counts[m[1]]++
			}
		}
		return resp, err
	})
}

// In returns how many writes the manager made to workloads in a namespace.
func (w *WriteCounter) In(namespace string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.counts[namespace]
}

// ConflictsIn returns how many of the manager's writes to workloads in a namespace the apiserver refused with 409
// Conflict (a stale resourceVersion).
func (w *WriteCounter) ConflictsIn(namespace string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.conflicts[namespace]
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// ManualRolloutLabel opts a test's workload out of FinishRollouts, for tests that write its status themselves (a
// rollout in progress, a stuck one).
const ManualRolloutLabel = "test.outrigger.dev/rollout"

// FinishRollouts plays, for an envtest suite, the part of kube-controller-manager and the kubelets that Outrigger
// reads: every Deployment, StatefulSet, DaemonSet and Argo Rollout whose status lags its generation is reported as
// fully rolled out, as its controller would once its pods are available (a DaemonSet on one node). An OnDelete
// StatefulSet or DaemonSet is reported as its controller does: it replaces no pod, so only a workload created
// with its current template (generation 1) runs it. envtest runs no controllers, and without this no profile
// selecting these workloads could ever become Ready. It returns when ctx is done.
func FinishRollouts(ctx context.Context, c client.Client) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
		finish(ctx, c, &appsv1.DeploymentList{}, func(o client.Object) bool {
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
		finish(ctx, c, &appsv1.StatefulSetList{}, func(o client.Object) bool {
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
		finish(ctx, c, &appsv1.DaemonSetList{}, func(o client.Object) bool {
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
		// Argo Rollouts, once their CRD is installed (before, the list fails and nothing happens): Healthy, with the
		// new pods the stable ReplicaSet, as after a promotion.
		finish(ctx, c, workload.ArgoRollout.NewList(), func(o client.Object) bool {
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

// finish writes the status that done sets on every listed workload not labelled ManualRolloutLabel; done says
// whether there is anything to write.
func finish(ctx context.Context, c client.Client, list client.ObjectList, done func(client.Object) bool) {
	if err := c.List(ctx, list); err != nil {
		return
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return
	}
	for _, item := range items {
		o := item.(client.Object)
		if o.GetLabels()[ManualRolloutLabel] == "manual" || !done(o) {
			continue
		}
		_ = c.Status().Update(ctx, o) // a conflict is retried on the next tick
	}
}

func revision(generation int64) string { return fmt.Sprintf("rev-%d", generation) }
