//go:build e2e

package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// How long each container of BEHAVIOUR.md's scripts takes to stop after SIGTERM (its trap sleeps 3 s), and how
// much later than that the next one may stop: the kubelet sends the next SIGTERM once it has seen the previous
// container exit (its PLEG relists every second). A line's timestamp is when the runtime read it from the
// container's output, not when it was written: with three pods stopping at once on 2 cores, a "got TERM" line
// was stamped 142 ms late, so a stop may look up to half a second shorter than the trap's sleep. The order
// itself is checked apart (each SIGTERM after the previous container's exit).
const (
	trapSleep   = 3 * time.Second
	minStopGap  = trapSleep - 500*time.Millisecond
	maxStopGap  = trapSleep + 3*time.Second
	maxTermWait = 3 * time.Second
)

// BEHAVIOUR.md 2, with the sidecars of two profiles placed by their order: first-sidecar (order 1), then
// second-sidecar (order 2). They start in that order, before the app; when the pod is deleted the app stops
// first, then second-sidecar, then first-sidecar, each ~3 s after the previous one.
func TestStartAndStopOrder(t *testing.T) {
	t.Parallel()
	k := connect(t)
	ns := k.namespace(t, "order")
	ctx := context.Background()

	// Created in the "wrong" order on purpose: placement follows spec.order, not creation.
	k.createProfile(t, ns, "second", v1alpha1.SidecarProfileSpec{
		Selector: selectApp("ordered"), Order: 2,
		Sidecars: []v1alpha1.Sidecar{sidecar("second-sidecar", trapScript("second-sidecar"))},
	})
	k.createProfile(t, ns, "first", v1alpha1.SidecarProfileSpec{
		Selector: selectApp("ordered"), Order: 1,
		Sidecars: []v1alpha1.Sidecar{sidecar("first-sidecar", trapScript("first-sidecar"))},
	})
	d := deployment(ns, "ordered", 1, app(trapScript("app")))
	if err := k.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	if got := sidecarNames(&d.Spec.Template.Spec); !slices.Equal(got, []string{"first-sidecar", "second-sidecar"}) {
		t.Fatalf("the Deployment as created has native sidecars %v, want [first-sidecar second-sidecar]", got)
	}

	pod := k.readyPods(t, ns, d.Name, 1)[0]
	containers := []string{"first-sidecar", "second-sidecar", "app"}
	// Streams opened before the delete: the pod's logs go with it.
	wait := k.follow(t, ns, pod.Name, containers...)
	if err := k.Delete(ctx, &pod); err != nil {
		t.Fatal(err)
	}
	logs := wait()
	timeline(t, logs)

	// Start: each container's first line, in order.
	first, second, appl := logs["first-sidecar"], logs["second-sidecar"], logs["app"]
	start1 := find(t, first, "first-sidecar", "first-sidecar started")
	start2 := find(t, second, "second-sidecar", "second-sidecar started")
	startApp := find(t, appl, "app", "app started")
	between(t, "second-sidecar's start", start1, start2, time.Nanosecond, 10*time.Second)
	between(t, "the app's start", start2, startApp, time.Nanosecond, 10*time.Second)

	// Stop: the app gets SIGTERM first; each sidecar only once the container after it has exited.
	termApp, endApp := find(t, appl, "app", "app got TERM"), find(t, appl, "app", "app")
	term2, end2 := find(t, second, "second-sidecar", "second-sidecar got TERM"), find(t, second, "second-sidecar", "second-sidecar")
	term1, end1 := find(t, first, "first-sidecar", "first-sidecar got TERM"), find(t, first, "first-sidecar", "first-sidecar")
	between(t, "the app's exit", termApp, endApp, minStopGap, trapSleep+time.Second)
	between(t, "second-sidecar's SIGTERM", endApp, term2, time.Nanosecond, maxTermWait)
	between(t, "first-sidecar's SIGTERM", end2, term1, time.Nanosecond, maxTermWait)
	// As BEHAVIOUR.md puts it: app at t, second-sidecar at t+3 s, first-sidecar at t+6 s.
	between(t, "second-sidecar's name after the app's", endApp, end2, minStopGap, maxStopGap)
	between(t, "first-sidecar's name after second-sidecar's", end2, end1, minStopGap, maxStopGap)
	for _, c := range containers {
		if n := len(logs[c]); n != 3 {
			t.Errorf("%s logged %d lines, want 3 (started, got TERM, its name): did it restart?", c, n)
		}
	}
}

