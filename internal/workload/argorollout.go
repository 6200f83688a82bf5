package workload

import (
	"fmt"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// ArgoRollout is Argo Rollouts' Rollout (argoproj.io/v1alpha1), read as unstructured objects: Outrigger does not
// import Argo Rollouts' Go types, and serves the kind only where its CRD is installed. Its pod template is at
// spec.template, as a Deployment's; a Rollout that takes its template from a Deployment (spec.workloadRef) has
// none of its own, and is reported, not guessed at.
var ArgoRollout = func() Kind {
	k := unstructuredKind(v1alpha1.KindRollout, schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "Rollout"},
		"rollouts", "/spec/template", "/spec/selector", workloadRefMessage)
	k.Rollout = func(o client.Object) Rollout { return argoRolloutRollout(o.(*unstructured.Unstructured)) }
	return k
}()

// workloadRefMessage says what to do with a Rollout whose pod template lives in another workload.
func workloadRefMessage(u *unstructured.Unstructured) string {
	kind, name := nestedString(u, "spec", "workloadRef", "kind"), nestedString(u, "spec", "workloadRef", "name")
	if name == "" {
		return ""
	}
	return fmt.Sprintf("the Rollout takes its pod template from %s %s (spec.workloadRef), and Outrigger injects a pod template where it is written: "+
		"have the profile select %s %s/%s (list %s in spec.workloadKinds), and the Rollout runs its sidecars", kind, name, kind, u.GetNamespace(), name, kind)
}

// argoRolloutRollout: done once the Argo Rollouts controller has seen the current template (its
// status.observedGeneration is a string), the Rollout is Healthy, every replica runs the new template and it is
// the stable one (currentPodHash is stableRS: a canary that is still a canary is not done). Degraded is stuck; a
// pause that waits to be promoted is held, since Outrigger has done its part and only a person goes on.
func argoRolloutRollout(u *unstructured.Unstructured) Rollout {
	want := nestedInt(u, 1, "spec", "replicas")
	updated, available := nestedInt(u, 0, "status", "updatedReplicas"), nestedInt(u, 0, "status", "availableReplicas")
	phase := nestedString(u, "status", "phase")
	o := Rollout{Message: fmt.Sprintf("%d of %d replicas updated, %d available", updated, want, available)}
	caughtUp := nestedString(u, "status", "observedGeneration") == strconv.FormatInt(u.GetGeneration(), 10)
	stable := nestedString(u, "status", "currentPodHash") == nestedString(u, "status", "stableRS")
	o.Done = caughtUp && phase == "Healthy" && stable && updated == want && available == want
	switch {
	case o.Done:
	case !caughtUp:
		o.Message = "the Argo Rollouts controller has not seen the current pod template yet; " + o.Message
	case phase == "Degraded":
		o.Stuck, o.Since = true, progressingSince(u)
		o.Message += "; degraded: " + nestedString(u, "status", "message")
	case phase == "Paused" && !timedPause(u):
		o.Held = v1alpha1.ReasonRolloutPaused
		o.Message = fmt.Sprintf("paused (%s), waiting to be promoted; %s. To go on: kubectl argo rollouts promote -n %s %s",
			pauseReasons(u), o.Message, u.GetNamespace(), u.GetName())
	case !stable:
		o.Message += ", the new pods are not the stable ReplicaSet yet"
	}
	return o
}

// timedPause reports whether the Rollout is at a canary pause step with a duration, which ends by itself.
func timedPause(u *unstructured.Unstructured) bool {
	if len(pauseConditions(u)) == 0 || nestedBool(u, "spec", "paused") {
		return false
	}
	steps, _, _ := unstructured.NestedSlice(u.Object, "spec", "strategy", "canary", "steps")
	i := nestedInt(u, -1, "status", "currentStepIndex")
	if i < 0 || int(i) >= len(steps) {
		return false
	}
	step, _ := steps[i].(map[string]any)
	_, found, _ := unstructured.NestedFieldNoCopy(step, "pause", "duration")
	return found
}

func pauseConditions(u *unstructured.Unstructured) []any {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "pauseConditions")
	return conds
}

// pauseReasons lists why a Rollout is paused: its pauseConditions' reasons, or spec.paused.
func pauseReasons(u *unstructured.Unstructured) string {
	var reasons []string
	for _, c := range pauseConditions(u) {
		if m, ok := c.(map[string]any); ok {
			if r, ok := m["reason"].(string); ok {
				reasons = append(reasons, r)
			}
		}
	}
	if nestedBool(u, "spec", "paused") {
		reasons = append(reasons, "spec.paused")
	}
	if len(reasons) == 0 {
		return "phase Paused"
	}
	return strings.Join(reasons, ", ")
}

// progressingSince is the last transition of the Rollout's Progressing condition, when it has one.
func progressingSince(u *unstructured.Unstructured) *metav1.Time {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] != "Progressing" {
			continue
		}
		if s, ok := m["lastTransitionTime"].(string); ok {
			var t metav1.Time
			if t.UnmarshalQueryParameter(s) == nil {
				return &t
			}
		}
	}
	return nil
}

func nestedBool(u *unstructured.Unstructured, fields ...string) bool {
	b, _, _ := unstructured.NestedBool(u.Object, fields...)
	return b
}
