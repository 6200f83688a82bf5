//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// profileState is one status of a profile, as a watch saw it.
type profileState struct {
	at                 time.Time
	deleted            bool
	generation         int64
	observedGeneration int64
	ready, reconciling metav1.Condition
}

func (s profileState) String() string {
	if s.deleted {
		return s.at.Format("15:04:05.000") + " deleted"
	}
	return fmt.Sprintf("%s gen %d observed %d Ready=%s/%s Reconciling=%s/%s", s.at.Format("15:04:05.000"), s.generation,
		s.observedGeneration, s.ready.Status, s.ready.Reason, s.reconciling.Status, s.reconciling.Reason)
}

// profileHistory records every status of the profiles of a namespace from now on, as a watch delivers them.
type profileHistory struct {
	mu     sync.Mutex
	states []profileState
}

func (k *cluster) watchProfiles(t *testing.T, ns string) *profileHistory {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w, err := k.Watch(ctx, &v1alpha1.SidecarProfileList{}, client.InNamespace(ns))
	if err != nil {
		t.Fatalf("watching the profiles: %v", err)
	}
	h := &profileHistory{}
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*v1alpha1.SidecarProfile)
			if !ok {
				continue
			}
			s := profileState{at: time.Now(), deleted: ev.Type == watch.Deleted, generation: p.Generation,
				observedGeneration: p.Status.ObservedGeneration,
				ready:              condition(p, v1alpha1.ConditionReady), reconciling: condition(p, v1alpha1.ConditionReconciling)}
			h.mu.Lock()
			h.states = append(h.states, s)
			h.mu.Unlock()
		}
	}()
	return h
}

// first returns the index of the first state that satisfies pred, -1 if none does yet.
func (h *profileHistory) first(pred func(profileState) bool) (int, profileState) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, s := range h.states {
		if pred(s) {
			return i, s
		}
	}
	return -1, profileState{}
}

func (h *profileHistory) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	for _, s := range h.states {
		b.WriteString("  " + s.String() + "\n")
	}
	return b.String()
}

// deploymentDone reports whether the Deployment's rollout is complete: every replica updated and available.
func deploymentDone(d *appsv1.Deployment) bool {
	want := ptr.Deref(d.Spec.Replicas, 1)
	s := d.Status
	return s.ObservedGeneration >= d.Generation && s.Replicas == want && s.UpdatedReplicas == want && s.AvailableReplicas == want
}

