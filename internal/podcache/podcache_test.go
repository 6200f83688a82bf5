package podcache_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/podcache"
)

var (
	t0     = metav1.Unix(1_700_000_000, 0)
	t1     = metav1.Unix(1_700_000_100, 0)
	always = ptr.To(corev1.ContainerRestartPolicyAlways)
)

// fullPod is a pod as the apiserver returns it, with much that status never reads.
func fullPod() *corev1.Pod {
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{
			Name: "web-1", Namespace: "ns", UID: "uid-1", ResourceVersion: "42", Generation: 3,
			CreationTimestamp: t0, DeletionTimestamp: &t1,
			Labels: map[string]string{"app": "web", v1alpha1.InjectedLabel: "true"},
			Annotations: map[string]string{
				v1alpha1.InjectionAnnotation:                       `{"profiles":[]}`,
				"kubectl.kubernetes.io/last-applied-configuration": "{...big...}",
			},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-abc", UID: "rs"}},
			Finalizers:      []string{"example.com/f"},
			ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager"}},
		},
		Spec: corev1.PodSpec{
			NodeName: "node-1",
			Volumes:  []corev1.Volume{{Name: "data"}},
			InitContainers: []corev1.Container{
				{Name: "migrate", Image: "migrate:1", Command: []string{"migrate"}},
				{Name: "logshipper", Image: "fluent-bit:3", RestartPolicy: always,
					Env:            []corev1.EnvVar{{Name: "A", Value: "b"}},
					Resources:      corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}},
					ReadinessProbe: &corev1.Probe{PeriodSeconds: 5}},
			},
			Containers: []corev1.Container{{Name: "app", Image: "app:1"}},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, StartTime: &t0, PodIP: "10.0.0.1", HostIP: "192.168.0.1", QOSClass: corev1.PodQOSBurstable,
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: t0},
				{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: t1, Reason: "ContainersNotReady", Message: "long words"},
			},
			InitContainerStatuses: []corev1.ContainerStatus{
				{Name: "migrate", Ready: true, Image: "migrate:1", ImageID: "sha256:a", ContainerID: "containerd://1",
					State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed", ExitCode: 0, FinishedAt: t0}}},
				{Name: "logshipper", Ready: false, Started: ptr.To(false), RestartCount: 3, Image: "fluent-bit:3", ImageID: "sha256:b",
					State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 40s"}},
					LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
						Reason: "Error", ExitCode: 137, FinishedAt: t1, StartedAt: t0, Message: "killed", ContainerID: "containerd://2"}}},
			},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, Image: "app:1"}},
		},
	}
}

// trimmedPod is what the cache keeps of fullPod.
func trimmedPod() *corev1.Pod {
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{
			Name: "web-1", Namespace: "ns", UID: "uid-1", ResourceVersion: "42", CreationTimestamp: t0, DeletionTimestamp: &t1,
			Labels:          map[string]string{"app": "web", v1alpha1.InjectedLabel: "true"},
			Annotations:     map[string]string{v1alpha1.InjectionAnnotation: `{"profiles":[]}`},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-abc", UID: "rs"}},
		},
		Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: "migrate"}, {Name: "logshipper", RestartPolicy: always}}},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, StartTime: &t0,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: t1}},
			InitContainerStatuses: []corev1.ContainerStatus{
				{Name: "migrate", Ready: true},
				{Name: "logshipper", Started: ptr.To(false), RestartCount: 3,
					State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
					LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
						Reason: "Error", ExitCode: 137, FinishedAt: t1}}},
			},
		},
	}
}

func TestTransform(t *testing.T) {
	tombstone := cache.DeletedFinalStateUnknown{Key: "ns/web-1", Obj: fullPod()}
	for _, tc := range []struct {
		name string
		in   any
		want any
	}{
		{"a pod keeps only what status reads", fullPod(), trimmedPod()},
		{"a trimmed pod stays as it is", trimmedPod(), trimmedPod()},
		{"a pod without Outrigger's annotation gets none", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p",
			Annotations: map[string]string{"other": "x"}}}, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}}},
		{"something else passes through", &corev1.ConfigMap{Data: map[string]string{"a": "b"}}, &corev1.ConfigMap{Data: map[string]string{"a": "b"}}},
		{"a tombstone passes through", tombstone, tombstone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := podcache.Transform(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(got, tc.want) {
				t.Errorf("got\n%#v\nwant\n%#v", got, tc.want)
			}
			again, _ := podcache.Transform(got)
			if !equality.Semantic.DeepEqual(again, got) {
				t.Errorf("not idempotent: the second pass gives\n%#v", again)
			}
		})
	}
}

// The input is not modified: the informer may share it.
func TestTrim_LeavesItsInputAlone(t *testing.T) {
	in := fullPod()
	podcache.Trim(in)
	if !equality.Semantic.DeepEqual(in, fullPod()) {
		t.Error("Trim modified its input")
	}
}

func TestByObject_CachesOnlyInjectedPods(t *testing.T) {
	for obj, by := range podcache.ByObject() {
		if _, ok := obj.(*corev1.Pod); !ok {
			t.Fatalf("unexpected object %T", obj)
		}
		if !by.Label.Matches(labels.Set{v1alpha1.InjectedLabel: "true", "app": "web"}) || by.Label.Matches(labels.Set{"app": "web"}) {
			t.Errorf("label selector %s", by.Label)
		}
		if by.Transform == nil {
			t.Error("no transform")
		}
	}
}
