package workload

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Rollout is a workload's own rollout, read from its status.
type Rollout struct {
	// Done: the workload runs the pod template it has now. A Deployment: observedGeneration caught up and every
	// desired replica updated and available. A Job: complete, or its pods run its template. A CronJob: always
	// (the Jobs it makes next use its template).
	Done bool
	// Stuck: the rollout cannot progress without a person (a Deployment's ProgressDeadlineExceeded).
	Stuck bool
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
