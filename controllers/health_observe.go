package controllers

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilversion "k8s.io/apimachinery/pkg/util/version"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/outrigger-dev/outrigger/internal/inject"
)

// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch

// rolloutOf reads a workload's own rollout from its status.
func rolloutOf(obj client.Object) RolloutObservation {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return deploymentRollout(o)
	case *batchv1.Job:
		return jobRollout(o)
	case *batchv1.CronJob:
		return cronJobRollout(o)
	}
	return RolloutObservation{Done: true}
}

// deploymentRollout: done once the Deployment controller has seen the current template and every desired
// replica is updated and available with no old one left; stuck once it gave up (ProgressDeadlineExceeded).
func deploymentRollout(d *appsv1.Deployment) RolloutObservation {
	want, s := ptr.Deref(d.Spec.Replicas, 1), d.Status
	o := RolloutObservation{Message: fmt.Sprintf("%d of %d replicas updated, %d available", s.UpdatedReplicas, want, s.AvailableReplicas)}
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
func jobRollout(j *batchv1.Job) RolloutObservation {
	s := j.Status
	o := RolloutObservation{
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
func cronJobRollout(c *batchv1.CronJob) RolloutObservation {
	o := RolloutObservation{Done: true, Message: "not scheduled yet"}
	if t := c.Status.LastScheduleTime; t != nil {
		o.Message = "last scheduled at " + t.UTC().Format(time.RFC3339)
	}
	o.Message += fmt.Sprintf(", %d active Jobs", len(c.Status.Active))
	if ptr.Deref(c.Spec.Suspend, false) {
		o.Message += " (suspended)"
	}
	return o
}

// sidecarsOf observes the profile's sidecars in a workload's running pods, from the pod cache (only pods that
// carry Outrigger's label, trimmed). Pods are matched by the workload's own selector, as its controller does.
func sidecarsOf(ctx context.Context, c client.Reader, obj client.Object, ref inject.ProfileRef) ([]SidecarObservation, error) {
	pods, err := podsOf(ctx, c, obj)
	if err != nil {
		return nil, err
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	var out []SidecarObservation
	for i := range pods {
		out = append(out, sidecarsIn(&pods[i], ref)...)
	}
	return out, nil
}

// podsOf lists a workload's pods; a CronJob's are those of the Jobs it owns.
func podsOf(ctx context.Context, c client.Reader, obj client.Object) ([]corev1.Pod, error) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return podsMatching(ctx, c, o.Namespace, o.Spec.Selector)
	case *batchv1.Job:
		return podsMatching(ctx, c, o.Namespace, o.Spec.Selector)
	case *batchv1.CronJob:
		var jobs batchv1.JobList
		if err := c.List(ctx, &jobs, client.InNamespace(o.Namespace), client.MatchingFields{indexCronJobUID: string(o.UID)}, client.UnsafeDisableDeepCopy); err != nil {
			return nil, fmt.Errorf("listing the Jobs of CronJob %s/%s: %w", o.Namespace, o.Name, err)
		}
		var pods []corev1.Pod
		for i := range jobs.Items {
			more, err := podsMatching(ctx, c, o.Namespace, jobs.Items[i].Spec.Selector)
			if err != nil {
				return nil, err
			}
			pods = append(pods, more...)
		}
		return pods, nil
	}
	return nil, nil
}

func podsMatching(ctx context.Context, c client.Reader, namespace string, ls *metav1.LabelSelector) ([]corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(ls)
	// An empty selector would take every pod of the namespace for the workload's: no controller does that.
	if ls == nil || err != nil || sel.Empty() {
		return nil, nil
	}
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabelsSelector{Selector: sel}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing pods in %s: %w", namespace, err)
	}
	return pods.Items, nil
}

// sidecarsIn observes, in one pod, each sidecar the pod's record names for the profile. Terminating and
// finished pods are left out: their sidecars stop on purpose.
func sidecarsIn(pod *corev1.Pod, ref inject.ProfileRef) []SidecarObservation {
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

// mapPodToProfiles enqueues the profiles of one kind recorded on a pod: its sidecars' health is theirs.
func mapPodToProfiles(clusterScoped bool) func(context.Context, client.Object) []reconcile.Request {
	return func(_ context.Context, obj client.Object) []reconcile.Request {
		rec, err := inject.ReadRecord(&corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Annotations: obj.GetAnnotations()}})
		if err != nil {
			return nil
		}
		var reqs []reconcile.Request
		for _, ref := range rec.Refs() {
			switch {
			case ref.Kind == inject.KindClusterSidecarProfile && clusterScoped:
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKey{Name: ref.Name}})
			case ref.Kind == inject.KindSidecarProfile && !clusterScoped:
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKey{Namespace: obj.GetNamespace(), Name: ref.Name}})
			}
		}
		return reqs
	}
}

