package workload

import (
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// Rollout is a workload's own rollout, read from its status.
type Rollout struct {
	// Done: the workload runs the pod template it has now. A Deployment: observedGeneration caught up and every
	// desired replica updated and available. A Job: complete, or its pods run its template. A CronJob: always
	// (the Jobs it makes next use its template).
	Done bool
	// Stuck: the rollout cannot progress without a person (a Deployment's ProgressDeadlineExceeded).
	Stuck bool
	// Held is why the workload's controller will go no further without a person, though nothing is wrong
	// (v1alpha1.ReasonWaitingForPodDeletion, ReasonRolloutPartitioned); "" when it is not held. Message then
	// says what to do. A held rollout is not Done, and not Stuck.
	Held string
	// Message says how far it got, in words, e.g. "2 of 3 replicas updated, 1 available".
	Message string
	// Since is the last transition of the condition that tells, when known.
	Since *metav1.Time
}

// deploymentRollout: done once the Deployment controller has seen the current template and every desired
// replica is updated and available with no old one left; stuck once it gave up (ProgressDeadlineExceeded).
func deploymentRollout(d *appsv1.Deployment) Rollout {
	want, s := ptr.Deref(d.Spec.Replicas, 1), d.Status
	o := Rollout{Message: fmt.Sprintf("%d of %d replicas updated, %d available", s.UpdatedReplicas, want, s.AvailableReplicas)}
	caughtUp := s.ObservedGeneration >= d.Generation
	o.Done = caughtUp && s.UpdatedReplicas == want && s.AvailableReplicas == want && s.Replicas == want
	switch {
	case !caughtUp:
		o.Message = "the Deployment controller has not seen the current pod template yet; " + o.Message
	case s.Replicas > s.UpdatedReplicas:
		o.Message += fmt.Sprintf(", %d old still running", s.Replicas-s.UpdatedReplicas)
	}
	if d.Spec.Paused && !o.Done {
		o.Message += " (rollout paused)"
	}
	for _, c := range s.Conditions {
		// A condition from before the current generation may describe an older rollout.
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" && caughtUp && !o.Done {
			o.Stuck, o.Since = true, ptr.To(c.LastTransitionTime)
			o.Message += "; progress deadline exceeded: " + c.Message
		}
	}
	return o
}

// jobRollout: a Job's pod template never changes, so its pods run it as soon as there are any; a Job that
// failed is done (and says so), not stuck: there is nothing left to roll out.
func jobRollout(j *batchv1.Job) Rollout {
	s := j.Status
	o := Rollout{
		Done:    s.Active > 0 || s.Succeeded > 0 || s.Failed > 0 || ptr.Deref(j.Spec.Suspend, false),
		Message: fmt.Sprintf("%d active, %d succeeded, %d failed", s.Active, s.Succeeded, s.Failed),
	}
	for _, c := range s.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			o.Done, o.Message = true, "complete: "+o.Message
		case batchv1.JobFailed:
			o.Done, o.Message = true, fmt.Sprintf("failed (%s: %s): %s", c.Reason, c.Message, o.Message)
		case batchv1.JobSuspended:
			o.Message = "suspended: " + o.Message
		}
	}
	return o
}

// cronJobRollout: always done, since the Jobs it makes next use its template; the message says when it last
// made one and how many run.
func cronJobRollout(c *batchv1.CronJob) Rollout {
	o := Rollout{Done: true, Message: "not scheduled yet"}
	if t := c.Status.LastScheduleTime; t != nil {
		o.Message = "last scheduled at " + t.UTC().Format(time.RFC3339)
	}
	o.Message += fmt.Sprintf(", %d active Jobs", len(c.Status.Active))
	if ptr.Deref(c.Spec.Suspend, false) {
		o.Message += " (suspended)"
	}
	return o
}

