package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	. "github.com/onsi/gomega"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
)

// sidecarImage is the image of a workload's logshipper sidecar, "" when it has none.
func sidecarImage(tmpl *corev1.PodTemplateSpec) string {
	for _, c := range tmpl.Spec.InitContainers {
		if c.Name == "logshipper" {
			return c.Image
		}
	}
	return ""
}

// imagesIn counts the Deployments of the namespaces per logshipper image.
func imagesIn(g Gomega, namespaces []string) map[string]int {
	counts := map[string]int{}
	for _, ns := range namespaces {
		var list appsv1.DeploymentList
		g.Expect(k8s.List(context.Background(), &list, client.InNamespace(ns))).To(Succeed())
		for i := range list.Items {
			counts[sidecarImage(&list.Items[i].Spec.Template)]++
		}
	}
	return counts
}

func getClusterProfile(g Gomega, name string) *v1alpha1.ClusterSidecarProfile {
	var p v1alpha1.ClusterSidecarProfile
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Name: name}, &p)).To(Succeed())
	return &p
}

func percents(ps ...int) []intstr.IntOrString {
	var out []intstr.IntOrString
	for _, p := range ps {
		out = append(out, intstr.FromString(fmt.Sprintf("%d%%", p)))
	}
	return out
}

// 100 Deployments in 10 namespaces, waves of 10%: an image change reaches them a tenth at a time, never more than
// the open waves allow before the gate opens, with one write per workload; then the candidate is stable.
func TestWaves_AFleetGetsTheCandidateAWaveAtATime(t *testing.T) {
	g := NewWithT(t)
	team := "waves-" + rand.String(5)
	var namespaces []string
	for range 10 {
		namespaces = append(namespaces, newNamespace(t, map[string]string{"team": team}))
	}
	spec := sidecarSpec("", "logshipper")
	spec.Selector = &metav1.LabelSelector{}
	spec.Rollout = v1alpha1.RolloutStrategy{Waves: percents(10, 20, 30, 40, 50, 60, 70, 80, 90), MinHealthySeconds: ptr.To[int32](2)}
	cp := &v1alpha1.ClusterSidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: team}, Spec: v1alpha1.ClusterSidecarProfileSpec{
		SidecarProfileSpec: spec, NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": team}}}}
	create(t, cp)
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), cp) })
	for _, ns := range namespaces {
		for j := range 10 {
			create(t, newDeployment(ns, fmt.Sprintf("web-%d", j)))
		}
	}
	// Created after the profile: injected at admission with its first revision, which is then stable.
	first := inject.Revision(&cp.Spec.SidecarProfileSpec)
	g.Eventually(func(g Gomega) {
		g.Expect(imagesIn(g, namespaces)).To(Equal(map[string]int{"busybox:local": 100}))
		st := getClusterProfile(g, team).Status
		g.Expect(st.Rollout).NotTo(BeNil())
		g.Expect(st.Rollout.StableRevision).To(Equal(first))
		g.Expect(condition(st, v1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
	}, timeout, interval).Should(Succeed())
	writesBefore := 0
	for _, ns := range namespaces {
		writesBefore += writes.In(ns)
	}

	var updated v1alpha1.ClusterSidecarProfile
	updateObject(g, client.ObjectKey{Name: team}, &updated, func() { updated.Spec.Sidecars[0].Image = "busybox:v2" })
	candidate := inject.Revision(&updated.Spec.SidecarProfileSpec)

	// Count first, then read the wave: the wave only grows, so the bound read after a count holds for it.
	maxPerWave := map[int32]int{}
	deadline := time.Now().Add(90 * time.Second)
	for {
		count := imagesIn(g, namespaces)["busybox:v2"]
		r := getClusterProfile(g, team).Status.Rollout
		g.Expect(r).NotTo(BeNil())
		wave := r.Wave
		switch {
		case r.StableRevision == candidate:
			wave = 10
		case r.CandidateRevision != candidate:
			wave = 0 // the status has not seen the new spec yet
		}
		g.Expect(r.Halted).To(BeEmpty())
		if count > 10*int(wave) {
			t.Fatalf("%d Deployments carry the candidate with %d waves open (at most %d): %+v", count, wave, 10*wave, r)
		}
		maxPerWave[wave] = max(maxPerWave[wave], count)
		if r.StableRevision == candidate && count == 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rollout did not finish in 90 s: %d of 100 carry the candidate, rollout %+v", count, r)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Every wave filled to its size before the next opened: the gate held each one.
	for wave := int32(1); wave <= 9; wave++ {
		g.Expect(maxPerWave[wave]).To(Equal(10*int(wave)), "wave %d: %v", wave, maxPerWave)
	}
	writesAfter := 0
	for _, ns := range namespaces {
		writesAfter += writes.In(ns)
	}
	g.Expect(writesAfter-writesBefore).To(Equal(100), "one write per Deployment")
	g.Eventually(func(g Gomega) {
		st := getClusterProfile(g, team).Status
		g.Expect(condition(st, v1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(st.Rollout.Revisions).To(Equal([]v1alpha1.RevisionCount{{Revision: candidate, Workloads: 100}}))
	}, timeout, interval).Should(Succeed())
	// The revisions are kept as ControllerRevisions owned by the profile.
	var revs appsv1.ControllerRevisionList
	g.Expect(k8s.List(context.Background(), &revs, client.MatchingLabels{"sidecars.outrigger.dev/profile-uid": string(cp.UID)})).To(Succeed())
	g.Expect(revs.Items).To(ConsistOf(HaveField("Name", team+"-"+first), HaveField("Name", team+"-"+candidate)))
	g.Expect(revs.Items[0].OwnerReferences).To(ConsistOf(And(HaveField("Kind", "ClusterSidecarProfile"), HaveField("UID", cp.UID))))
}

// A candidate whose sidecar is not ready in the canary halts there: the other workloads keep the stable
// revision, and so does a Job created during the halt, in the canary wave or not. A revert to the stable spec
// gives it back to the canary alone.
func TestWaves_ASidecarNotReadyInTheCanaryHaltsTheRollout(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, nil)
	spec := sidecarSpec("", "logshipper")
	spec.Selector = &metav1.LabelSelector{}
	spec.Rollout = v1alpha1.RolloutStrategy{
		Canary:            &v1alpha1.CanaryWave{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"canary": "true"}}},
		Waves:             percents(50),
		MinHealthySeconds: ptr.To[int32](1), ProgressDeadlineSeconds: ptr.To[int32](3),
	}
	create(t, newProfile(ns, "logs", spec))
	canary := newDeployment(ns, "canary", func(d *appsv1.Deployment) {
		d.Labels = map[string]string{"app": "canary", "canary": "true"}
	})
	create(t, canary)
	for j := range 3 {
		create(t, newDeployment(ns, fmt.Sprintf("web-%d", j)))
	}
	stable := inject.Revision(&spec)
	g.Eventually(func(g Gomega) {
		g.Expect(imagesIn(g, []string{ns})).To(Equal(map[string]int{"busybox:local": 4}))
		g.Expect(getProfile(g, ns, "logs").Status.Rollout).To(HaveField("StableRevision", stable))
	}, timeout, interval).Should(Succeed())
	writesBefore := writes.In(ns)

	p := updateProfile(g, ns, "logs", func(p *v1alpha1.SidecarProfile) { p.Spec.Sidecars[0].Image = "busybox:broken" })
	candidate := inject.Revision(&p.Spec)
	var canaryTmpl *corev1.PodTemplateSpec
	g.Eventually(func(g Gomega) {
		canaryTmpl = &getDeployment(g, ns, "canary").Spec.Template
		g.Expect(sidecarImage(canaryTmpl)).To(Equal("busybox:broken"))
	}, timeout, interval).Should(Succeed())
	// The canary's new pod: its sidecar never passes its readiness probe.
	runPod(t, ns, canaryTmpl, "canary-broken", running(false))

	g.Eventually(func(g Gomega) {
		st := getProfile(g, ns, "logs").Status
		g.Expect(st.Rollout.Halted).NotTo(BeEmpty())
		stalled := condition(st, v1alpha1.ConditionStalled)
		g.Expect(stalled.Reason).To(Equal(v1alpha1.ReasonRolloutHalted))
		g.Expect(stalled.Message).To(And(ContainSubstring("revision "+candidate+" halted: wave 1 of 3 did not pass its gate"),
			ContainSubstring("Deployment "+ns+"/canary"), ContainSubstring("progressDeadlineSeconds"),
			ContainSubstring("the others and new workloads keep revision "+stable)))
		g.Expect(eventLines(g, ns)).To(ContainElement(HavePrefix("SidecarProfile/logs Warning RolloutHalted: revision " + candidate)))
	}, timeout, interval).Should(Succeed())
	g.Consistently(func(g Gomega) {
		g.Expect(imagesIn(g, []string{ns})).To(Equal(map[string]int{"busybox:broken": 1, "busybox:local": 3}))
	}, "2s", interval).Should(Succeed())
	g.Expect(writes.In(ns)-writesBefore).To(Equal(1), "only the canary was written")

	// Jobs created during the halt: the stable sidecar, in the canary wave too.
	job, canaryJob := newJob(ns, "batch"), newJob(ns, "canary-batch")
	canaryJob.Labels = map[string]string{"app": "canary-batch", "canary": "true"}
	create(t, job, canaryJob)
	for _, name := range []string{"batch", "canary-batch"} {
		g.Expect(sidecarImage(&getJob(g, ns, name).Spec.Template)).To(Equal("busybox:local"), "Job %s", name)
	}

	// A revert to the stable spec: the canary gets it back, nothing else is written.
	updateProfile(g, ns, "logs", func(p *v1alpha1.SidecarProfile) { p.Spec.Sidecars[0].Image = "busybox:local" })
	g.Eventually(func(g Gomega) {
		g.Expect(imagesIn(g, []string{ns})).To(Equal(map[string]int{"busybox:local": 4}))
		st := getProfile(g, ns, "logs").Status
		g.Expect(st.Rollout.StableRevision).To(Equal(stable))
		g.Expect(st.Rollout.CandidateRevision).To(BeEmpty())
		g.Expect(condition(st, v1alpha1.ConditionStalled).Status).To(Equal(metav1.ConditionFalse))
	}, timeout, interval).Should(Succeed())
	g.Eventually(writes.In).WithArguments(ns).WithTimeout(timeout).Should(Equal(writesBefore + 2))
	g.Consistently(writes.In).WithArguments(ns).WithTimeout(time.Second).Should(Equal(writesBefore + 2))
}
