package workload

import (
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

var when = metav1.Unix(1_700_000_000, 0)

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
		want Rollout
	}{
		{"done", deployment(3, 2, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3}),
			Rollout{Done: true, Message: "3 of 3 replicas updated, 3 available"}},
		{"replicas default to 1", &appsv1.Deployment{Status: appsv1.DeploymentStatus{Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1}},
			Rollout{Done: true, Message: "1 of 1 replicas updated, 1 available"}},
		{"scaled to zero", deployment(0, 1, appsv1.DeploymentStatus{ObservedGeneration: 1}),
			Rollout{Done: true, Message: "0 of 0 replicas updated, 0 available"}},
		{"half way, old pods left", deployment(3, 2, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 4, UpdatedReplicas: 2, AvailableReplicas: 1}),
			Rollout{Message: "2 of 3 replicas updated, 1 available, 2 old still running"}},
		{"all updated, one not available", deployment(3, 2, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 2}),
			Rollout{Message: "3 of 3 replicas updated, 2 available"}},
		{"controller behind the template", deployment(1, 3, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1}),
			Rollout{Message: "the Deployment controller has not seen the current pod template yet; 1 of 1 replicas updated, 1 available"}},
		{"stuck", deployment(2, 2, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 1, AvailableReplicas: 2,
			Conditions: []appsv1.DeploymentCondition{deadline}}),
			Rollout{Stuck: true, Since: &when, Message: `1 of 2 replicas updated, 2 available, 2 old still running; progress deadline exceeded: ReplicaSet "web-1" has timed out progressing.`}},
		{"a deadline from before the current template does not count", deployment(1, 3, appsv1.DeploymentStatus{ObservedGeneration: 2,
			Conditions: []appsv1.DeploymentCondition{deadline}}),
			Rollout{Message: "the Deployment controller has not seen the current pod template yet; 0 of 1 replicas updated, 0 available"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(Deployment.Rollout(tc.d)).To(Equal(tc.want))
		})
	}
}

func TestJobAndCronJobRollout(t *testing.T) {
	cond := func(typ batchv1.JobConditionType, reason, msg string) []batchv1.JobCondition {
		return []batchv1.JobCondition{{Type: typ, Status: corev1.ConditionTrue, Reason: reason, Message: msg}}
	}
	for _, tc := range []struct {
		name string
		kind Kind
		in   client.Object
		want Rollout
	}{
		{"a new Job has no pods yet", Job, &batchv1.Job{}, Rollout{Message: "0 active, 0 succeeded, 0 failed"}},
		{"a running Job runs its template", Job, &batchv1.Job{Status: batchv1.JobStatus{Active: 2}},
			Rollout{Done: true, Message: "2 active, 0 succeeded, 0 failed"}},
		{"complete", Job, &batchv1.Job{Status: batchv1.JobStatus{Succeeded: 1, Conditions: cond(batchv1.JobComplete, "CompletionsReached", "")}},
			Rollout{Done: true, Message: "complete: 0 active, 1 succeeded, 0 failed"}},
		{"failed is told, not stuck", Job, &batchv1.Job{Status: batchv1.JobStatus{Failed: 7, Conditions: cond(batchv1.JobFailed, "BackoffLimitExceeded", "Job has reached the specified backoff limit")}},
			Rollout{Done: true, Message: "failed (BackoffLimitExceeded: Job has reached the specified backoff limit): 0 active, 0 succeeded, 7 failed"}},
		{"suspended", Job, &batchv1.Job{Spec: batchv1.JobSpec{Suspend: ptr.To(true)}, Status: batchv1.JobStatus{Conditions: cond(batchv1.JobSuspended, "JobSuspended", "")}},
			Rollout{Done: true, Message: "suspended: 0 active, 0 succeeded, 0 failed"}},
		{"a CronJob never scheduled", CronJob, &batchv1.CronJob{}, Rollout{Done: true, Message: "not scheduled yet, 0 active Jobs"}},
		{"a CronJob that ran", CronJob, &batchv1.CronJob{Spec: batchv1.CronJobSpec{Suspend: ptr.To(true)},
			Status: batchv1.CronJobStatus{LastScheduleTime: &when, Active: []corev1.ObjectReference{{Name: "j"}}}},
			Rollout{Done: true, Message: "last scheduled at 2023-11-14T22:13:20Z, 1 active Jobs (suspended)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(tc.kind.Rollout(tc.in)).To(Equal(tc.want))
		})
	}
}
