package pitfall

import (
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

func rule(action batchv1.PodFailurePolicyAction, op batchv1.PodFailurePolicyOnExitCodesOperator, container string, codes ...int32) func(*batchv1.JobSpec) {
	return func(s *batchv1.JobSpec) {
		on := &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: op, Values: codes}
		if container != "" {
			on.ContainerName = ptr.To(container)
		}
		if s.PodFailurePolicy == nil {
			s.PodFailurePolicy = &batchv1.PodFailurePolicy{}
		}
		s.PodFailurePolicy.Rules = append(s.PodFailurePolicy.Rules, batchv1.PodFailurePolicyRule{Action: action, OnExitCodes: on})
	}
}

func TestPitfalls_WarnsOnExitCodeRuleWithoutContainerName(t *testing.T) {
	shipper := corev1.Container{Name: "shipper"}
	tmpl := injected(t, never, shipper)
	plain := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "app"}}}}
	cases := []struct {
		name string
		obj  func() client.Object
		want []string // substrings of the one message; nil for no advice
	}{
		{"In with 143 and no containerName", func() client.Object {
			return job(tmpl, rule(batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyOnExitCodesOpIn, "", 1, 143))
		},
			[]string{"spec.podFailurePolicy.rules[0] (action FailJob)", "in [1 143] (143 among them)", `"shipper"`, `containerName to "app"`}},
		{"NotIn [0] matches both stop codes", func() client.Object {
			return job(tmpl, rule(batchv1.PodFailurePolicyActionIgnore, batchv1.PodFailurePolicyOnExitCodesOpNotIn, "", 0))
		},
			[]string{"not in [0] (143 and 137 among them)", "action Ignore"}},
		{"a CronJob's jobTemplate", func() client.Object {
			return cronJob(tmpl, rule(batchv1.PodFailurePolicyActionCount, batchv1.PodFailurePolicyOnExitCodesOpIn, "", 137))
		},
			[]string{"spec.jobTemplate.spec.podFailurePolicy.rules[0]", "spec.jobTemplate.spec.podFailurePolicy.rules[0].onExitCodes.containerName"}},
		{"the second rule is the one", func() client.Object {
			return job(tmpl, rule(batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyOnExitCodesOpIn, "app", 143),
				rule(batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyOnExitCodesOpIn, "", 137))
		}, []string{"rules[1]"}},
		{"containerName set: no advice", func() client.Object {
			return job(tmpl, rule(batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyOnExitCodesOpIn, "app", 143))
		}, nil},
		{"codes that no stopped sidecar exits with: no advice", func() client.Object {
			return job(tmpl, rule(batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyOnExitCodesOpIn, "", 1, 42))
		}, nil},
		{"NotIn that lists both stop codes: no advice", func() client.Object {
			return job(tmpl, rule(batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyOnExitCodesOpNotIn, "", 0, 137, 143))
		}, nil},
		{"no podFailurePolicy: no advice", func() client.Object { return job(tmpl) }, nil},
		{"no sidecars of Outrigger's: no advice", func() client.Object {
			return job(plain, rule(batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyOnExitCodesOpIn, "", 143))
		}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			obj := c.obj()
			var got []string
			var msg string
			for _, a := range checkObj(obj) {
				if a.Reason == v1alpha1.ReasonPodFailurePolicyMatchesSidecars {
					got = append(got, a.Message)
					msg = a.Message
					if a.Profile != logs || a.Sidecar != "" {
						t.Errorf("advice about %v sidecar %q, want %v and none", a.Profile, a.Sidecar, logs)
					}
				}
			}
			if c.want == nil {
				if len(got) > 0 {
					t.Fatalf("want no advice, got %q", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("want one piece of advice, got %q", got)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
		})
	}
}

func TestPitfalls_WarnsOnStartupProbeInJobWithRestartPolicyNever(t *testing.T) {
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
	onFailure := func(s *corev1.PodSpec) { s.RestartPolicy = corev1.RestartPolicyOnFailure }
	cases := []struct {
		name string
		tmpl func() any
		want []string // sidecars warned of
	}{
		{"restartPolicy Never, a startupProbe", func() any {
			return injected(t, never, corev1.Container{Name: "proxy", StartupProbe: probe}, corev1.Container{Name: "shipper"})
		}, []string{"proxy"}},
		{"restartPolicy OnFailure: the prober keeps going", func() any { return injected(t, onFailure, corev1.Container{Name: "proxy", StartupProbe: probe}) }, nil},
		{"no startupProbe", func() any { return injected(t, never, corev1.Container{Name: "proxy"}) }, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tmpl := c.tmpl().(*corev1.PodTemplateSpec)
			var got []string
			for _, a := range checkObj(job(tmpl)) {
				if a.Reason == v1alpha1.ReasonStartupProbeInJob {
					got = append(got, a.Sidecar)
					if !strings.Contains(a.Message, "kubernetes/kubernetes#132826") {
						t.Errorf("message %q does not name the issue", a.Message)
					}
				}
			}
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Errorf("warned of %v, want %v", got, c.want)
			}
		})
	}
}
