package profile

import (
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// pod is a pod whose record carries SidecarProfile/logs and ClusterSidecarProfile/mesh, with a ready sidecar.
func pod(mutate ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Annotations: map[string]string{v1alpha1.InjectionAnnotation: `{"profiles":[` +
			`{"kind":"SidecarProfile","name":"logs","hash":"r1","placement":"BeforeInitContainers","initContainers":["logshipper"]},` +
			`{"kind":"ClusterSidecarProfile","name":"mesh","hash":"m1","placement":"BeforeInitContainers","initContainers":["proxy"]}]}`}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, InitContainerStatuses: []corev1.ContainerStatus{
			{Name: "logshipper", Ready: true, Started: ptr.To(true)},
		}},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func TestMapPodToProfiles_EnqueuesTheRecordedProfilesOfTheReconcilersKind(t *testing.T) {
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

func TestRolloutChanged_OnlyWhatStatusReads(t *testing.T) {
	g := NewWithT(t)
	a := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: 1}, Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(2))},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 1}}
	b := a.DeepCopy()
	b.Status.ReadyReplicas = 2 // status reads not this one
	g.Expect(rolloutChanged(workload.Deployment).Update(event.UpdateEvent{ObjectOld: a, ObjectNew: b})).To(BeFalse())
	b.Status.AvailableReplicas = 2
	g.Expect(rolloutChanged(workload.Deployment).Update(event.UpdateEvent{ObjectOld: a, ObjectNew: b})).To(BeTrue())
}

// A deleting profile wakes its reconciler when its finalizers change (another controller's went), and never on
// its own status writes.
func TestSpecOrDeletionChanged(t *testing.T) {
	now := metav1.Now()
	profile := func(gen int64, deleting bool, finalizers ...string) *v1alpha1.SidecarProfile {
		p := &v1alpha1.SidecarProfile{ObjectMeta: metav1.ObjectMeta{Generation: gen, Finalizers: finalizers}}
		if deleting {
			p.DeletionTimestamp = &now
		}
		return p
	}
	for _, tc := range []struct {
		name     string
		old, new *v1alpha1.SidecarProfile
		want     bool
	}{
		{"a status write", profile(1, false, v1alpha1.Finalizer), profile(1, false, v1alpha1.Finalizer), false},
		{"a new spec", profile(1, false), profile(2, false), true},
		{"deletion starts", profile(1, false, v1alpha1.Finalizer), profile(1, true, v1alpha1.Finalizer), true},
		{"another finalizer goes while deleting", profile(2, true, "other.example/keep", v1alpha1.Finalizer), profile(2, true, v1alpha1.Finalizer), true},
		{"a status write while deleting", profile(2, true, v1alpha1.Finalizer), profile(2, true, v1alpha1.Finalizer), false},
		{"a finalizer added before deletion", profile(1, false), profile(1, false, v1alpha1.Finalizer), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := specOrDeletionChanged.Update(event.UpdateEvent{ObjectOld: tc.old, ObjectNew: tc.new})
			NewWithT(t).Expect(got).To(Equal(tc.want))
		})
	}
}
