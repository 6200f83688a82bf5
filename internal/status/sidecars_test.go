package status

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
)

var (
	when  = metav1.Unix(1_700_000_000, 0)
	later = metav1.Unix(1_700_000_600, 0)
)

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

func TestSidecarsIn_ObservesTheProfilesSidecarsInRunningPods(t *testing.T) {
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
			got := SidecarsIn(tc.pod, tc.ref)
			if tc.want == nil {
				NewWithT(t).Expect(got).To(BeEmpty())
				return
			}
			NewWithT(t).Expect(got).To(Equal(tc.want))
		})
	}
}
