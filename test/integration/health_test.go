package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// There is no kubelet nor kube-controller-manager in envtest: these tests write the pods of a Deployment, and
// the statuses of the pods and of the Deployment, as they would.

// injectedWeb creates, in a new namespace, the profile "logs" (sidecar "logshipper") and the Deployment "web" it
// selects, and returns them once the admission webhook injected the sidecar.
func injectedWeb(t *testing.T) (ns string, d *appsv1.Deployment) {
	t.Helper()
	g := NewWithT(t)
	ns = newNamespace(t, nil)
	create(t, newProfile(ns, "logs", sidecarSpec("web", "logshipper")), newDeployment(ns, "web", func(d *appsv1.Deployment) {
		// These tests write its status. (A new map: newDeployment shares its labels with the selector.)
		d.Labels = map[string]string{"app": "web", manualRolloutLabel: "manual"}
	}))
	g.Eventually(func(g Gomega) {
		d = getDeployment(g, ns, "web")
		g.Expect(initContainerNames(d)).To(Equal([]string{"logshipper"}))
	}, timeout, interval).Should(Succeed())
	return ns, d
}

// setRollout writes a Deployment's status: want replicas, of which updated and available; stuck adds the
// Progressing condition of a rollout past its deadline.
func setRollout(t *testing.T, d *appsv1.Deployment, replicas, updated, available int32, stuck bool) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		cur := getDeployment(g, d.Namespace, d.Name)
		cur.Status = appsv1.DeploymentStatus{ObservedGeneration: cur.Generation, Replicas: replicas,
			UpdatedReplicas: updated, ReadyReplicas: available, AvailableReplicas: available}
		if stuck {
			cur.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse,
				Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "web-1234" has timed out progressing.`,
				LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
		}
		g.Expect(k8s.Status().Update(context.Background(), cur)).To(Succeed())
	}, timeout, interval).Should(Succeed())
}

// runPod creates a pod from a workload's pod template, as its ReplicaSet or Job controller would (template
// labels and annotations, template spec as changed by mutate), and writes the status the kubelet would report
// with the sidecar's status.
func runPod(t *testing.T, namespace string, template *corev1.PodTemplateSpec, name string, sidecar corev1.ContainerStatus, mutate ...func(*corev1.Pod)) {
	t.Helper()
	tmpl := template.DeepCopy()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: tmpl.Labels, Annotations: tmpl.Annotations},
		Spec: tmpl.Spec}
	for _, m := range mutate {
		m(p)
	}
	create(t, p)
	started := metav1.NewTime(time.Now().Add(-time.Hour))
	sidecar.Name = "logshipper"
	sidecar.Image = "busybox:local"
	ready := corev1.ConditionFalse
	if sidecar.Ready {
		ready = corev1.ConditionTrue
	}
	p.Status = corev1.PodStatus{
		Phase: corev1.PodRunning, StartTime: &started,
		Conditions:            []corev1.PodCondition{{Type: corev1.PodReady, Status: ready, LastTransitionTime: started}},
		InitContainerStatuses: []corev1.ContainerStatus{sidecar},
		ContainerStatuses: []corev1.ContainerStatus{{Name: tmpl.Spec.Containers[0].Name, Image: "busybox:local", Ready: sidecar.Ready, Started: ptr.To(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}}}},
	}
	if err := k8s.Status().Update(context.Background(), p); err != nil {
		t.Fatalf("writing the status of pod %s: %v", name, err)
	}
}

// running is the status of a started sidecar.
func running(ready bool) corev1.ContainerStatus {
	return corev1.ContainerStatus{Ready: ready, Started: ptr.To(true),
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(time.Now().Add(-time.Minute))}}}
}

// A sidecar ready in the only pod of a Deployment whose rollout is done: the profile is Ready, rolled out,
// healthy, and not Degraded; until the sidecar's readiness fails.
func TestHealth_ReadySidecarAndDoneRolloutMakeTheProfileReady(t *testing.T) {
	g := NewWithT(t)
	ns, d := injectedWeb(t)
	runPod(t, ns, &d.Spec.Template, "web-1", running(true))
	setRollout(t, d, 1, 1, 1, false)

	g.Eventually(func(g Gomega) {
		st := getProfile(g, ns, "logs").Status
		g.Expect(condition(st, v1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue), "%+v", st.Conditions)
		g.Expect(condition(st, v1alpha1.ConditionReconciling).Status).To(Equal(metav1.ConditionFalse))
		g.Expect(condition(st, v1alpha1.ConditionDegraded)).To(And(HaveField("Status", metav1.ConditionFalse), HaveField("Reason", v1alpha1.ReasonHealthy)))
		g.Expect([]int32{st.Matched, st.Injected, st.UpToDate, st.RolledOut, st.Healthy}).To(Equal([]int32{1, 1, 1, 1, 1}))
		g.Expect(st.NeedsAttention).To(BeEmpty())
	}, timeout, interval).Should(Succeed())

	// Only the pod changes: its watch alone brings the news.
	g.Eventually(func(g Gomega) {
		var p corev1.Pod
		g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "web-1"}, &p)).To(Succeed())
		p.Status.InitContainerStatuses[0].Ready = false
		g.Expect(k8s.Status().Update(context.Background(), &p)).To(Succeed())
	}, timeout, interval).Should(Succeed())
	g.Eventually(func(g Gomega) {
		st := getProfile(g, ns, "logs").Status
		g.Expect(condition(st, v1alpha1.ConditionDegraded).Reason).To(Equal(v1alpha1.ReasonSidecarNotReady))
		g.Expect(st.Healthy).To(BeZero())
	}, timeout, interval).Should(Succeed())
}

// Pods whose sidecar is unwell, as a kubelet reports it: the profile is Degraded with the reason, counts the
// Deployment as not healthy, and names it, the sidecar, and since when, in needsAttention.
func TestHealth_UnwellSidecarsDegradeTheProfile(t *testing.T) {
	recently := metav1.NewTime(time.Now().Add(-time.Minute))
	for _, tc := range []struct {
		name    string
		sidecar corev1.ContainerStatus
		mutate  func(*corev1.Pod)
		reason  string
	}{
		{"not ready", running(false), nil, v1alpha1.ReasonSidecarNotReady},
		{"restarted 3 times", func() corev1.ContainerStatus {
			s := running(true)
			s.RestartCount = 3
			s.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 137,
				StartedAt: metav1.NewTime(recently.Add(-time.Minute)), FinishedAt: recently}
			return s
		}(), nil, v1alpha1.ReasonSidecarRestarting},
		{"CrashLoopBackOff", corev1.ContainerStatus{Started: ptr.To(false), RestartCount: 5,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
				Message: "back-off 2m40s restarting failed container"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1,
				StartedAt: metav1.NewTime(recently.Add(-time.Second)), FinishedAt: recently}}}, nil, v1alpha1.ReasonSidecarRestarting},
		{"restartPolicy stripped", running(false), func(p *corev1.Pod) {
			p.Spec.InitContainers[0].RestartPolicy = nil // another webhook took it away
		}, v1alpha1.ReasonRestartPolicyStripped},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			ns, d := injectedWeb(t)
			var mutate []func(*corev1.Pod)
			if tc.mutate != nil {
				mutate = append(mutate, tc.mutate)
			}
			runPod(t, ns, &d.Spec.Template, "web-1", tc.sidecar, mutate...)
			setRollout(t, d, 1, 1, 1, false)

			g.Eventually(func(g Gomega) {
				st := getProfile(g, ns, "logs").Status
				g.Expect(condition(st, v1alpha1.ConditionDegraded)).To(And(HaveField("Status", metav1.ConditionTrue),
					HaveField("Reason", tc.reason), HaveField("Message", ContainSubstring("logshipper"))), "%+v", st.Conditions)
				g.Expect(condition(st, v1alpha1.ConditionDegraded).ObservedGeneration).To(Equal(getProfile(g, ns, "logs").Generation))
				g.Expect([]int32{st.Matched, st.UpToDate, st.Healthy}).To(Equal([]int32{1, 1, 0}))
				g.Expect(st.NeedsAttention).To(ContainElement(And(
					HaveField("Kind", v1alpha1.KindDeployment), HaveField("Namespace", ns), HaveField("Name", "web"),
					HaveField("Sidecar", "logshipper"), HaveField("Reason", tc.reason),
					HaveField("Message", Not(BeEmpty())), HaveField("Since", Not(BeNil())))))
			}, timeout, interval).Should(Succeed())
		})
	}
}

// A Deployment still rolling out keeps the profile Reconciling (RollingOut); one past its progress deadline
// stalls it (RolloutStuck) and is named in needsAttention.
func TestHealth_Rollout(t *testing.T) {
	g := NewWithT(t)
	ns, d := injectedWeb(t)
	runPod(t, ns, &d.Spec.Template, "web-1", running(true))
	setRollout(t, d, 3, 1, 1, false)
	g.Eventually(func(g Gomega) {
		st := getProfile(g, ns, "logs").Status
		g.Expect(condition(st, v1alpha1.ConditionReconciling)).To(And(HaveField("Status", metav1.ConditionTrue),
			HaveField("Reason", v1alpha1.ReasonRollingOut)), "%+v", st.Conditions)
		g.Expect(condition(st, v1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionFalse))
		g.Expect([]int32{st.UpToDate, st.RolledOut}).To(Equal([]int32{1, 0}))
	}, timeout, interval).Should(Succeed())

	setRollout(t, d, 3, 1, 1, true)
	g.Eventually(func(g Gomega) {
		st := getProfile(g, ns, "logs").Status
		g.Expect(condition(st, v1alpha1.ConditionStalled)).To(And(HaveField("Status", metav1.ConditionTrue),
			HaveField("Reason", v1alpha1.ReasonRolloutStuck)), "%+v", st.Conditions)
		g.Expect(condition(st, v1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionFalse))
		g.Expect(st.NeedsAttention).To(ContainElement(And(HaveField("Name", "web"), HaveField("Reason", v1alpha1.ReasonRolloutStuck),
			HaveField("Since", Not(BeNil())))))
	}, timeout, interval).Should(Succeed())
}

// kstatus, as Flux and Argo CD use it, reads the profile as InProgress while the Deployment rolls out, Current
// once it is Ready, and Failed when it is Stalled.
func TestHealth_Kstatus(t *testing.T) {
	g := NewWithT(t)
	ns, d := injectedWeb(t)
	kstatus := func(g Gomega) status.Status {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("SidecarProfile"))
		g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "logs"}, u)).To(Succeed())
		res, err := status.Compute(u)
		g.Expect(err).NotTo(HaveOccurred())
		return res.Status
	}
	setRollout(t, d, 1, 0, 0, false)
	g.Eventually(kstatus, timeout, interval).Should(Equal(status.InProgressStatus))

	runPod(t, ns, &d.Spec.Template, "web-1", running(true))
	setRollout(t, d, 1, 1, 1, false)
	g.Eventually(kstatus, timeout, interval).Should(Equal(status.CurrentStatus))

	setRollout(t, d, 1, 0, 1, true)
	g.Eventually(kstatus, timeout, interval).Should(Equal(status.FailedStatus))
}

// A write of the reconciler, and a conflict, are told on the profile too, with the workload as related object.
func TestHealth_EventsOnTheProfile(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, nil)
	// Created before the profile, so that the reconciler injects it (the webhook's injection makes no event).
	create(t, newDeployment(ns, "web"), newDeployment(ns, "clash", func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.Containers[0].Name = "logshipper"
	}))
	create(t, newProfile(ns, "logs", v1alpha1.SidecarProfileSpec{
		Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"web", "clash"}}}},
		Sidecars: sidecarSpec("", "logshipper").Sidecars,
		Rollout:  allAtOnce,
	}))
	g.Eventually(func(g Gomega) {
		evs := eventLines(g, ns)
		g.Expect(evs).To(ContainElement("SidecarProfile/logs (related Deployment/web) Normal Injected: injected sidecars into Deployment " + ns + "/web"))
		g.Expect(evs).To(ContainElement(And(HavePrefix("SidecarProfile/logs (related Deployment/clash) Warning Conflict: Deployment "+ns+"/clash: "),
			ContainSubstring("logshipper"))))
		g.Expect(evs).To(ContainElement(And(HavePrefix("Deployment/clash (related SidecarProfile/logs) Warning Conflict: sidecars of SidecarProfile/logs not injected: "),
			ContainSubstring("logshipper"))))
	}, timeout, interval).Should(Succeed())
}

// eventLines lists a namespace's events as "Kind/name (related Kind/name) Type Reason: note".
func eventLines(g Gomega, namespace string) []string {
	var evs eventsv1.EventList
	g.Expect(k8s.List(context.Background(), &evs, client.InNamespace(namespace))).To(Succeed())
	lines := make([]string, 0, len(evs.Items))
	for _, e := range evs.Items {
		related := ""
		if e.Related != nil {
			related = fmt.Sprintf(" (related %s/%s)", e.Related.Kind, e.Related.Name)
		}
		lines = append(lines, fmt.Sprintf("%s/%s%s %s %s: %s", e.Regarding.Kind, e.Regarding.Name, related, e.Type, e.Reason, e.Note))
	}
	return lines
}

// A CronJob's pods are those of the Jobs it made: a sidecar not ready in one degrades the profile, which names
// the CronJob.
func TestHealth_CronJobSidecarsAreThoseOfItsJobs(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, nil)
	create(t, newProfile(ns, "logs", sidecarSpec("nightly", "logshipper")), newCronJob(ns, "nightly"))
	var cj *batchv1.CronJob
	g.Eventually(func(g Gomega) {
		cj = getCronJob(g, ns, "nightly")
		g.Expect(cj.Spec.JobTemplate.Spec.Template.Spec.InitContainers).To(HaveLen(1))
	}, timeout, interval).Should(Succeed())
	// The Job the CronJob controller would make: the jobTemplate, owned by the CronJob.
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "nightly-1", OwnerReferences: []metav1.OwnerReference{{
		APIVersion: "batch/v1", Kind: "CronJob", Name: cj.Name, UID: cj.UID, Controller: ptr.To(true)}}},
		Spec: cj.Spec.JobTemplate.Spec}
	create(t, job) // the apiserver adds the selector and the labels it selects to the template
	runPod(t, ns, &job.Spec.Template, "nightly-1-abcde", running(false))

	g.Eventually(func(g Gomega) {
		st := getProfile(g, ns, "logs").Status
		g.Expect(condition(st, v1alpha1.ConditionDegraded)).To(And(HaveField("Status", metav1.ConditionTrue),
			HaveField("Reason", v1alpha1.ReasonSidecarNotReady)), "%+v", st.Conditions)
		g.Expect(st.NeedsAttention).To(ContainElement(And(HaveField("Kind", v1alpha1.KindCronJob), HaveField("Name", "nightly"),
			HaveField("Sidecar", "logshipper"), HaveField("Reason", v1alpha1.ReasonSidecarNotReady))))
	}, timeout, interval).Should(Succeed())
}
