package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const (
	seedDir    = "../../test/testdata/seed"
	logshipper = "testdata/logshipper-profile.yaml"
	gitops     = "testdata/gitops"
	// kinds has a StatefulSet with a claim template and a DaemonSet, a profile that lists them in
	// workloadKinds and one that lists none; kinds/conflict a StatefulSet whose claim template is named like the
	// first profile's volume.
	kinds = "testdata/kinds"
)

// runCLI runs the command as main does, with stdin, and returns its exit code and outputs.
func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, strings.NewReader(stdin), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// The acceptance of the CLI: the seed's plain workloads plus the log-shipper profile give the pod templates of
// the hand-written log-shipper versions, apart from Outrigger's annotation and label.
func TestInject_SeedExamplesGiveTheHandWrittenLogShipperPodTemplates(t *testing.T) {
	deploymentTemplate := func(t *testing.T, text string) *corev1.PodTemplateSpec {
		var d appsv1.Deployment
		if err := yaml.UnmarshalStrict([]byte(text), &d); err != nil {
			t.Fatal(err)
		}
		return &d.Spec.Template
	}
	jobTemplate := func(t *testing.T, text string) *corev1.PodTemplateSpec {
		var j batchv1.Job
		if err := yaml.UnmarshalStrict([]byte(text), &j); err != nil {
			t.Fatal(err)
		}
		return &j.Spec.Template
	}
	for _, tc := range []struct {
		name, plain, want string
		template          func(*testing.T, string) *corev1.PodTemplateSpec
	}{
		{"Deployment", "deployment-plain.yaml", "deployment-logshipper.yaml", deploymentTemplate},
		{"Job", "job-plain.yaml", "job-logshipper.yaml", jobTemplate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := runCLI(t, "", "inject", "-f", filepath.Join(seedDir, tc.plain), "--profiles", logshipper)
			if code != exitOK {
				t.Fatalf("exit code %d, stderr: %s", code, stderr)
			}
			got := tc.template(t, out)
			if got.Labels[v1alpha1.InjectedLabel] != "true" || got.Annotations[v1alpha1.InjectionAnnotation] == "" {
				t.Errorf("the pod template lacks Outrigger's label or annotation: %+v", got.ObjectMeta)
			}
			delete(got.Labels, v1alpha1.InjectedLabel)
			delete(got.Annotations, v1alpha1.InjectionAnnotation)
			if len(got.Labels) == 0 {
				got.Labels = nil
			}
			if len(got.Annotations) == 0 {
				got.Annotations = nil
			}
			want := tc.template(t, readFile(t, filepath.Join(seedDir, tc.want)))
			if !equality.Semantic.DeepEqual(got, want) {
				g, _ := yaml.Marshal(got)
				w, _ := yaml.Marshal(want)
				t.Errorf("pod template:\n%s\nwant (%s):\n%s", g, tc.want, w)
			}
			plain := readFile(t, filepath.Join(seedDir, tc.plain))
			firstLine, _, _ := strings.Cut(plain, "\n")
			if !strings.HasPrefix(out, firstLine+"\n") {
				t.Errorf("the comment on the first line was lost:\n%s", out)
			}
		})
	}
}

func TestInject_LeavesUnrelatedDocumentsAndUnselectedWorkloadsByteForByte(t *testing.T) {
	in := `# Not a workload, with comments and odd spacing.
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data:
  key:    "value"   # kept as written
---
# A Deployment the profile does not select (it is in another namespace).
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: elsewhere
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: 'web:1'}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {ports: [{port: 80}]}
...
`
	code, out, stderr := runCLI(t, in, "inject", "-f", "-", "--profiles", logshipper)
	if code != exitOK {
		t.Fatalf("exit code %d, stderr: %s", code, stderr)
	}
	if out != in {
		t.Errorf("output differs from the input:\n%s", out)
	}
}