// Issue item 5: changing a profile's sidecar image rolls the Deployment out; the profile goes Reconciling, then
// Ready, and by then every pod runs the new revision (the hash in the pod's sidecars.outrigger.dev/injection
// annotation) with the new image. Deleting the profile rolls the sidecar away again.
func TestProfileChangeRollsOutAndDeletionRollsBack(t *testing.T) {
	t.Parallel()
	k := connect(t)
	ns := k.namespace(t, "rollout")
	ctx := context.Background()
	const replicas = 2

	profile := k.createProfile(t, ns, "agent", v1alpha1.SidecarProfileSpec{
		Selector: selectApp("web"),
		Sidecars: []v1alpha1.Sidecar{sidecar("agent", idleScript("agent started"))},
	})
	d := deployment(ns, "web", replicas, app(idleScript("app started")))
	d.Spec.Template.Spec.TerminationGracePeriodSeconds = ptr.To[int64](1)
	if err := k.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	oldHash := injectedHash(t, d.Spec.Template.Annotations, "agent")
	if oldHash == "" {
		t.Fatalf("the Deployment as created carries no injection of profile agent: %v", d.Spec.Template.Annotations)
	}
	for _, p := range k.readyPods(t, ns, "web", replicas) {
		if h := injectedHash(t, p.Annotations, "agent"); h != oldHash {
			t.Fatalf("pod %s has revision %q of profile agent, want %q", p.Name, h, oldHash)
		}
	}
	waitFor(t, 60*time.Second, "profile agent Ready", func(ctx context.Context) (bool, string, error) {
		err := k.Get(ctx, client.ObjectKeyFromObject(profile), profile)
		c := condition(profile, v1alpha1.ConditionReady)
		return err == nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == profile.Generation, conditionsString(profile), err
	})

	history := k.watchProfiles(t, ns)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the profile's statuses, as watched:\n%s", history)
		}
	})

	// The change: another image for the sidecar.
	patch := client.MergeFrom(profile.DeepCopy())
	profile.Spec.Sidecars[0].Image = busybox2
	changed := time.Now()
	if err := k.Patch(ctx, profile, patch); err != nil {
		t.Fatal(err)
	}
	gen := profile.Generation
	var readyAt profileState
	waitFor(t, 2*time.Minute, "profile agent Ready for the new generation", func(context.Context) (bool, string, error) {
		var i int
		i, readyAt = history.first(func(s profileState) bool {
			return s.observedGeneration == gen && s.ready.Status == metav1.ConditionTrue && s.ready.ObservedGeneration == gen
		})
		return i >= 0, "history:\n" + history.String(), nil
	})
	// Right when Ready: the Deployment is rolled out and every pod it keeps runs the new revision.
	if err := k.Get(ctx, client.ObjectKeyFromObject(d), d); err != nil {
		t.Fatal(err)
	}
	pods, err := k.pods(ctx, ns, "web", true)
	if err != nil {
		t.Fatal(err)
	}
	newHash := injectedHash(t, d.Spec.Template.Annotations, "agent")
	if newHash == "" || newHash == oldHash {
		t.Fatalf("the Deployment's template carries revision %q of profile agent after the change, want a new one (was %q)", newHash, oldHash)
	}
	if !deploymentDone(d) {
		t.Errorf("profile Ready but the Deployment is not rolled out: %+v", d.Status)
	}
	if len(pods) != replicas {
		t.Errorf("profile Ready with %d live pods, want %d: %s", len(pods), replicas, podsState(pods, nil))
	}
	for _, p := range pods {
		if h := injectedHash(t, p.Annotations, "agent"); h != newHash {
			t.Errorf("profile Ready but pod %s has revision %q, want %q", p.Name, h, newHash)
		}
		// The spec, not the status: both tags are one image, which the runtime reports by its first tag.
		image := ""
		for _, c := range p.Spec.InitContainers {
			if c.Name == "agent" {
				image = c.Image
			}
		}
		if s, ok := containerStatus(&p, "agent"); !ok || !s.Ready || image != busybox2 {
			t.Errorf("pod %s: agent ready %v with image %q, want ready with %s", p.Name, s.Ready, image, busybox2)
		}
	}
	// On the way: Reconciling=True for the new generation, before Ready.
	reconciling, rec := history.first(func(s profileState) bool {
		return s.observedGeneration == gen && s.reconciling.Status == metav1.ConditionTrue
	})
	readyIndex, _ := history.first(func(s profileState) bool { return s == readyAt })
	if reconciling < 0 || reconciling > readyIndex {
		t.Errorf("the profile was never Reconciling for generation %d before Ready; history:\n%s", gen, history)
	} else {
		t.Logf("changed at %s; Reconciling (%s) at +%v; Ready at +%v; statuses:\n%s", changed.Format("15:04:05.000"),
			rec.reconciling.Reason, rec.at.Sub(changed).Round(time.Millisecond), readyAt.at.Sub(changed).Round(time.Millisecond), history)
	}

	// The removal: the profile's finalizer holds it until its sidecars are gone from the Deployment.
	deleted := time.Now()
	if err := k.Delete(ctx, profile); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Minute, "profile agent gone", func(ctx context.Context) (bool, string, error) {
		err := k.Get(ctx, client.ObjectKeyFromObject(profile), profile)
		return isNotFound(err), conditionsString(profile), nil
	})
	t.Logf("profile deleted -> gone in %v", time.Since(deleted).Round(time.Millisecond))
	waitFor(t, 2*time.Minute, "the Deployment rolled out without the sidecar", func(ctx context.Context) (bool, string, error) {
		if err := k.Get(ctx, client.ObjectKeyFromObject(d), d); err != nil {
			return false, err.Error(), nil
		}
		if names := sidecarNames(&d.Spec.Template.Spec); len(names) > 0 {
			return false, fmt.Sprintf("the template still has sidecars %v", names), nil
		}
		pods, err = k.pods(ctx, ns, "web", true)
		if err != nil {
			return false, err.Error(), nil
		}
		clean := len(pods) == replicas
		for _, p := range pods {
			clean = clean && len(p.Spec.InitContainers) == 0 && podReady(&p)
		}
		return deploymentDone(d) && clean, podsState(pods, nil), nil
	})
	if h := injectedHash(t, d.Spec.Template.Annotations, "agent"); h != "" {
		t.Errorf("the template still records profile agent (revision %s)", h)
	}
	for _, p := range pods {
		if names := slices.Collect(func(yield func(string) bool) {
			for _, c := range p.Spec.Containers {
				if !yield(c.Name) {
					return
				}
			}
		}); !slices.Equal(names, []string{"app"}) {
			t.Errorf("pod %s has containers %v, want [app]", p.Name, names)
		}
	}
	t.Logf("profile deleted -> Deployment rolled out without the sidecar in %v", time.Since(deleted).Round(time.Millisecond))
}