// BEHAVIOUR.md 3: a Job whose app exits after 3 s, with the two sidecars of one profile (workloadKinds: Job,
// injected by the webhook as the Job is created). The Job completes; the sidecars get SIGTERM in reverse order
// once the app has exited, and all exit 0.
func TestJobCompletesAndSidecarsStopInReverseOrder(t *testing.T) {
	t.Parallel()
	k := connect(t)
	ns := k.namespace(t, "job")
	ctx := context.Background()

	k.createProfile(t, ns, "pair", v1alpha1.SidecarProfileSpec{
		Selector:      selectApp("batch"),
		WorkloadKinds: []v1alpha1.WorkloadKind{v1alpha1.KindJob},
		Sidecars: []v1alpha1.Sidecar{
			sidecar("first-sidecar", trapScript("first-sidecar")),
			sidecar("second-sidecar", trapScript("second-sidecar")),
		},
	})
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "batch", Labels: map[string]string{"app": "batch"}},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To[int32](0),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "batch"}},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{app(`echo "app started"; sleep 3; echo "app"; exit 0`)},
				},
			},
		},
	}
	created := time.Now()
	if err := k.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	if got := sidecarNames(&job.Spec.Template.Spec); !slices.Equal(got, []string{"first-sidecar", "second-sidecar"}) {
		t.Fatalf("the Job as created has native sidecars %v, want [first-sidecar second-sidecar]", got)
	}

	k.waitJobComplete(t, job)
	t.Logf("Job created -> Complete in %v", time.Since(created).Round(100*time.Millisecond))

	var pod corev1.Pod
	waitFor(t, 30*time.Second, "the Job's pod Succeeded", func(ctx context.Context) (bool, string, error) {
		pods, err := k.pods(ctx, ns, "batch", false)
		if err != nil || len(pods) != 1 {
			return false, podsState(pods, err), nil
		}
		pod = pods[0]
		return pod.Status.Phase == corev1.PodSucceeded, string(pod.Status.Phase), nil
	})
	for _, c := range []string{"first-sidecar", "second-sidecar", "app"} {
		s, ok := containerStatus(&pod, c)
		if !ok || s.State.Terminated == nil {
			t.Errorf("%s has not terminated: %+v", c, s.State)
			continue
		}
		if s.State.Terminated.ExitCode != 0 || s.RestartCount != 0 {
			t.Errorf("%s exited %d (%s) after %d restarts, want 0 and no restart", c, s.State.Terminated.ExitCode,
				s.State.Terminated.Reason, s.RestartCount)
		}
	}

	logs := map[string][]line{}
	for _, c := range []string{"first-sidecar", "second-sidecar", "app"} {
		lines, err := k.logs(ctx, ns, pod.Name, c, false)
		if err != nil {
			t.Fatal(err)
		}
		logs[c] = lines
	}
	timeline(t, logs)
	appStart, appEnd := find(t, logs["app"], "app", "app started"), find(t, logs["app"], "app", "app")
	term2, end2 := find(t, logs["second-sidecar"], "second-sidecar", "second-sidecar got TERM"), find(t, logs["second-sidecar"], "second-sidecar", "second-sidecar")
	term1, end1 := find(t, logs["first-sidecar"], "first-sidecar", "first-sidecar got TERM"), find(t, logs["first-sidecar"], "first-sidecar", "first-sidecar")
	start1, start2 := find(t, logs["first-sidecar"], "first-sidecar", "first-sidecar started"), find(t, logs["second-sidecar"], "second-sidecar", "second-sidecar started")
	between(t, "second-sidecar's start", start1, start2, time.Nanosecond, 10*time.Second)
	between(t, "the app's start", start2, appStart, time.Nanosecond, 10*time.Second)
	between(t, "the app's exit", appStart, appEnd, minStopGap, trapSleep+time.Second)
	between(t, "second-sidecar's SIGTERM", appEnd, term2, time.Nanosecond, maxTermWait)
	between(t, "first-sidecar's SIGTERM", end2, term1, time.Nanosecond, maxTermWait)
	between(t, "first-sidecar's SIGTERM after second-sidecar's", term2, term1, minStopGap, maxStopGap)
	between(t, "first-sidecar's exit", term1, end1, minStopGap, trapSleep+time.Second)
}