func TestInject_ReadsStdinAndSeveralFiles(t *testing.T) {
	plain := readFile(t, filepath.Join(seedDir, "deployment-plain.yaml"))
	code, out, stderr := runCLI(t, plain, "inject", "-f", filepath.Join(seedDir, "job-plain.yaml"), "-f", "-", "--profiles", logshipper)
	if code != exitOK {
		t.Fatalf("exit code %d, stderr: %s", code, stderr)
	}
	docs := strings.Split(out, "\n---\n")
	if len(docs) != 2 || !strings.Contains(docs[0], "kind: Job") || !strings.Contains(docs[1], "kind: Deployment") {
		t.Fatalf("want the Job then the Deployment (from stdin), separated by ---:\n%s", out)
	}
	for _, d := range docs {
		if !strings.Contains(d, "- name: logshipper") {
			t.Errorf("not injected:\n%s", d)
		}
	}
}

func TestInject_JSONOutput(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files []string
		kinds []string
	}{
		{"OneObject", []string{filepath.Join(seedDir, "deployment-plain.yaml")}, []string{"Deployment"}},
		{"SeveralInAList", []string{filepath.Join(gitops, "manifests")}, []string{"CronJob", "Job", "Namespace", "ConfigMap", "Deployment", "Deployment"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"inject", "--profiles", filepath.Join(gitops, "profiles"), "--profiles", logshipper, "-o", "json"}
			for _, f := range tc.files {
				args = append(args, "-f", f)
			}
			code, out, stderr := runCLI(t, "", args...)
			if code != exitOK {
				t.Fatalf("exit code %d, stderr: %s", code, stderr)
			}
			var obj struct {
				Kind  string `json:"kind"`
				Items []struct {
					Kind string `json:"kind"`
				} `json:"items"`
			}
			if err := json.Unmarshal([]byte(out), &obj); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, out)
			}
			var kinds []string
			if obj.Kind == "List" {
				for _, it := range obj.Items {
					kinds = append(kinds, it.Kind)
				}
			} else {
				kinds = []string{obj.Kind}
			}
			if strings.Join(kinds, ",") != strings.Join(tc.kinds, ",") {
				t.Errorf("kinds = %v, want %v", kinds, tc.kinds)
			}
			if !strings.Contains(out, `"restartPolicy": "Always"`) {
				t.Errorf("no sidecar in the output:\n%s", out)
			}
		})
	}
}

