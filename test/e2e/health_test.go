//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// failingProbe always fails, once a second.
func failingProbe(failureThreshold int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:     corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "exit 1"}}},
		PeriodSeconds:    1,
		FailureThreshold: failureThreshold,
	}
}

// waitDegraded waits until the profile reports Degraded=True with the reason, and a needsAttention entry with the
// reason naming the Deployment and the sidecar; it returns that entry.
func (k *cluster) waitDegraded(t *testing.T, ns, profile, workload, sidecarName, reason string) v1alpha1.WorkloadAttention {
	t.Helper()
	p := &v1alpha1.SidecarProfile{}
	var entry v1alpha1.WorkloadAttention
	waitFor(t, 90*time.Second, fmt.Sprintf("SidecarProfile %s to report Degraded %s for %s", profile, reason, sidecarName),
		func(ctx context.Context) (bool, string, error) {
			if err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: profile}, p); err != nil {
				return false, err.Error(), nil
			}
			c := condition(p, v1alpha1.ConditionDegraded)
			if c.Status != metav1.ConditionTrue || c.Reason != reason || c.ObservedGeneration != p.Generation {
				return false, conditionsString(p), nil
			}
			for _, a := range p.Status.NeedsAttention {
				if a.Kind == v1alpha1.KindDeployment && a.Namespace == ns && a.Name == workload &&
					a.Sidecar == sidecarName && a.Reason == reason {
					entry = a
					return true, "", nil
				}
			}
			return false, conditionsString(p), nil
		})
	t.Logf("SidecarProfile %s: %s", profile, conditionsString(p))
	return entry
}

// BEHAVIOUR.md 4: a profile's sidecar whose liveness probe always fails is restarted again and again while the app
// keeps running, and the profile's status says so: Degraded=True (SidecarRestarting), and needsAttention names
// the Deployment, the sidecar and since when.
func TestFailingLivenessRestartsTheSidecarAndIsReported(t *testing.T) {
	t.Parallel()
	k := connect(t)
	ns := k.namespace(t, "liveness")
	ctx := context.Background()

	agent := sidecar("agent", idleScript("agent started"))
	agent.LivenessProbe = failingProbe(1)
	k.createProfile(t, ns, "agent", v1alpha1.SidecarProfileSpec{Selector: selectApp("web"), Sidecars: []v1alpha1.Sidecar{agent}})
	d := deployment(ns, "web", 1, app(idleScript("app started")))
	d.Spec.Template.Spec.TerminationGracePeriodSeconds = ptr.To[int64](1)
	if err := k.Create(ctx, d); err != nil {
		t.Fatal(err)
	}

	var pod corev1.Pod
	waitFor(t, 90*time.Second, "the agent sidecar to restart twice", func(ctx context.Context) (bool, string, error) {
		pods, err := k.pods(ctx, ns, "web", true)
		if err != nil || len(pods) != 1 {
			return false, podsState(pods, err), nil
		}
		pod = pods[0]
		s, _ := containerStatus(&pod, "agent")
		return s.RestartCount >= 2, podsState(pods, nil), nil
	})
	s, _ := containerStatus(&pod, "agent")
	if s.LastTerminationState.Terminated == nil {
		t.Errorf("the agent restarted %d times but has no last termination state", s.RestartCount)
	}
	appStatus, _ := containerStatus(&pod, "app")
	if appStatus.RestartCount != 0 || appStatus.State.Running == nil {
		t.Errorf("the app did not keep running: restarts %d, state %+v", appStatus.RestartCount, appStatus.State)
	}

	// Each instance of the sidecar says it started; the previous one did so before the current one, which the
	// kubelet started after it killed the previous one for its failing probe.
	previous, err := k.logs(ctx, ns, pod.Name, "agent", true)
	if err != nil {
		t.Fatal(err)
	}
	current, err := k.logs(ctx, ns, pod.Name, "agent", false)
	if err != nil {
		t.Fatal(err)
	}
	appLog, err := k.logs(ctx, ns, pod.Name, "app", false)
	if err != nil {
		t.Fatal(err)
	}
	timeline(t, map[string][]line{"agent (previous)": previous, "agent": current, "app": appLog})
	prevStart, curStart := find(t, previous, "the previous agent", "agent started"), find(t, current, "the agent", "agent started")
	between(t, "the current agent's start", prevStart, curStart, time.Nanosecond, time.Minute)
	if fin := s.LastTerminationState.Terminated; fin != nil && fin.FinishedAt.Time.Before(prevStart.At.Truncate(time.Second)) {
		t.Errorf("the previous agent finished at %v, before it started (%v)", fin.FinishedAt, prevStart)
	}

	entry := k.waitDegraded(t, ns, "agent", "web", "agent", v1alpha1.ReasonSidecarRestarting)
	if entry.Since == nil {
		t.Errorf("needsAttention does not say since when the agent restarts: %+v", entry)
	} else if entry.Since.Time.Before(prevStart.At.Add(-time.Minute)) || entry.Since.Time.After(time.Now().Add(time.Minute)) {
		t.Errorf("needsAttention says the agent restarts since %v; its first instance started at %v", entry.Since, prevStart)
	}
	if entry.Message == "" {
		t.Errorf("needsAttention entry without a message: %+v", entry)
	}
}

