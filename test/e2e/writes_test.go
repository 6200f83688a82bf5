//go:build e2e

package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// The README's promise to clusters run from Git: Outrigger writes nothing when a workload is already right. A
// Deployment that the webhook injected as it was created is right, also when the profile's sidecar has probes
// (which the apiserver stores with its defaults filled in): once its pods run and the profile is Ready, the
// reconciler has written nothing to it and said nothing about it.
func TestInjectedDeploymentIsNotWrittenAgain(t *testing.T) {
	t.Parallel()
	k := connect(t)
	ns := k.namespace(t, "nowrite")
	ctx := context.Background()

	probe := func() *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}, PeriodSeconds: 1}
	}
	agent := sidecar("agent", idleScript("agent started"))
	agent.StartupProbe, agent.LivenessProbe, agent.ReadinessProbe = probe(), probe(), probe()
	profile := k.createProfile(t, ns, "agent", v1alpha1.SidecarProfileSpec{Selector: selectApp("web"), Sidecars: []v1alpha1.Sidecar{agent}})
	d := deployment(ns, "web", 1, app(idleScript("app started")))
	d.Spec.Template.Spec.TerminationGracePeriodSeconds = ptr.To[int64](1)
	if err := k.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	if got := sidecarNames(&d.Spec.Template.Spec); !slices.Equal(got, []string{"agent"}) {
		t.Fatalf("the Deployment as created has native sidecars %v, want [agent]", got)
	}
	k.readyPods(t, ns, "web", 1)
	waitFor(t, 60*time.Second, "profile agent Ready and healthy", func(ctx context.Context) (bool, string, error) {
		err := k.Get(ctx, client.ObjectKeyFromObject(profile), profile)
		c := condition(profile, v1alpha1.ConditionReady)
		return err == nil && c.Status == metav1.ConditionTrue && profile.Status.Healthy == 1, conditionsString(profile), err
	})

	if err := k.Get(ctx, client.ObjectKeyFromObject(d), d); err != nil {
		t.Fatal(err)
	}
	if d.Generation != 1 {
		t.Errorf("the Deployment's generation is %d, want 1: its template was changed after create", d.Generation)
	}
	for _, m := range d.ManagedFields {
		if m.Manager == "outrigger" {
			t.Errorf("the Deployment has fields managed by outrigger (%s at %v): Outrigger wrote to it after the webhook", m.Operation, m.Time)
		}
	}
	var events corev1.EventList
	if err := k.List(ctx, &events, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, e := range events.Items {
		if e.InvolvedObject.Kind == "Deployment" && e.InvolvedObject.Name == d.Name &&
			slices.Contains([]string{"Injected", "Updated", "Repaired", "Removed"}, e.Reason) {
			t.Errorf("Outrigger reported a write to a Deployment that was already right: %s (x%d): %s", e.Reason, max(e.Count, 1), e.Message)
		}
	}
}
