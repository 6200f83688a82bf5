package offline

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// exitCodeJob is a Job whose podFailurePolicy fails it on exit code 143 from any container.
const exitCodeJob = `apiVersion: batch/v1
kind: Job
metadata:
  name: work
  labels: {app: work}
spec:
  podFailurePolicy:
    rules:
    - action: FailJob
      onExitCodes: {operator: In, values: [143]}
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: app
        image: app:1
`

func TestExplain_PrintsOneLinePerAdvice(t *testing.T) {
	profile := sidecarProfile("SidecarProfile", "logs", "default", "selector: {matchLabels: {app: work}}\nworkloadKinds: [Job]")
	res := mustPredict(t, exitCodeJob+"---\n"+deployment("web", "", "app: work"), profile)
	if len(res.Workloads) != 2 {
		t.Fatalf("%d reports, want 2", len(res.Workloads))
	}
	job := res.Workloads[0]
	if len(job.Advice) != 1 || job.Advice[0].Reason != v1alpha1.ReasonPodFailurePolicyMatchesSidecars || job.Advice[0].Profile.Name != "logs" {
		t.Fatalf("advice on the Job = %+v, want one %s about SidecarProfile/logs", job.Advice, v1alpha1.ReasonPodFailurePolicyMatchesSidecars)
	}
	if web := res.Workloads[1]; len(web.Advice) != 0 {
		t.Errorf("advice on the Deployment (which the profile does not select) = %+v", web.Advice)
	}
	var out strings.Builder
	if err := WriteExplanation(&out, res.Workloads, "text"); err != nil {
		t.Fatal(err)
	}
	want := `  advice: SidecarProfile/logs: spec.podFailurePolicy.rules[0] (action FailJob) matches exit codes in [143] (143 among them) without a containerName`
	if !strings.Contains(out.String(), want) || !strings.Contains(out.String(), "(PodFailurePolicyMatchesSidecars)\n") {
		t.Errorf("explain does not say\n%s\nin:\n%s", want, out.String())
	}
	if strings.Count(out.String(), "advice:") != 1 {
		t.Errorf("explain prints %d advice lines, want 1:\n%s", strings.Count(out.String(), "advice:"), out.String())
	}
	out.Reset()
	if err := WriteExplanation(&out, res.Workloads, "json"); err != nil {
		t.Fatal(err)
	}
	var parsed struct {
		Workloads []struct {
			Advice []struct {
				Profile         struct{ Kind, Name string }
				Reason, Message string
			}
		}
	}
	if err := json.Unmarshal([]byte(out.String()), &parsed); err != nil {
		t.Fatal(err)
	}
	if a := parsed.Workloads[0].Advice; len(a) != 1 || a[0].Profile.Name != "logs" || a[0].Reason != v1alpha1.ReasonPodFailurePolicyMatchesSidecars {
		t.Errorf("json advice = %+v", a)
	}
}

// The quotas, limit ranges and autoscalers among the manifests judge the workloads of their namespace, and only
// those: an autoscaling/v1 autoscaler is its CPU utilization metric.
func TestExplain_JudgesWithTheQuotasAndAutoscalersAmongTheManifests(t *testing.T) {
	profile := sidecarProfile("ClusterSidecarProfile", "logs", "", "selector: {matchLabels: {app: web}}")
	objects := `apiVersion: v1
kind: ResourceQuota
metadata: {name: compute}
spec:
  hard: {limits.memory: 4Gi}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: elsewhere, namespace: other}
spec:
  hard: {limits.cpu: "4"}
---
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 5
`
	res := mustPredict(t, objects+"---\n"+deployment("web", "", "app: web")+"---\n"+deployment("web", "other", "app: web"), profile)
	if len(res.Workloads) != 2 {
		t.Fatalf("%d reports, want 2", len(res.Workloads))
	}
	reasonsOf := func(r *Report) []string {
		var out []string
		for _, a := range r.Advice {
			out = append(out, a.Reason)
		}
		return out
	}
	if got := reasonsOf(res.Workloads[0]); strings.Join(got, ",") != v1alpha1.ReasonAutoscalerCountsSidecars+","+v1alpha1.ReasonQuotaRefusesSidecars {
		t.Errorf("advice in default = %v, want the autoscaler's and the quota's", got)
	}
	if got := reasonsOf(res.Workloads[1]); strings.Join(got, ",") != v1alpha1.ReasonQuotaRefusesSidecars ||
		!strings.Contains(res.Workloads[1].Advice[0].Message, "ResourceQuota elsewhere has a hard limits.cpu") {
		t.Errorf("advice in other = %+v, want its own quota's only", res.Workloads[1].Advice)
	}
	for _, d := range res.Documents[:3] {
		if d.Changed {
			t.Errorf("%s changed", d.Doc.Where())
		}
	}
}