// BEHAVIOUR.md 5: a profile's sidecar whose readiness probe always fails keeps the pod not Ready while the app runs,
// and the profile's status names the sidecar: Degraded=True (SidecarNotReady).
func TestFailingReadinessKeepsThePodNotReadyAndIsReported(t *testing.T) {
	t.Parallel()
	k := connect(t)
	ns := k.namespace(t, "readiness")
	ctx := context.Background()

	gate := sidecar("gate", idleScript("gate started"))
	gate.ReadinessProbe = failingProbe(1)
	k.createProfile(t, ns, "gate", v1alpha1.SidecarProfileSpec{Selector: selectApp("web"), Sidecars: []v1alpha1.Sidecar{gate}})
	d := deployment(ns, "web", 1, app(idleScript("app started")))
	d.Spec.Template.Spec.TerminationGracePeriodSeconds = ptr.To[int64](1)
	if err := k.Create(ctx, d); err != nil {
		t.Fatal(err)
	}

	var pod corev1.Pod
	waitFor(t, 60*time.Second, "the app to start beside the unready gate", func(ctx context.Context) (bool, string, error) {
		pods, err := k.pods(ctx, ns, "web", true)
		if err != nil || len(pods) != 1 {
			return false, podsState(pods, err), nil
		}
		pod = pods[0]
		a, _ := containerStatus(&pod, "app")
		return a.State.Running != nil, podsState(pods, nil), nil
	})
	k.waitDegraded(t, ns, "gate", "web", "gate", v1alpha1.ReasonSidecarNotReady)

	// Still not Ready, long after the app started: the sidecar's readiness is the pod's.
	if err := k.Get(ctx, client.ObjectKeyFromObject(&pod), &pod); err != nil {
		t.Fatal(err)
	}
	appLog, err := k.logs(ctx, ns, pod.Name, "app", false)
	if err != nil {
		t.Fatal(err)
	}
	gateLog, err := k.logs(ctx, ns, pod.Name, "gate", false)
	if err != nil {
		t.Fatal(err)
	}
	timeline(t, map[string][]line{"gate": gateLog, "app": appLog})
	appStart := find(t, appLog, "app", "app started")
	between(t, "the app's start", find(t, gateLog, "gate", "gate started"), appStart, time.Nanosecond, 10*time.Second)
	// Watched for 5 s from the app's start (5 periods of the probe): never Ready.
	until := appStart.At.Add(5 * time.Second)
	waitFor(t, time.Until(until)+10*time.Second, "5 s of the pod not Ready", func(ctx context.Context) (bool, string, error) {
		if err := k.Get(ctx, client.ObjectKeyFromObject(&pod), &pod); err != nil {
			return false, err.Error(), nil
		}
		if podReady(&pod) {
			return false, "", fmt.Errorf("pod %s became Ready %v after the app started, with its sidecar's readiness probe failing",
				pod.Name, time.Since(appStart.At))
		}
		return time.Now().After(until), podsState([]corev1.Pod{pod}, nil), nil
	})
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.ContainersReady && c.Status != corev1.ConditionFalse {
			t.Errorf("ContainersReady=%s, want False", c.Status)
		}
	}
	g, _ := containerStatus(&pod, "gate")
	if g.Ready || !ptr.Deref(g.Started, false) || g.RestartCount != 0 {
		t.Errorf("gate: ready %v started %v restarts %d; want started, not ready, never restarted", g.Ready, g.Started, g.RestartCount)
	}
	t.Logf("pod %s not Ready %v after the app started: %s", pod.Name, time.Since(appStart.At).Round(time.Second), podsState([]corev1.Pod{pod}, nil))
}