// The examples' outputs, as docs/cli.md shows them. The kinds example is what the cluster stores and reports
// for the same objects: the same annotation (revisions) on the StatefulSet and the DaemonSet, and the
// claim-template conflict in the profile's status (test/integration/kinds_test.go).
func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		dir, manifests, golden string
		args                   []string
		code                   int
	}{
		{gitops, "manifests", "inject.golden.yaml", []string{"inject"}, exitOK},
		{gitops, "manifests", "explain.golden.txt", []string{"explain"}, exitOK},
		{gitops, "manifests", "explain.golden.json", []string{"explain", "-o", "json"}, exitOK},
		{kinds, "manifests", "inject.golden.yaml", []string{"inject"}, exitOK},
		{kinds, "manifests", "explain.golden.txt", []string{"explain"}, exitOK},
		// inject still prints the StatefulSet as the webhook admits it, without the profile: its input unchanged.
		{kinds, "conflict", "conflict/audit-log.yaml", []string{"inject"}, exitConflict},
		{kinds, "conflict", "conflict.golden.txt", []string{"explain"}, exitConflict},
	} {
		t.Run(filepath.Join(filepath.Base(tc.dir), tc.golden), func(t *testing.T) {
			args := append(tc.args, "-f", filepath.Join(tc.dir, tc.manifests), "--profiles", filepath.Join(tc.dir, "profiles"))
			code, out, stderr := runCLI(t, "", args...)
			if code != tc.code {
				t.Fatalf("exit code %d, want %d; stderr: %s", code, tc.code, stderr)
			}
			path := filepath.Join(tc.dir, tc.golden)
			if *update {
				if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if want := readFile(t, path); out != want {
				t.Errorf("output differs from %s (go test ./cmd/outrigger -update rewrites it):\n%s", path, out)
			}
		})
	}
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plain := filepath.Join(seedDir, "deployment-plain.yaml")
	invalid := write("invalid.yaml", strings.Replace(readFile(t, logshipper), "name: logshipper\n      image", "name: Log_Shipper\n      image", 1))
	// A profile whose sidecar has the name of the app's container.
	conflicting := write("conflicting.yaml", strings.Replace(readFile(t, logshipper), "name: logshipper\n      image", "name: myapp\n      image", 1))
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"Injected", []string{"inject", "-f", plain, "--profiles", logshipper}, exitOK, ""},
		{"ExplainOK", []string{"explain", "-f", plain, "--profiles", logshipper}, exitOK, ""},
		{"Help", []string{"help"}, exitOK, ""},
		{"FlagHelp", []string{"inject", "-h"}, exitOK, "--profiles"},
		{"NoCommand", nil, exitError, "Usage"},
		{"UnknownCommand", []string{"apply"}, exitError, `unknown command "apply"`},
		{"NoFiles", []string{"inject", "--profiles", logshipper}, exitError, "-f is required"},
		{"NoProfiles", []string{"inject", "-f", plain}, exitError, "--profiles is required"},
		{"MissingFile", []string{"inject", "-f", filepath.Join(dir, "nope.yaml"), "--profiles", logshipper}, exitError, "no such file"},
		{"NotYAML", []string{"inject", "-f", write("bad.yaml", "a: [\n"), "--profiles", logshipper}, exitError, "bad.yaml, document 1"},
		{"BadOutput", []string{"inject", "-f", plain, "--profiles", logshipper, "-o", "text"}, exitError, `--output "text": use yaml or json`},
		{"BadExplainOutput", []string{"explain", "-f", plain, "--profiles", logshipper, "-o", "or"}, exitError, `--output "or": use text, yaml or json`},
		{"BadNamespaceLabels", []string{"inject", "-f", plain, "--profiles", logshipper, "--namespace-labels", "shop"}, exitError, "want NAMESPACE=KEY=VALUE"},
		{"StrayArgument", []string{"inject", "-f", plain, "--profiles", logshipper, "extra"}, exitError, `unexpected argument "extra"`},
		{"InvalidProfile", []string{"inject", "-f", plain, "--profiles", invalid}, exitInvalidProfile, "spec.sidecars[0].name: Invalid value: name must be a DNS label"},
		{"InvalidProfileExplain", []string{"explain", "-f", plain, "--profiles", invalid}, exitInvalidProfile, "invalid profiles"},
		{"Conflict", []string{"inject", "-f", plain, "--profiles", conflicting}, exitConflict,
			`conflict: Deployment default/myapp (../../test/testdata/seed/deployment-plain.yaml, document 1): SidecarProfile default/logshipper not injected: container "myapp" (spec.sidecars[0].name) is already used by the workload: rename it in the profile`},
		{"ConflictExplain", []string{"explain", "-f", plain, "--profiles", conflicting}, exitConflict, ""},
		{"ClaimTemplateConflict", []string{"inject", "-f", filepath.Join(kinds, "conflict"), "--profiles", filepath.Join(kinds, "profiles")}, exitConflict,
			`conflict: StatefulSet shop/audit-log (testdata/kinds/conflict/audit-log.yaml, document 1): SidecarProfile shop/logshipper not injected: volume "app-logs" (spec.volumes[0].name) is already used by the StatefulSet's volumeClaimTemplates: rename it in the profile`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, "", tc.args...)
			if code != tc.code {
				t.Errorf("exit code %d, want %d; stderr: %s", code, tc.code, stderr)
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr = %s\nwant it to contain %q", stderr, tc.stderr)
			}
		})
	}
}