// podChanged passes pod updates that change what the cache keeps of the pod (it is trimmed to what status
// reads), not those that only bump its resourceVersion.
var podChanged = predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
	a, okA := e.ObjectOld.(*corev1.Pod)
	b, okB := e.ObjectNew.(*corev1.Pod)
	if !okA || !okB {
		return true
	}
	x, y := *a, *b
	x.ResourceVersion, y.ResourceVersion = "", ""
	return !equality.Semantic.DeepEqual(x, y)
}}

// rolloutChanged passes workload updates that change the rollout status reads (most status writes of a
// Deployment change nothing the profile reports).
var rolloutChanged = predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
	return !equality.Semantic.DeepEqual(rolloutOf(e.ObjectOld), rolloutOf(e.ObjectNew))
}}

// nativeSidecarsMinMinor is the first Kubernetes 1.x minor with native sidecars on by default.
const nativeSidecarsMinMinor = 29

// NativeSidecarSupport asks the apiserver its version and returns why the cluster cannot run native sidecars,
// or "" when it can. When it cannot tell, it logs why and assumes it can: a wrong "unsupported" would stall
// every profile.
func NativeSidecarSupport(cfg *rest.Config) string {
	log := ctrl.Log.WithName("setup")
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		log.Error(err, "cannot ask the apiserver its version; assuming it supports native sidecars")
		return ""
	}
	info, err := dc.ServerVersion()
	if err != nil {
		log.Error(err, "cannot read the apiserver's version; assuming it supports native sidecars")
		return ""
	}
	msg, ok := nativeSidecarsUnsupported(info)
	if !ok {
		log.Info("cannot parse the apiserver's version; assuming it supports native sidecars", "version", info.GitVersion)
	}
	return msg
}

// nativeSidecarsUnsupported returns the message for a server version older than 1.29, "" for a newer one; ok is
// false when the version cannot be parsed.
func nativeSidecarsUnsupported(info *version.Info) (msg string, ok bool) {
	major, minor, ok := majorMinor(info)
	if !ok || major > 1 || minor >= nativeSidecarsMinMinor {
		return "", ok
	}
	return fmt.Sprintf("the cluster runs Kubernetes v%d.%d; native sidecars (init containers with restartPolicy Always) "+
		"need 1.%d or newer: upgrade the cluster", major, minor, nativeSidecarsMinMinor), true
}

// majorMinor reads Major and Minor, which some providers suffix ("28+"), else the git version ("v1.28.3-eks-1").
func majorMinor(info *version.Info) (major, minor int, ok bool) {
	major, errMajor := strconv.Atoi(leadingDigits(info.Major))
	minor, errMinor := strconv.Atoi(leadingDigits(info.Minor))
	if errMajor == nil && errMinor == nil {
		return major, minor, true
	}
	v, err := utilversion.ParseGeneric(info.GitVersion)
	if err != nil {
		return 0, 0, false
	}
	return int(v.Major()), int(v.Minor()), true
}

func leadingDigits(s string) string {
	for i, r := range s {
		if r < '0' || r > '9' {
			return s[:i]
		}
	}
	return s
}
