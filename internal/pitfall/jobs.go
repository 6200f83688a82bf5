package pitfall

import (
	"fmt"
	"slices"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/advice"
	"github.com/outrigger-dev/outrigger/internal/inject"
)

// Exit codes a sidecar gets when the kubelet stops it with the pod: 128+SIGTERM when it exits on the signal
// without handling it, 128+SIGKILL when the grace period ends first.
const (
	exitSIGTERM = 143
	exitSIGKILL = 137
)

// jobSpec returns the Job spec of a Job, or of a CronJob's jobTemplate, with the path of its fields; nil for
// other kinds.
func jobSpec(w *workload) (*batchv1.JobSpec, string) {
	switch o := w.in.Object.(type) {
	case *batchv1.Job:
		return &o.Spec, "spec"
	case *batchv1.CronJob:
		return &o.Spec.JobTemplate.Spec, "spec.jobTemplate.spec"
	}
	return nil, ""
}

// podFailurePolicy: a podFailurePolicy rule with onExitCodes and no containerName matches the exit codes of
// every container of a failed pod, the sidecars' too. When a pod fails, the kubelet stops its sidecars, which exit
// with 143 (SIGTERM) or 137 (killed at the end of the grace period): a rule whose onExitCodes match those would
// fail the Job, ignore the failure, or count it, for the sidecar's exit rather than the app's.
func podFailurePolicy(w *workload, _ Namespace) []advice.Advice {
	spec, path := jobSpec(w)
	if spec == nil || spec.PodFailurePolicy == nil {
		return nil
	}
	var out []advice.Advice
	for i, rule := range spec.PodFailurePolicy.Rules {
		on := rule.OnExitCodes
		if on == nil || (on.ContainerName != nil && *on.ContainerName != "") {
			continue
		}
		codes := matchedStopCodes(on)
		if len(codes) == 0 {
			continue
		}
		for _, ref := range w.profiles() {
			out = append(out, advice.Advice{Profile: ref, Reason: v1alpha1.ReasonPodFailurePolicyMatchesSidecars,
				Message: fmt.Sprintf("%s.podFailurePolicy.rules[%d] (action %s) matches exit codes %s without a containerName, "+
					"and the sidecars %s exit with 143 (SIGTERM) or 137 (killed) when a pod stops, so the rule can act on a "+
					"sidecar's exit rather than the app's: set %s.podFailurePolicy.rules[%d].onExitCodes.containerName to %s",
					path, i, rule.Action, codes, quoted(w.sidecarsOf(ref)), path, i, appContainerHint(w))})
		}
	}
	return out
}

// matchedStopCodes lists the sidecars' stop exit codes an onExitCodes requirement matches.
func matchedStopCodes(on *batchv1.PodFailurePolicyOnExitCodesRequirement) string {
	var matched []string
	for _, code := range []int32{exitSIGTERM, exitSIGKILL} {
		in := slices.Contains(on.Values, code)
		if (on.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn) == in {
			matched = append(matched, fmt.Sprint(code))
		}
	}
	if len(matched) == 0 {
		return ""
	}
	verb := "in"
	if on.Operator == batchv1.PodFailurePolicyOnExitCodesOpNotIn {
		verb = "not in"
	}
	return fmt.Sprintf("%s %v (%s among them)", verb, on.Values, strings.Join(matched, " and "))
}

// appContainerHint names the app container a rule should name: the only one, or one of them.
func appContainerHint(w *workload) string {
	apps := w.appContainers()
	if len(apps) == 1 {
		return fmt.Sprintf("%q", apps[0])
	}
	return "the app container it is meant for (one of " + quoted(apps) + ")"
}

// startupProbeInJob: in a pod with restartPolicy Never (a Job's), a sidecar with a startupProbe that fails once
// and restarts is never probed again by a kubelet without the fix of kubernetes/kubernetes#133072 (Kubernetes
// 1.35, and patch releases of 1.33 and 1.34), so the app containers wait for it forever
// (kubernetes/kubernetes#132826). With restartPolicy OnFailure the prober keeps going, so only Never is warned of.
func startupProbeInJob(w *workload, _ Namespace) []advice.Advice {
	if w.spec.RestartPolicy != corev1.RestartPolicyNever {
		return nil
	}
	var out []advice.Advice
	for _, s := range w.sidecars {
		if s.container.StartupProbe == nil {
			continue
		}
		out = append(out, advice.Advice{Profile: s.profile, Sidecar: s.container.Name, Reason: v1alpha1.ReasonStartupProbeInJob,
			Message: "has a startupProbe in a pod with restartPolicy Never: if the sidecar fails once and restarts, a kubelet " +
				"without the fix of kubernetes/kubernetes#133072 (Kubernetes 1.35, patch releases of 1.33 and 1.34) never probes " +
				"it again and the app containers never start (kubernetes/kubernetes#132826): give the sidecar no startupProbe " +
				"in a profile for Jobs (a profile of its own with workloadKinds [Job, CronJob]), or upgrade the nodes"})
	}
	return out
}

// sidecarsOf names the sidecars a profile injected, in the pod's order.
func (w *workload) sidecarsOf(ref inject.ProfileRef) []string {
	var out []string
	for _, s := range w.sidecars {
		if s.profile == ref {
			out = append(out, s.container.Name)
		}
	}
	return out
}

// quoted writes names as "a", "b".
func quoted(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
