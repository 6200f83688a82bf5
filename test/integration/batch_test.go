package integration

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// newCronJob is a minimal CronJob labelled app=<name>.
func newCronJob(namespace, name string) *batchv1.CronJob {
	labels := map[string]string{"app": name}
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: labels},
		Spec: batchv1.CronJobSpec{
			Schedule: "*/5 * * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{
					Name: "job", Image: "busybox:local", Command: []string{"true"},
				}}},
			}}},
		},
	}
}

// newJob is a minimal Job labelled app=<name>.
func newJob(namespace, name string) *batchv1.Job {
	cj := newCronJob(namespace, name)
	return &batchv1.Job{ObjectMeta: cj.ObjectMeta, Spec: cj.Spec.JobTemplate.Spec}
}

func getCronJob(g Gomega, namespace, name string) *batchv1.CronJob {
	var cj batchv1.CronJob
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, &cj)).To(Succeed())
	return &cj
}

// An existing CronJob gets the sidecars in its jobTemplate, so its next Jobs have them; deleting the profile
// gives the jobTemplate back as it was.
func TestCronJob_ExistingCronJobGetsSidecarsInItsJobTemplateAndLosesThem(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, nil)
	create(t, newCronJob(ns, "nightly"))
	original := getCronJob(g, ns, "nightly").Spec.JobTemplate
	profile := newProfile(ns, "logshipper", logShipperSpec())
	profile.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "nightly"}}
	create(t, profile)

	g.Eventually(func(g Gomega) {
		tmpl := getCronJob(g, ns, "nightly").Spec.JobTemplate.Spec.Template
		g.Expect(tmpl.Spec.InitContainers).To(HaveLen(1))
		g.Expect(tmpl.Spec.InitContainers[0].Name).To(Equal("logshipper"))
		g.Expect(tmpl.Spec.InitContainers[0].RestartPolicy).To(HaveValue(Equal(corev1.ContainerRestartPolicyAlways)))
		g.Expect(tmpl.Spec.Containers[0].VolumeMounts).To(ConsistOf(HaveField("MountPath", "/opt")))
		st := getProfile(g, ns, "logshipper").Status
		g.Expect(condition(st, v1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(st.UpToDate).To(BeEquivalentTo(1))
	}, timeout, interval).Should(Succeed())

	g.Expect(k8s.Delete(context.Background(), profile)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(getCronJob(g, ns, "nightly").Spec.JobTemplate).To(Equal(original))
		err := k8s.Get(context.Background(), client.ObjectKeyFromObject(profile), &v1alpha1.SidecarProfile{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue())
	}, timeout, interval).Should(Succeed())
}

// A Job that existed before its profile is never touched (its pod template cannot change); the profile lists
// it as not injected, says why and what to do, and stays Ready.
func TestJob_ExistingJobIsReportedNotTouched(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, nil)
	create(t, newJob(ns, "backfill"))
	before := getJob(g, ns, "backfill")
	create(t, newProfile(ns, "proxy", sidecarSpec("backfill", "proxy")))

	g.Eventually(func(g Gomega) {
		st := getProfile(g, ns, "proxy").Status
		g.Expect(condition(st, v1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(st.Matched).To(BeEquivalentTo(1))
		g.Expect(st.Injected).To(BeZero())
		g.Expect(st.NeedsAttention).To(ConsistOf(And(
			HaveField("Kind", v1alpha1.KindJob), HaveField("Name", "backfill"), HaveField("Reason", v1alpha1.ReasonNotInjected),
			HaveField("Message", ContainSubstring("re-create it")))))
	}, timeout, interval).Should(Succeed())
	g.Expect(getJob(g, ns, "backfill").ResourceVersion).To(Equal(before.ResourceVersion))
	g.Expect(writes.In(ns)).To(BeZero())
}

func getJob(g Gomega, namespace, name string) *batchv1.Job {
	var j batchv1.Job
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, &j)).To(Succeed())
	return &j
}
