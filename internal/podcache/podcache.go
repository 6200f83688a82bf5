// Package podcache keeps the manager's pod cache small: it holds only the pods that carry Outrigger's sidecars,
// and of each only what the profile status reads. Memory then follows the injected workloads, not the cluster.
package podcache

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// ByObject is the cache configuration of pods, to merge into ctrl.Options.Cache.ByObject: the informer lists and
// watches only the pods Outrigger injected (the InjectedLabel reaches every pod from its template) and stores
// them trimmed.
func ByObject() map[client.Object]cache.ByObject {
	return map[client.Object]cache.ByObject{
		&corev1.Pod{}: {Label: labels.SelectorFromSet(labels.Set{v1alpha1.InjectedLabel: "true"}), Transform: Transform},
	}
}

// Transform trims a pod to what status needs; anything else passes through unchanged (the informer may hand it
// other things, such as deletion tombstones).
func Transform(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	return Trim(pod), nil
}

// Trim returns a new pod with only what status reads: identity, labels, Outrigger's annotation, owners; the init
// containers' names and restart policies; phase, start time, the Ready condition, and the init containers'
// statuses without image, IDs or messages. The app containers' statuses are dropped: status never reads them.
func Trim(in *corev1.Pod) *corev1.Pod {
	out := &corev1.Pod{
		TypeMeta: in.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name:              in.Name,
			Namespace:         in.Namespace,
			UID:               in.UID,
			ResourceVersion:   in.ResourceVersion,
			CreationTimestamp: in.CreationTimestamp,
			DeletionTimestamp: in.DeletionTimestamp, // a terminating pod is not observed
			Labels:            in.Labels,
			OwnerReferences:   in.OwnerReferences,
		},
		Status: corev1.PodStatus{Phase: in.Status.Phase, StartTime: in.Status.StartTime},
	}
	if rec, ok := in.Annotations[v1alpha1.InjectionAnnotation]; ok {
		out.Annotations = map[string]string{v1alpha1.InjectionAnnotation: rec}
	}
	for _, c := range in.Spec.InitContainers {
		out.Spec.InitContainers = append(out.Spec.InitContainers, corev1.Container{Name: c.Name, RestartPolicy: c.RestartPolicy})
	}
	for _, c := range in.Status.Conditions {
		if c.Type == corev1.PodReady {
			out.Status.Conditions = []corev1.PodCondition{{Type: c.Type, Status: c.Status, LastTransitionTime: c.LastTransitionTime}}
		}
	}
	for _, s := range in.Status.InitContainerStatuses {
		t := corev1.ContainerStatus{Name: s.Name, Ready: s.Ready, Started: s.Started, RestartCount: s.RestartCount}
		if w := s.State.Waiting; w != nil {
			t.State.Waiting = &corev1.ContainerStateWaiting{Reason: w.Reason}
		}
		if term := s.LastTerminationState.Terminated; term != nil {
			t.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{
				Reason: term.Reason, FinishedAt: term.FinishedAt, ExitCode: term.ExitCode,
			}
		}
		out.Status.InitContainerStatuses = append(out.Status.InitContainerStatuses, t)
	}
	return out
}
