package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
)

var (
	when  = metav1.Unix(1_700_000_000, 0)
	later = metav1.Unix(1_700_000_600, 0)
)

func deployment(replicas int32, generation int64, s appsv1.DeploymentStatus) *appsv1.Deployment {
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: generation},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas)}, Status: s}
}

func TestDeploymentRollout(t *testing.T) {
	deadline := appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse,
		Reason: "ProgressDeadlineExceeded", LastTransitionTime: when, Message: `ReplicaSet "web-1" has timed out progressing.`}
	for _, tc := range []struct {
		name string
		d    *appsv1.Deployment
		want RolloutObservation
	}{
		{"done", deployment(3, 2, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3}),
			RolloutObservation{Done: true, Message: "3 of 3 replicas updated, 3 available"}},
		{"replicas default to 1", &appsv1.Deployment{Status: appsv1.DeploymentStatus{Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1}},
			RolloutObservation{Done: true, Message: "1 of 1 replicas updated, 1 available"}},
		{"scaled to zero", deployment(0, 1, appsv1.DeploymentStatus{ObservedGeneration: 1}),
			RolloutObservation{Done: true, Message: "0 of 0 replicas updated, 0 available"}},
		{"half way, old pods left", deployment(3, 2, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 4, UpdatedReplicas: 2, AvailableReplicas: 1}),
			RolloutObservation{Message: "2 of 3 replicas updated, 1 available, 2 old still running"}},
		{"all updated, one not available", deployment(3, 2, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 2}),
			RolloutObservation{Message: "3 of 3 replicas updated, 2 available"}},
		{"controller behind the template", deployment(1, 3, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1}),
			RolloutObservation{Message: "the Deployment controller has not seen the current pod template yet; 1 of 1 replicas updated, 1 available"}},
		{"stuck", deployment(2, 2, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 1, AvailableReplicas: 2,
			Conditions: []appsv1.DeploymentCondition{deadline}}),
			RolloutObservation{Stuck: true, Since: &when, Message: `1 of 2 replicas updated, 2 available, 2 old still running; progress deadline exceeded: ReplicaSet "web-1" has timed out progressing.`}},
		{"a deadline from before the current template does not count", deployment(1, 3, appsv1.DeploymentStatus{ObservedGeneration: 2,
			Conditions: []appsv1.DeploymentCondition{deadline}}),
			RolloutObservation{Message: "the Deployment controller has not seen the current pod template yet; 0 of 1 replicas updated, 0 available"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(rolloutOf(tc.d)).To(Equal(tc.want))
		})
	}
}

func TestJobAndCronJobRollout(t *testing.T) {
	cond := func(typ batchv1.JobConditionType, reason, msg string) []batchv1.JobCondition {
		return []batchv1.JobCondition{{Type: typ, Status: corev1.ConditionTrue, Reason: reason, Message: msg}}
	}
	for _, tc := range []struct {
		name string
		in   client.Object
		want RolloutObservation
	}{
		{"a new Job has no pods yet", &batchv1.Job{}, RolloutObservation{Message: "0 active, 0 succeeded, 0 failed"}},
		{"a running Job runs its template", &batchv1.Job{Status: batchv1.JobStatus{Active: 2}},
			RolloutObservation{Done: true, Message: "2 active, 0 succeeded, 0 failed"}},
		{"complete", &batchv1.Job{Status: batchv1.JobStatus{Succeeded: 1, Conditions: cond(batchv1.JobComplete, "CompletionsReached", "")}},
			RolloutObservation{Done: true, Message: "complete: 0 active, 1 succeeded, 0 failed"}},
		{"failed is told, not stuck", &batchv1.Job{Status: batchv1.JobStatus{Failed: 7, Conditions: cond(batchv1.JobFailed, "BackoffLimitExceeded", "Job has reached the specified backoff limit")}},
			RolloutObservation{Done: true, Message: "failed (BackoffLimitExceeded: Job has reached the specified backoff limit): 0 active, 0 succeeded, 7 failed"}},
		{"suspended", &batchv1.Job{Spec: batchv1.JobSpec{Suspend: ptr.To(true)}, Status: batchv1.JobStatus{Conditions: cond(batchv1.JobSuspended, "JobSuspended", "")}},
			RolloutObservation{Done: true, Message: "suspended: 0 active, 0 succeeded, 0 failed"}},
		{"a CronJob never scheduled", &batchv1.CronJob{}, RolloutObservation{Done: true, Message: "not scheduled yet, 0 active Jobs"}},
		{"a CronJob that ran", &batchv1.CronJob{Spec: batchv1.CronJobSpec{Suspend: ptr.To(true)},
			Status: batchv1.CronJobStatus{LastScheduleTime: &when, Active: []corev1.ObjectReference{{Name: "j"}}}},
			RolloutObservation{Done: true, Message: "last scheduled at 2023-11-14T22:13:20Z, 1 active Jobs (suspended)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(rolloutOf(tc.in)).To(Equal(tc.want))
		})
	}
}

