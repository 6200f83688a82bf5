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

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
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

func statefulSet(replicas int32, generation int64, strategy appsv1.StatefulSetUpdateStrategy, s appsv1.StatefulSetStatus) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "db", Name: "pg", Generation: generation},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To(replicas), UpdateStrategy: strategy}, Status: s}
}

func TestStatefulSetRollout(t *testing.T) {
	rolling := appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType}
	onDelete := appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	partition := func(p int32) appsv1.StatefulSetUpdateStrategy {
		return appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
			RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To(p)}}
	}
	done := appsv1.StatefulSetStatus{ObservedGeneration: 2, Replicas: 3, ReadyReplicas: 3, UpdatedReplicas: 3, CurrentRevision: "pg-2", UpdateRevision: "pg-2"}
	halfway := appsv1.StatefulSetStatus{ObservedGeneration: 2, Replicas: 3, ReadyReplicas: 3, UpdatedReplicas: 1, CurrentRevision: "pg-1", UpdateRevision: "pg-2"}
	for _, tc := range []struct {
		name string
		s    *appsv1.StatefulSet
		want Rollout
	}{
		{"done", statefulSet(3, 2, rolling, done), Rollout{Done: true, Message: "3 of 3 replicas updated, 3 ready"}},
		{"rolling, one pod updated", statefulSet(3, 2, rolling, halfway), Rollout{Message: "1 of 3 replicas updated, 3 ready"}},
		{"all updated, revision not caught up yet", statefulSet(3, 2, rolling, appsv1.StatefulSetStatus{ObservedGeneration: 2, Replicas: 3, ReadyReplicas: 3,
			UpdatedReplicas: 3, CurrentRevision: "pg-1", UpdateRevision: "pg-2"}), Rollout{Message: "3 of 3 replicas updated, 3 ready"}},
		{"controller behind the template", statefulSet(3, 3, rolling, done),
			Rollout{Message: "the StatefulSet controller has not seen the current pod template yet; 3 of 3 replicas updated, 3 ready"}},
		{"OnDelete waits for the pods to be deleted, with the command", statefulSet(3, 2, onDelete, halfway), Rollout{Held: v1alpha1.ReasonWaitingForPodDeletion,
			Message: "waiting for its pods to be deleted: updateStrategy is OnDelete, so the StatefulSet controller replaces a pod only once it is deleted; " +
				"1 of 3 replicas updated, 3 ready. Delete the old pods one at a time, highest ordinal first, each once the one before is ready again: " +
				"kubectl -n db delete pod pg-2, then pg-1, pg-0"}},
		{"OnDelete, every pod replaced: done", statefulSet(3, 2, onDelete, done), Rollout{Done: true, Message: "3 of 3 replicas updated, 3 ready"}},
		{"OnDelete, every pod replaced, currentRevision left behind (older controllers): done", statefulSet(3, 2, onDelete,
			appsv1.StatefulSetStatus{ObservedGeneration: 2, Replicas: 3, ReadyReplicas: 3, UpdatedReplicas: 3, CurrentRevision: "pg-1", UpdateRevision: "pg-2"}),
			Rollout{Done: true, Message: "3 of 3 replicas updated, 3 ready"}},
		{"OnDelete with many replicas names the first three", statefulSet(5, 2, onDelete, appsv1.StatefulSetStatus{ObservedGeneration: 2, Replicas: 5, ReadyReplicas: 5}),
			Rollout{Held: v1alpha1.ReasonWaitingForPodDeletion, Message: "waiting for its pods to be deleted: updateStrategy is OnDelete, so the StatefulSet controller replaces a pod only once it is deleted; " +
				"0 of 5 replicas updated, 5 ready. Delete the old pods one at a time, highest ordinal first, each once the one before is ready again: " +
				"kubectl -n db delete pod pg-4, then pg-3, pg-2, ..."}},
		{"partition reached: held, with what to lower", statefulSet(3, 2, partition(2), halfway), Rollout{Held: v1alpha1.ReasonRolloutPartitioned,
			Message: "held at partition 2: the StatefulSet controller updates only the pods of ordinal 2 and up; 1 of 3 replicas updated, 3 ready. " +
				"Lower spec.updateStrategy.rollingUpdate.partition to roll the rest out"}},
		{"partition not reached yet: rolling", statefulSet(3, 2, partition(1), halfway), Rollout{Message: "1 of 3 replicas updated, 3 ready"}},
		{"partition 0 is a plain rolling update", statefulSet(3, 2, partition(0), done), Rollout{Done: true, Message: "3 of 3 replicas updated, 3 ready"}},
		{"replicas default to 1", &appsv1.StatefulSet{Status: appsv1.StatefulSetStatus{Replicas: 1, ReadyReplicas: 1, UpdatedReplicas: 1}},
			Rollout{Done: true, Message: "1 of 1 replicas updated, 1 ready"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(StatefulSet.Rollout(tc.s)).To(Equal(tc.want))
		})
	}
}