func TestInject_AConflictStillPrintsTheManifestAsTheWebhookWouldLeaveIt(t *testing.T) {
	in := readFile(t, filepath.Join(seedDir, "deployment-plain.yaml"))
	conflicting := filepath.Join(t.TempDir(), "p.yaml")
	profile := strings.Replace(readFile(t, logshipper), "name: logshipper\n      image", "name: myapp\n      image", 1)
	if err := os.WriteFile(conflicting, []byte(profile), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCLI(t, in, "inject", "-f", "-", "--profiles", conflicting)
	if code != exitConflict || out != in {
		t.Errorf("exit code %d, output:\n%s\nwant %d and the input unchanged (the webhook admits it without the profile)", code, out, exitConflict)
	}
}

// Advice blocks nothing: inject prints the manifest and exits 0, with the advice on stderr as the webhook's
// warnings; explain prints it under the workload.
func TestInjectAndExplain_PrintTheAdviceAndExitZero(t *testing.T) {
	job := `apiVersion: batch/v1
kind: Job
metadata: {name: report, labels: {app: myapp}}
spec:
  podFailurePolicy:
    rules:
    - {action: FailJob, onExitCodes: {operator: NotIn, values: [0]}}
  template:
    spec:
      restartPolicy: Never
      containers: [{name: app, image: report:1}]
`
	profile := strings.Replace(readFile(t, logshipper), "spec:\n", "spec:\n  workloadKinds: [Job]\n", 1)
	profiles := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(profiles, []byte(profile), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, job, "inject", "-f", "-", "--profiles", profiles)
	if code != exitOK || !strings.Contains(out, "name: logshipper") {
		t.Errorf("inject: exit code %d, output:\n%s\nwant 0 and the Job with the sidecar", code, out)
	}
	want := "outrigger inject: advice: Job default/report (stdin, document 1): SidecarProfile/logshipper: spec.podFailurePolicy.rules[0] (action FailJob) matches exit codes not in [0]"
	if !strings.Contains(errOut, want) {
		t.Errorf("inject's stderr lacks\n%s\nin:\n%s", want, errOut)
	}
	code, out, _ = runCLI(t, job, "explain", "-f", "-", "--profiles", profiles)
	if code != exitOK || !strings.Contains(out, "  advice: SidecarProfile/logshipper: spec.podFailurePolicy.rules[0]") {
		t.Errorf("explain: exit code %d, output:\n%s", code, out)
	}
}

func TestExplain_Text(t *testing.T) {
	code, out, _ := runCLI(t, "", "explain", "-f", filepath.Join(gitops, "manifests"), "--profiles", filepath.Join(gitops, "profiles"), "-n", "other")
	if code != exitOK {
		t.Fatalf("exit code %d", code)
	}
	for _, want := range []string{
		"Deployment payments/api (testdata/gitops/manifests/payments.yaml, document 3): sidecars injected",
		"  + SidecarProfile payments/egress-proxy: selects it, Injected",
		"  - SidecarProfile payments/egress-proxy: not selected: spec.workloadKinds [Deployment] does not include CronJob",
		"  note: the workload opted out",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explain output lacks %q:\n%s", want, out)
		}
	}
}

// With the manager's configuration of workload kinds, the CLI previews a configured kind as the webhook injects
// it; without it, a profile listing that kind is refused as the cluster would refuse it; a bad entry fails the
// preview.
func TestWorkloadKindsConfig(t *testing.T) {
	const (
		dir    = "testdata/configured"
		config = "../../test/testdata/kinds/workload-kinds.yaml"
	)
	args := []string{"inject", "-f", filepath.Join(dir, "widget.yaml"), "--profiles", filepath.Join(dir, "profile.yaml")}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"configured", append(slices.Clone(args), "--workload-kinds-config", config), exitOK,
			"    podTemplate:\n      metadata:\n        labels: {app: builder, sidecars.outrigger.dev/injected: \"true\"}\n        annotations:\n          sidecars.outrigger.dev/injection:", ""},
		{"not configured", args, exitInvalidProfile, "",
			`spec.workloadKinds[0]: "Widget" is not a kind Outrigger injects into here`},
		{"a bad entry", append(slices.Clone(args), "--workload-kinds-config", filepath.Join(dir, "bad-kinds.yaml")), exitError, "",
			`--workload-kinds-config: kinds[0] (test.outrigger.dev/v1 Widget) in testdata/configured/bad-kinds.yaml: podTemplatePath: "spec/runner" is not a field path (spec.template)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "", tc.args...)
			if code != tc.code {
				t.Fatalf("exit code %d, want %d; stderr: %s", code, tc.code, stderr)
			}
			if !strings.Contains(stdout, tc.stdout) || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stdout:\n%s\nstderr:\n%s\nwant stdout with %q, stderr with %q", stdout, stderr, tc.stdout, tc.stderr)
			}
			if tc.code == exitOK && !strings.Contains(stdout, "        initContainers:\n        - name: proxy\n          image: busybox:local") {
				t.Errorf("no proxy sidecar in the Widget's pod template:\n%s", stdout)
			}
		})
	}
}