// pod is a running pod whose record carries SidecarProfile/logs (revision r1, sidecar "logshipper") and
// ClusterSidecarProfile/mesh (revision m1, sidecars "proxy" and "init-proxy").
func pod(mutate ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Annotations: map[string]string{v1alpha1.InjectionAnnotation: `{"profiles":[` +
			`{"kind":"SidecarProfile","name":"logs","hash":"r1","placement":"BeforeInitContainers","initContainers":["logshipper"]},` +
			`{"kind":"ClusterSidecarProfile","name":"mesh","hash":"m1","placement":"BeforeInitContainers","initContainers":["proxy","init-proxy"]}]}`}},
		Spec: corev1.PodSpec{InitContainers: []corev1.Container{
			{Name: "logshipper", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)},
			{Name: "proxy", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)},
			{Name: "init-proxy"},
		}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &when, InitContainerStatuses: []corev1.ContainerStatus{
			{Name: "logshipper", Ready: true, Started: ptr.To(true)},
			{Name: "proxy", Started: ptr.To(true), RestartCount: 4,
				State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", FinishedAt: later}}},
		}},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func TestSidecarsIn(t *testing.T) {
	logs := inject.ProfileRef{Kind: inject.KindSidecarProfile, Name: "logs"}
	mesh := inject.ProfileRef{Kind: inject.KindClusterSidecarProfile, Name: "mesh"}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		ref  inject.ProfileRef
		want []SidecarObservation
	}{
		{"a ready sidecar", pod(), logs, []SidecarObservation{{Pod: "web-1", Name: "logshipper", Revision: "r1", Started: true, Ready: true, PodStarted: &when}}},
		{"only the profile's sidecars, by the names recorded", pod(), mesh, []SidecarObservation{
			{Pod: "web-1", Name: "proxy", Revision: "m1", Started: true, RestartCount: 4, Waiting: "CrashLoopBackOff",
				LastTerminationReason: "OOMKilled", LastTerminationTime: &later, PodStarted: &when},
			{Pod: "web-1", Name: "init-proxy", Revision: "m1", RestartPolicyStripped: true, PodStarted: &when},
		}},
		{"a profile not recorded on the pod", pod(), inject.ProfileRef{Kind: inject.KindSidecarProfile, Name: "other"}, nil},
		{"a pod not scheduled yet", pod(func(p *corev1.Pod) { p.Status = corev1.PodStatus{Phase: corev1.PodPending} }), logs,
			[]SidecarObservation{{Pod: "web-1", Name: "logshipper", Revision: "r1"}}},
		{"a terminating pod", pod(func(p *corev1.Pod) { p.DeletionTimestamp = &later }), logs, nil},
		{"a finished pod", pod(func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }), logs, nil},
		{"a failed pod", pod(func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }), logs, nil},
		{"an unreadable record", pod(func(p *corev1.Pod) { p.Annotations[v1alpha1.InjectionAnnotation] = "{" }), logs, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := sidecarsIn(tc.pod, tc.ref)
			if tc.want == nil {
				NewWithT(t).Expect(got).To(BeEmpty())
				return
			}
			NewWithT(t).Expect(got).To(Equal(tc.want))
		})
	}
}

func TestMapPodToProfiles(t *testing.T) {
	g := NewWithT(t)
	p := pod(func(p *corev1.Pod) { p.Namespace = "ns" })
	g.Expect(mapPodToProfiles(false)(t.Context(), p)).To(Equal([]reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "logs"}}}))
	g.Expect(mapPodToProfiles(true)(t.Context(), p)).To(Equal([]reconcile.Request{{NamespacedName: types.NamespacedName{Name: "mesh"}}}))
	g.Expect(mapPodToProfiles(true)(t.Context(), &corev1.Pod{})).To(BeEmpty())
}

func TestPodChanged_IgnoresResourceVersionOnly(t *testing.T) {
	g := NewWithT(t)
	a := pod(func(p *corev1.Pod) { p.ResourceVersion = "1" })
	b := pod(func(p *corev1.Pod) { p.ResourceVersion = "2" })
	g.Expect(podChanged.Update(event.UpdateEvent{ObjectOld: a, ObjectNew: b})).To(BeFalse())
	b.Status.InitContainerStatuses[0].Ready = false
	g.Expect(podChanged.Update(event.UpdateEvent{ObjectOld: a, ObjectNew: b})).To(BeTrue())
}

func TestRolloutChanged(t *testing.T) {
	g := NewWithT(t)
	a := deployment(2, 1, appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 1})
	b := a.DeepCopy()
	b.Status.ReadyReplicas = 2 // status reads not this one
	g.Expect(rolloutChanged.Update(event.UpdateEvent{ObjectOld: a, ObjectNew: b})).To(BeFalse())
	b.Status.AvailableReplicas = 2
	g.Expect(rolloutChanged.Update(event.UpdateEvent{ObjectOld: a, ObjectNew: b})).To(BeTrue())
}

func TestNativeSidecarsUnsupported(t *testing.T) {
	for _, tc := range []struct {
		info    version.Info
		want    string
		wantsOK bool
	}{
		{version.Info{Major: "1", Minor: "37", GitVersion: "v1.37.1"}, "", true},
		{version.Info{Major: "1", Minor: "29", GitVersion: "v1.29.0"}, "", true},
		{version.Info{Major: "1", Minor: "28+", GitVersion: "v1.28.3-eks-4f4795d"}, "the cluster runs Kubernetes v1.28; native sidecars " +
			"(init containers with restartPolicy Always) need 1.29 or newer: upgrade the cluster", true},
		{version.Info{GitVersion: "v1.27.2+k3s1"}, "the cluster runs Kubernetes v1.27; native sidecars " +
			"(init containers with restartPolicy Always) need 1.29 or newer: upgrade the cluster", true},
		{version.Info{Major: "2", Minor: "0"}, "", true},
		{version.Info{GitVersion: "unknown"}, "", false},
	} {
		t.Run(tc.info.String(), func(t *testing.T) {
			got, ok := nativeSidecarsUnsupported(&tc.info)
			NewWithT(t).Expect([]any{got, ok}).To(Equal([]any{tc.want, tc.wantsOK}))
		})
	}
}