func TestDaemonSetRollout(t *testing.T) {
	ds := func(strategy appsv1.DaemonSetUpdateStrategyType, generation int64, s appsv1.DaemonSetStatus) *appsv1.DaemonSet {
		return &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "agent", Generation: generation},
			Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
				UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: strategy}}, Status: s}
	}
	done := appsv1.DaemonSetStatus{ObservedGeneration: 4, DesiredNumberScheduled: 2, UpdatedNumberScheduled: 2, NumberAvailable: 2}
	halfway := appsv1.DaemonSetStatus{ObservedGeneration: 4, DesiredNumberScheduled: 2, UpdatedNumberScheduled: 1, NumberAvailable: 2}
	for _, tc := range []struct {
		name string
		d    *appsv1.DaemonSet
		want Rollout
	}{
		{"done", ds(appsv1.RollingUpdateDaemonSetStrategyType, 4, done), Rollout{Done: true, Message: "2 of 2 scheduled pods updated, 2 available"}},
		{"rolling", ds(appsv1.RollingUpdateDaemonSetStrategyType, 4, halfway), Rollout{Message: "1 of 2 scheduled pods updated, 2 available"}},
		{"updated, one not available yet", ds(appsv1.RollingUpdateDaemonSetStrategyType, 4, appsv1.DaemonSetStatus{ObservedGeneration: 4,
			DesiredNumberScheduled: 2, UpdatedNumberScheduled: 2, NumberAvailable: 1}), Rollout{Message: "2 of 2 scheduled pods updated, 1 available"}},
		{"no node to run on: done", ds(appsv1.RollingUpdateDaemonSetStrategyType, 4, appsv1.DaemonSetStatus{ObservedGeneration: 4}),
			Rollout{Done: true, Message: "0 of 0 scheduled pods updated, 0 available"}},
		{"controller behind the template", ds(appsv1.RollingUpdateDaemonSetStrategyType, 5, done),
			Rollout{Message: "the DaemonSet controller has not seen the current pod template yet; 2 of 2 scheduled pods updated, 2 available"}},
		{"OnDelete waits for the pods to be deleted, with the command", ds(appsv1.OnDeleteDaemonSetStrategyType, 4, halfway), Rollout{Held: v1alpha1.ReasonWaitingForPodDeletion,
			Message: "waiting for its pods to be deleted: updateStrategy is OnDelete, so the DaemonSet controller replaces a pod only once it is deleted; " +
				"1 of 2 scheduled pods updated, 2 available. Delete the old pods node by node: kubectl -n ops delete pod -l 'app=agent' --field-selector spec.nodeName=NODE"}},
		{"OnDelete, every pod replaced: done", ds(appsv1.OnDeleteDaemonSetStrategyType, 4, done), Rollout{Done: true, Message: "2 of 2 scheduled pods updated, 2 available"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(DaemonSet.Rollout(tc.d)).To(Equal(tc.want))
		})
	}
}