// statefulSetRollout: done once the StatefulSet controller has seen the current template and every replica
// runs it (updateRevision is currentRevision) and is ready. With updateStrategy OnDelete the controller changes
// no pod by itself; with a partition it updates only the ordinals at or above it: both are held, with what
// to do, once the controller went as far as it will.
func statefulSetRollout(s *appsv1.StatefulSet) Rollout {
	want, st := ptr.Deref(s.Spec.Replicas, 1), s.Status
	o := Rollout{Message: fmt.Sprintf("%d of %d replicas updated, %d ready", st.UpdatedReplicas, want, st.ReadyReplicas)}
	caughtUp := st.ObservedGeneration >= s.Generation
	// Older StatefulSet controllers (1.29 among them) move currentRevision only for RollingUpdate
	// (kubernetes/kubernetes#73492): an OnDelete StatefulSet is done once every pod runs the update revision.
	onDelete := s.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType
	o.Done = caughtUp && (st.UpdateRevision == st.CurrentRevision || onDelete) && st.UpdatedReplicas == want &&
		st.ReadyReplicas == want && st.Replicas == want
	if !caughtUp {
		o.Message = "the StatefulSet controller has not seen the current pod template yet; " + o.Message
		return o
	}
	if o.Done {
		return o
	}
	partition := int32(0)
	if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		partition = ptr.Deref(ru.Partition, 0)
	}
	switch {
	case onDelete:
		o.Held = v1alpha1.ReasonWaitingForPodDeletion
		o.Message = fmt.Sprintf("waiting for its pods to be deleted: updateStrategy is OnDelete, so the StatefulSet controller replaces a pod only once it is deleted; %s. "+
			"Delete the old pods one at a time, highest ordinal first, each once the one before is ready again: %s",
			o.Message, deleteOrdinals(s.Namespace, s.Name, want))
	case partition > 0 && st.UpdatedReplicas >= max(want-partition, 0) && st.ReadyReplicas == want:
		o.Held = v1alpha1.ReasonRolloutPartitioned
		o.Message = fmt.Sprintf("held at partition %d: the StatefulSet controller updates only the pods of ordinal %d and up; %s. "+
			"Lower spec.updateStrategy.rollingUpdate.partition to roll the rest out",
			partition, partition, o.Message)
	}
	return o
}

// deleteOrdinals is the command that deletes a StatefulSet's pods, one at a time from the highest ordinal.
func deleteOrdinals(namespace, name string, replicas int32) string {
	var pods []string
	for i := replicas - 1; i >= 0 && len(pods) < 3; i-- {
		pods = append(pods, fmt.Sprintf("%s-%d", name, i))
	}
	cmd := fmt.Sprintf("kubectl -n %s delete pod %s", namespace, pods[0])
	if len(pods) > 1 {
		cmd += ", then " + strings.Join(pods[1:], ", ")
	}
	if replicas > 3 {
		cmd += ", ..."
	}
	return cmd
}

// daemonSetRollout: done once the DaemonSet controller has seen the current template and every node that
// should run a pod runs an updated, available one. With updateStrategy OnDelete it is held as a StatefulSet's.
func daemonSetRollout(d *appsv1.DaemonSet) Rollout {
	st := d.Status
	o := Rollout{Message: fmt.Sprintf("%d of %d scheduled pods updated, %d available", st.UpdatedNumberScheduled, st.DesiredNumberScheduled, st.NumberAvailable)}
	caughtUp := st.ObservedGeneration >= d.Generation
	o.Done = caughtUp && st.UpdatedNumberScheduled == st.DesiredNumberScheduled && st.NumberAvailable == st.DesiredNumberScheduled
	switch {
	case !caughtUp:
		o.Message = "the DaemonSet controller has not seen the current pod template yet; " + o.Message
	case !o.Done && d.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType:
		o.Held = v1alpha1.ReasonWaitingForPodDeletion
		o.Message = fmt.Sprintf("waiting for its pods to be deleted: updateStrategy is OnDelete, so the DaemonSet controller replaces a pod only once it is deleted; %s. "+
			"Delete the old pods node by node: kubectl -n %s delete pod -l %s --field-selector spec.nodeName=NODE",
			o.Message, d.Namespace, selectorString(d.Spec.Selector))
	}
	return o
}

// selectorString is a label selector as kubectl's -l takes it, quoted for a shell.
func selectorString(sel *metav1.LabelSelector) string {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() {
		return "'<the DaemonSet's selector>'"
	}
	return "'" + s.String() + "'"
}
