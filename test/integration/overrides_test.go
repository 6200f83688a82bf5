package integration

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

const memoryOverride = v1alpha1.OverrideAnnotationPrefix + "logshipper.limits.memory"

// overridableLogShipper is the log shipper with 128Mi of memory, of which a workload may ask for up to 1Gi.
func overridableLogShipper(app string) v1alpha1.SidecarProfileSpec {
	spec := logShipperSpec()
	spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": app}}
	spec.Rollout = allAtOnce
	spec.Sidecars[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")}
	ceiling := resource.MustParse("1Gi")
	spec.Overrides = []v1alpha1.SidecarOverride{{
		Sidecar:   "logshipper",
		Resources: []v1alpha1.ResourceOverride{{Name: "limits.memory", Max: &ceiling}},
	}}
	return spec
}

func shipperMemoryLimit(g Gomega, ns, name string) string {
	d := getDeployment(g, ns, name)
	for _, c := range d.Spec.Template.Spec.InitContainers {
		if c.Name == "logshipper" {
			return c.Resources.Limits.Memory().String()
		}
	}
	return "no logshipper"
}

func teamDeployment(ns, name string, annotations map[string]string) *appsv1.Deployment {
	return newDeployment(ns, name, func(d *appsv1.Deployment) {
		d.Labels["team"] = "blue"
		d.Annotations = annotations
	})
}

// A Deployment that asks for more memory for its log shipper gets it when it is created, in that one write, and
// a changed annotation in the write that changes it; an override the profile does not allow is ignored and the
// Deployment is created all the same, with the profile's value.
func TestOverrides_DeploymentGetsMoreMemoryForItsSidecarInOneWrite(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, nil)
	create(t, newProfile(ns, "logs", overridableLogShipper("blue")))
	waitUntilSeen(g, ns, "logs")

	create(t, teamDeployment(ns, "big", map[string]string{memoryOverride: "512Mi"}))
	var warnings []string
	g.Expect(warningClient(&warnings).Create(context.Background(), teamDeployment(ns, "greedy", map[string]string{memoryOverride: "4Gi"}))).To(Succeed())
	refusal := `annotation sidecars.outrigger.dev/logshipper.limits.memory="4Gi": 4Gi is above the profile's maximum of 1Gi`
	g.Expect(warnings).To(ContainElement(And(ContainSubstring(`Outrigger: SidecarProfile/logs: sidecar "logshipper": `+refusal),
		ContainSubstring("(OverrideRefused)"))))
	g.Expect(shipperMemoryLimit(g, ns, "big")).To(Equal("512Mi"))
	g.Expect(shipperMemoryLimit(g, ns, "greedy")).To(Equal("128Mi"), "an override above the profile's max is ignored")
	g.Eventually(func(g Gomega) {
		st := getProfile(g, ns, "logs").Status
		g.Expect(st.UpToDate).To(BeEquivalentTo(2))
		g.Expect(st.NeedsAttention).To(ConsistOf(And(HaveField("Name", "greedy"), HaveField("Sidecar", "logshipper"),
			HaveField("Reason", v1alpha1.ReasonOverrideRefused), HaveField("Message", ContainSubstring(refusal)))))
		g.Expect(condition(st, v1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue), "a refused override blocks nothing")
	}, timeout, interval).Should(Succeed())
	g.Eventually(func(g Gomega) {
		var evs eventsv1.EventList
		g.Expect(k8s.List(context.Background(), &evs, client.InNamespace(ns))).To(Succeed())
		g.Expect(evs.Items).To(ContainElement(And(HaveField("Reason", v1alpha1.EventOverrideRefused),
			HaveField("Type", corev1.EventTypeWarning), HaveField("Regarding.Name", "greedy"), HaveField("Note", ContainSubstring(refusal)))))
	}, timeout, interval).Should(Succeed())
	g.Expect(writes.In(ns)).To(BeZero(), "the webhook applied the override at creation; the reconciler had nothing to write")
	g.Expect(getDeployment(g, ns, "big").Generation).To(BeEquivalentTo(1))

	// The team asks for more: the webhook gives it in the team's own write (an update of a Deployment is admitted
	// too), so Outrigger writes nothing.
	patchAnnotation(g, ns, "big", memoryOverride, "768Mi")
	g.Eventually(func(g Gomega) { g.Expect(shipperMemoryLimit(g, ns, "big")).To(Equal("768Mi")) }, timeout, interval).Should(Succeed())
	g.Expect(getDeployment(g, ns, "big").Generation).To(BeEquivalentTo(2), "the team's write, with the new limit")
	g.Eventually(func(g Gomega) {
		g.Expect(getProfile(g, ns, "logs").Status.UpToDate).To(BeEquivalentTo(2))
	}, timeout, interval).Should(Succeed())
	g.Consistently(func() int { return writes.In(ns) }, "2s", interval).Should(BeZero(), "the reconciler found the override applied")
}

// A Deployment that existed before the profile gets its override with the sidecar, in the reconciler's one write.
func TestOverrides_ExistingDeploymentGetsItsOverrideInOneWrite(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, nil)
	create(t, teamDeployment(ns, "big", map[string]string{memoryOverride: "512Mi"}))
	create(t, newProfile(ns, "logs", overridableLogShipper("blue")))
	g.Eventually(func(g Gomega) { g.Expect(shipperMemoryLimit(g, ns, "big")).To(Equal("512Mi")) }, timeout, interval).Should(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(getProfile(g, ns, "logs").Status.UpToDate).To(BeEquivalentTo(1))
	}, timeout, interval).Should(Succeed())
	g.Consistently(func() int { return writes.In(ns) }, "2s", interval).Should(Equal(1))
}

// Deleting the profile gives back the Deployment's own template, whatever it overrode.
func TestOverrides_RemovalGivesBackTheOriginalTemplate(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, nil)
	create(t, newProfile(ns, "logs", overridableLogShipper("blue")))
	waitUntilSeen(g, ns, "logs")
	original := teamDeployment(ns, "big", map[string]string{memoryOverride: "512Mi"})
	labels := original.Spec.Template.Labels
	create(t, original.DeepCopy())
	g.Expect(shipperMemoryLimit(g, ns, "big")).To(Equal("512Mi"))

	g.Expect(k8s.Delete(context.Background(), newProfile(ns, "logs", v1alpha1.SidecarProfileSpec{}))).To(Succeed())
	g.Eventually(func(g Gomega) {
		tmpl := getDeployment(g, ns, "big").Spec.Template
		g.Expect(tmpl.Spec.InitContainers).To(BeEmpty())
		g.Expect(tmpl.Spec.Volumes).To(BeEmpty())
		g.Expect(tmpl.Spec.Containers[0].VolumeMounts).To(BeEmpty())
		g.Expect(tmpl.Annotations).NotTo(HaveKey(v1alpha1.InjectionAnnotation))
		g.Expect(tmpl.Labels).To(Equal(labels))
	}, timeout, interval).Should(Succeed())
	g.Expect(getDeployment(g, ns, "big").Annotations).To(HaveKeyWithValue(memoryOverride, "512Mi"), "the workload's own annotation stays")
}

// patchAnnotation sets one annotation of a Deployment with a merge patch, as a team's GitOps change would.
func patchAnnotation(g Gomega, ns, name, key, value string) {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	patch := client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"annotations":{"`+key+`":"`+value+`"}}}`))
	g.Expect(k8s.Patch(context.Background(), d, patch)).To(Succeed())
}
