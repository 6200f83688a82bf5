package workload

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// argoRollout is a Rollout of 3 replicas at generation 2, with the given spec and status fields merged in.
func argoRollout(spec, status map[string]any) *unstructured.Unstructured {
	u := ArgoRollout.NewObject().(*unstructured.Unstructured)
	u.SetNamespace("shop")
	u.SetName("web")
	u.SetGeneration(2)
	s := map[string]any{"replicas": int64(3)}
	for k, v := range spec {
		s[k] = v
	}
	u.Object["spec"] = s
	u.Object["status"] = status
	return u
}

func TestArgoRolloutRollout(t *testing.T) {
	healthy := map[string]any{"observedGeneration": "2", "phase": "Healthy", "updatedReplicas": int64(3), "availableReplicas": int64(3),
		"currentPodHash": "abc", "stableRS": "abc"}
	with := func(base map[string]any, kv ...any) map[string]any {
		out := map[string]any{}
		for k, v := range base {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i].(string)] = kv[i+1]
		}
		return out
	}
	canary := func(steps ...any) map[string]any {
		return map[string]any{"strategy": map[string]any{"canary": map[string]any{"steps": steps}}}
	}
	paused := with(healthy, "phase", "Paused", "currentPodHash", "def", "updatedReplicas", int64(1), "currentStepIndex", int64(1),
		"pauseConditions", []any{map[string]any{"reason": "CanaryPauseStep", "startTime": "2026-12-02T10:00:00Z"}})
	for _, tc := range []struct {
		name         string
		spec, status map[string]any
		want         Rollout
	}{
		{"healthy and stable", nil, healthy, Rollout{Done: true, Message: "3 of 3 replicas updated, 3 available"}},
		{"controller behind the template", nil, with(healthy, "observedGeneration", "1"),
			Rollout{Message: "the Argo Rollouts controller has not seen the current pod template yet; 3 of 3 replicas updated, 3 available"}},
		{"a canary still a canary is not done", nil, with(healthy, "phase", "Progressing", "currentPodHash", "def", "updatedReplicas", int64(1)),
			Rollout{Message: "1 of 3 replicas updated, 3 available, the new pods are not the stable ReplicaSet yet"}},
		{"paused waiting for promotion: held, with the command", canary(map[string]any{"setWeight": int64(20)}, map[string]any{"pause": map[string]any{}}), paused,
			Rollout{Held: v1alpha1.ReasonRolloutPaused, Message: "paused (CanaryPauseStep), waiting to be promoted; 1 of 3 replicas updated, 3 available. " +
				"To go on: kubectl argo rollouts promote -n shop web"}},
		{"a timed pause step goes on by itself", canary(map[string]any{"setWeight": int64(20)}, map[string]any{"pause": map[string]any{"duration": "1m"}}), paused,
			Rollout{Message: "1 of 3 replicas updated, 3 available, the new pods are not the stable ReplicaSet yet"}},
		{"paused by spec.paused", map[string]any{"paused": true}, with(healthy, "phase", "Paused", "currentPodHash", "def"),
			Rollout{Held: v1alpha1.ReasonRolloutPaused, Message: "paused (spec.paused), waiting to be promoted; 3 of 3 replicas updated, 3 available. " +
				"To go on: kubectl argo rollouts promote -n shop web"}},
		{"degraded is stuck", nil, with(healthy, "phase", "Degraded", "message", "ProgressDeadlineExceeded: ReplicaSet web-def has timed out progressing.",
			"currentPodHash", "def", "conditions", []any{map[string]any{"type": "Progressing", "status": "False", "lastTransitionTime": "2023-11-14T22:13:20Z"}}),
			Rollout{Stuck: true, Since: &when, Message: "3 of 3 replicas updated, 3 available; degraded: ProgressDeadlineExceeded: ReplicaSet web-def has timed out progressing."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(ArgoRollout.Rollout(argoRollout(tc.spec, tc.status))).To(Equal(tc.want))
		})
	}
}

func TestArgoRollout_PodTemplate(t *testing.T) {
	g := NewWithT(t)
	u := argoRollout(map[string]any{
		"selector": map[string]any{"matchLabels": map[string]any{"app": "web"}},
		"template": map[string]any{
			"metadata": map[string]any{"labels": map[string]any{"app": "web"}},
			"spec":     map[string]any{"containers": []any{map[string]any{"name": "app", "image": "web:1", "futureField": "kept by the patch, not read"}}},
		},
	}, nil)
	tmpl, err := ArgoRollout.PodTemplate(u)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(tmpl.Labels).To(Equal(map[string]string{"app": "web"}))
	g.Expect(tmpl.Spec.Containers).To(Equal([]corev1.Container{{Name: "app", Image: "web:1"}}))
	g.Expect(ArgoRollout.PodSelector(u)).To(Equal(&metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}))

	ref := argoRollout(map[string]any{"workloadRef": map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web-template"}}, nil)
	_, err = ArgoRollout.PodTemplate(ref)
	var none *NoTemplateError
	g.Expect(err).To(BeAssignableToTypeOf(none))
	g.Expect(err.Error()).To(Equal("the Rollout takes its pod template from Deployment web-template (spec.workloadRef), and Outrigger injects a pod template where it is written: " +
		"have the profile select Deployment shop/web-template (list Deployment in spec.workloadKinds), and the Rollout runs its sidecars"))

	bad := argoRollout(map[string]any{"template": "not an object"}, nil)
	_, err = ArgoRollout.PodTemplate(bad)
	g.Expect(err).To(MatchError(ContainSubstring("spec.template is a string, not an object")))
}
