package status

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/outrigger-dev/outrigger/internal/inject"
)

// SidecarsIn observes, in one pod, each sidecar the pod's record names for the profile. Terminating and
// finished pods are left out: their sidecars stop on purpose.
func SidecarsIn(pod *corev1.Pod, ref inject.ProfileRef) []SidecarObservation {
	if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return nil
	}
	rec, err := inject.ReadRecord(&corev1.PodTemplateSpec{ObjectMeta: pod.ObjectMeta})
	if err != nil {
		return nil // the workload's own unreadable record is reported already
	}
	e, ok := rec.Entry(ref)
	if !ok {
		return nil
	}
	out := make([]SidecarObservation, 0, len(e.InitContainers))
	for _, name := range e.InitContainers {
		o := SidecarObservation{Pod: pod.Name, Name: name, Revision: e.Hash, PodStarted: pod.Status.StartTime}
		for _, c := range pod.Spec.InitContainers {
			if c.Name == name {
				o.RestartPolicyStripped = ptr.Deref(c.RestartPolicy, "") != corev1.ContainerRestartPolicyAlways
			}
		}
		for _, s := range pod.Status.InitContainerStatuses {
			if s.Name != name {
				continue
			}
			o.Started, o.Ready, o.RestartCount = ptr.Deref(s.Started, false), s.Ready, s.RestartCount
			if w := s.State.Waiting; w != nil {
				o.Waiting = w.Reason
			}
			if t := s.LastTerminationState.Terminated; t != nil {
				o.LastTerminationReason, o.LastTerminationTime = t.Reason, ptr.To(t.FinishedAt)
			}
		}
		out = append(out, o)
	}
	return out
}
