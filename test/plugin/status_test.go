// Package plugin checks `outrigger status`, and the same binary run by kubectl as its plugin (`kubectl outrigger
// status`), against a real kube-apiserver: the built binary reads profiles whose status the test writes through
// the status subresource, with a kubeconfig as a person has one. No manager runs, so the status stays as
// written.
package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/controlplane"
	"github.com/outrigger-dev/outrigger/internal/statusview"
)

var (
	env *controlplane.Env
	k8s client.Client
	// bin holds the CLI built twice over: outrigger, and kubectl-outrigger for kubectl to find on PATH.
	bin        string
	kubeconfig string // a cluster-admin kubeconfig of the apiserver
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
	root, err := controlplane.Root()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "outrigger-plugin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	bin = filepath.Join(dir, "bin")
	if err := build(root, bin); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	// Without the CRDs: TestStatus installs them after checking what a cluster without Outrigger says.
	if env, err = controlplane.Start(root, controlplane.Options{}); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\nBuild the binaries with `make envtest-binaries` (make test does it for you).\n", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	if k8s, err = env.Client(scheme); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	kubeconfig = filepath.Join(dir, "admin.kubeconfig")
	if err := env.WriteAdminKubeconfig("admin", kubeconfig); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	return m.Run()
}

// build builds the CLI into dir as outrigger and as kubectl-outrigger, as `make kubectl-plugin` does.
func build(root, dir string) error {
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "outrigger"), "./cmd/outrigger")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building the CLI: %v\n%s", err, out)
	}
	return os.Link(filepath.Join(dir, "outrigger"), filepath.Join(dir, "kubectl-outrigger"))
}

// result is what one run of the CLI did.
type result struct {
	code           int
	stdout, stderr string
}

// outrigger runs `outrigger ARGS` with the environment given (KEY=VALUE), and no other kubeconfig than it names.
func outrigger(t *testing.T, environ []string, args ...string) result {
	t.Helper()
	return runCommand(t, exec.Command(filepath.Join(bin, "outrigger"), args...), environ)
}

// kubectlOutrigger runs `kubectl outrigger ARGS`: kubectl finds the plugin on PATH.
func kubectlOutrigger(t *testing.T, environ []string, args ...string) result {
	t.Helper()
	return runCommand(t, exec.Command(env.Kubectl(), append([]string{"outrigger"}, args...)...), environ)
}

func runCommand(t *testing.T, cmd *exec.Cmd, environ []string) result {
	t.Helper()
	home := t.TempDir() // no ~/.kube/config of the machine's
	cmd.Env = append([]string{"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"), "HOME=" + home}, environ...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", cmd, err)
	}
	return r
}

// TestStatus runs in order: first on a cluster without Outrigger's CRDs, then with them and profiles whose status
// says everything the view shows.
func TestStatus(t *testing.T) {
	admin := []string{"KUBECONFIG=" + kubeconfig}
	t.Run("WithoutTheCRDsSaysToInstallOutrigger", func(t *testing.T) {
		r := kubectlOutrigger(t, admin, "status")
		if r.code != 1 || !strings.Contains(r.stderr, "kubectl outrigger status: this cluster does not have Outrigger's CRDs") {
			t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
	})

	root, err := controlplane.Root()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{
		Paths: []string{filepath.Join(root, "config", "crd", "bases")}, ErrorIfPathMissing: true,
	}); err != nil {
		t.Fatalf("installing the CRDs: %v", err)
	}
	createFleet(t)

	t.Run("AllNamespacesListsEveryProfileAndWorkload", func(t *testing.T) {
		for name, r := range map[string]result{
			"outrigger":         outrigger(t, nil, "status", "-A", "--kubeconfig", kubeconfig),
			"kubectl outrigger": kubectlOutrigger(t, admin, "status", "--all-namespaces"),
		} {
			if r.code != 0 {
				t.Fatalf("%s: exit %d, stderr:\n%s", name, r.code, r.stderr)
			}
			expectLines(t, name, r.stdout,
				`^KIND +NAMESPACE +NAME +READY +MATCHED +INJECTED +UP-TO-DATE +ROLLED-OUT +HEALTHY +ROLLOUT$`,
				`^ClusterSidecarProfile +- +mesh-proxy +False \(RolloutHalted\) +40 +40 +5 +4 +39 +halted at wave 2/4: candidate 4bbeed3e15ea8f9f, stable ecf2d1cdb305026d$`,
				`^ClusterSidecarProfile +- +platform-logshipper +True +12 +12 +12 +12 +12 +stable ecf2d1cdb305026d$`,
				`^SidecarProfile +payments +egress-proxy +True +3 +3 +3 +3 +2 +-$`,
				`^SidecarProfile +shop +logshipper +Unknown \(NotObserved\) +0 +0 +0 +0 +0 +-$`,
				`^  Ready=False RolloutHalted \(.*\): the rollout of revision 4bbeed3e15ea8f9f halted in wave 2 of 4$`,
				`^  Stalled=True RolloutHalted \(.*\): fix the sidecar, or revert to the stable revision$`,
				`^  Degraded=True SidecarNotReady \(.*\): sidecar proxy is not ready in 1 workload$`,
				`^  rollout halted: sidecar envoy restarts in Deployment payments/api$`,
				`^Workloads that need attention:$`,
				`^ClusterSidecarProfile mesh-proxy +Deployment +payments/api +envoy +SidecarRestarting +2d2h +sidecar envoy restarted 4 times$`,
				`^ClusterSidecarProfile mesh-proxy +Job +payments/backfill +- +NotInjected +- +a Job gets sidecars only at its creation$`,
				`^ClusterSidecarProfile mesh-proxy +Deployment +shop/web +envoy +Conflict +.* +rename the profile's sidecar$`,
				`^SidecarProfile payments/egress-proxy +StatefulSet +payments/ledger +proxy +SidecarNotReady +.* +readiness probe failed: HTTP 503$`,
				`^ClusterSidecarProfile mesh-proxy: and 2 more, not listed: a profile's status lists at most 20$`,
			)
		}
	})

	t.Run("NamespaceListsItsProfilesAndTheClusterOnes", func(t *testing.T) {
		r := kubectlOutrigger(t, admin, "status", "-n", "payments")
		if r.code != 0 {
			t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
		expectLines(t, "-n payments", r.stdout,
			`^ClusterSidecarProfile +- +mesh-proxy `, `^ClusterSidecarProfile +- +platform-logshipper `,
			`^SidecarProfile +payments +egress-proxy `, ` payments/api `,
			`^ClusterSidecarProfile mesh-proxy: and 1 more in other namespaces than payments \(-A lists them\)$`)
		if strings.Contains(r.stdout, "shop/web") || matchesLine(`^SidecarProfile +shop `, r.stdout) {
			t.Errorf("the view of payments shows shop's profiles or workloads:\n%s", r.stdout)
		}
	})

	t.Run("TheContextsNamespaceIsTheDefault", func(t *testing.T) {
		cfg, err := clientcmd.LoadFromFile(kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Contexts[cfg.CurrentContext].Namespace = "shop"
		path := filepath.Join(t.TempDir(), "shop.kubeconfig")
		if err := clientcmd.WriteToFile(*cfg, path); err != nil {
			t.Fatal(err)
		}
		r := kubectlOutrigger(t, []string{"KUBECONFIG=" + path}, "status")
		if r.code != 0 || !matchesLine(`^SidecarProfile +shop +logshipper `, r.stdout) || strings.Contains(r.stdout, "egress-proxy") {
			t.Errorf("exit %d; want shop's profiles, not payments':\n%s%s", r.code, r.stdout, r.stderr)
		}
		r = kubectlOutrigger(t, []string{"KUBECONFIG=" + path}, "status", "--context", "nowhere")
		if r.code != 1 || !strings.Contains(r.stderr, `context "nowhere"`) {
			t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
	})

	t.Run("OneProfileShowsEveryConditionAndItsRevisions", func(t *testing.T) {
		r := outrigger(t, admin, "status", "csp/mesh-proxy")
		if r.code != 0 {
			t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
		expectLines(t, "csp/mesh-proxy", r.stdout, `^  Reconciling=False RolloutHalted `,
			`^  rollout: candidate 4bbeed3e15ea8f9f, wave 2/4 open for .*; stable ecf2d1cdb305026d$`,
			`^  workloads per revision: ecf2d1cdb305026d 35, 4bbeed3e15ea8f9f 5$`)
		if strings.Contains(r.stdout, "platform-logshipper") || strings.Contains(r.stdout, "egress-proxy") {
			t.Errorf("other profiles shown:\n%s", r.stdout)
		}
		r = outrigger(t, admin, "status", "nothere")
		if r.code != 1 || !strings.Contains(r.stderr, "no SidecarProfile nothere in namespace default, and no ClusterSidecarProfile nothere") {
			t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
	})

	t.Run("JSONAndYAMLForScripts", func(t *testing.T) {
		for _, format := range []string{"json", "yaml"} {
			r := kubectlOutrigger(t, admin, "status", "-A", "-o", format)
			if r.code != 0 {
				t.Fatalf("-o %s: exit %d, stderr:\n%s", format, r.code, r.stderr)
			}
			var doc statusview.Document
			if err := unmarshal(format, r.stdout, &doc); err != nil {
				t.Fatalf("-o %s: %v\n%s", format, err, r.stdout)
			}
			if len(doc.Profiles) != 4 {
				t.Fatalf("-o %s: %d profiles, want 4", format, len(doc.Profiles))
			}
			mesh := doc.Profiles[0]
			if mesh.Name != "mesh-proxy" || mesh.Ready.Status != metav1.ConditionFalse || len(mesh.Status.NeedsAttention) != 3 ||
				mesh.Status.NeedsAttentionOmitted != 2 || mesh.Status.Rollout == nil || mesh.Status.Rollout.Wave != 2 {
				t.Errorf("-o %s: first profile %+v", format, mesh)
			}
		}
	})

	t.Run("FailOnAttentionExitsFour", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want int
		}{
			{[]string{"status", "-A", "--fail-on-attention"}, 4},
			{[]string{"status", "csp/platform-logshipper", "--fail-on-attention"}, 0},
			{[]string{"status", "-A"}, 0},
		} {
			if r := outrigger(t, admin, tc.args...); r.code != tc.want {
				t.Errorf("%v: exit %d, want %d; stderr:\n%s", tc.args, r.code, tc.want, r.stderr)
			}
		}
	})

	t.Run("PermissionsMissingSayWhichRolesToBind", func(t *testing.T) {
		nobody := userKubeconfig(t, "nobody")
		r := kubectlOutrigger(t, []string{"KUBECONFIG=" + nobody}, "status", "-n", "payments")
		if r.code != 1 || !strings.Contains(r.stderr, "forbidden") || !strings.Contains(r.stderr, "clustersidecarprofile-viewer") {
			t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
		// A team that may read its namespace's SidecarProfiles but not the ClusterSidecarProfiles sees its own,
		// and is told what it does not see.
		grantSidecarProfiles(t, "team", "payments")
		team := userKubeconfig(t, "team")
		r = kubectlOutrigger(t, []string{"KUBECONFIG=" + team}, "status", "-n", "payments")
		if r.code != 0 || !strings.Contains(r.stdout, "egress-proxy") ||
			!strings.Contains(r.stderr, "kubectl outrigger status: warning: not listed: clustersidecarprofiles.sidecars.outrigger.dev is forbidden") {
			t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
	})
}

// createFleet creates two ClusterSidecarProfiles and two SidecarProfiles and writes the status of three of them
// as Outrigger's manager would: one Ready, one halted in its rollout with workloads that need attention, one
// Degraded; the fourth has never been seen by a manager.
func createFleet(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for _, ns := range []string{"payments", "shop"} {
		if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	spec := v1alpha1.SidecarProfileSpec{
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}},
		Sidecars: []v1alpha1.Sidecar{{Container: corev1.Container{Name: "proxy", Image: "envoyproxy/envoy:v1.31"}}},
	}
	now := time.Now()
	at := func(d time.Duration) *metav1.Time { t := metav1.NewTime(now.Add(-d)); return &t }
	cond := func(typ string, status metav1.ConditionStatus, reason, message string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: message, ObservedGeneration: 1,
			LastTransitionTime: *at(7 * time.Minute)}
	}
	ready := func(n int32) v1alpha1.SidecarProfileStatus {
		return v1alpha1.SidecarProfileStatus{ObservedGeneration: 1, Matched: n, Injected: n, UpToDate: n, RolledOut: n, Healthy: n,
			Conditions: []metav1.Condition{
				cond(v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonSucceeded, "every selected workload is up to date"),
				cond(v1alpha1.ConditionStalled, metav1.ConditionFalse, v1alpha1.ReasonSucceeded, ""),
				cond(v1alpha1.ConditionDegraded, metav1.ConditionFalse, v1alpha1.ReasonHealthy, ""),
			}}
	}

	logshipper := &v1alpha1.ClusterSidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: "platform-logshipper"},
		Spec: v1alpha1.ClusterSidecarProfileSpec{SidecarProfileSpec: spec}}
	create(t, logshipper)
	logshipper.Status = ready(12)
	logshipper.Status.Rollout = &v1alpha1.RolloutStatus{StableRevision: "ecf2d1cdb305026d"}
	writeStatus(t, logshipper)

	mesh := &v1alpha1.ClusterSidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: "mesh-proxy"},
		Spec: v1alpha1.ClusterSidecarProfileSpec{SidecarProfileSpec: spec}}
	create(t, mesh)
	mesh.Status = v1alpha1.SidecarProfileStatus{ObservedGeneration: 1, Matched: 40, Injected: 40, UpToDate: 5, RolledOut: 4, Healthy: 39,
		Conditions: []metav1.Condition{
			cond(v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonRolloutHalted, "the rollout of revision 4bbeed3e15ea8f9f halted in wave 2 of 4"),
			cond(v1alpha1.ConditionReconciling, metav1.ConditionFalse, v1alpha1.ReasonRolloutHalted, "halted"),
			cond(v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonRolloutHalted, "fix the sidecar, or revert to the stable revision"),
		},
		NeedsAttention: []v1alpha1.WorkloadAttention{
			{Kind: "Deployment", Namespace: "payments", Name: "api", Sidecar: "envoy", Reason: v1alpha1.ReasonSidecarRestarting,
				Message: "sidecar envoy restarted 4 times", Since: at(50 * time.Hour)},
			{Kind: "Job", Namespace: "payments", Name: "backfill", Reason: v1alpha1.ReasonNotInjected,
				Message: "a Job gets sidecars only at its creation"},
			{Kind: "Deployment", Namespace: "shop", Name: "web", Sidecar: "envoy", Reason: v1alpha1.ReasonConflict,
				Message: "the workload has a container named envoy: rename the profile's sidecar", Since: at(time.Hour)},
		},
		NeedsAttentionOmitted: 2,
		Rollout: &v1alpha1.RolloutStatus{StableRevision: "ecf2d1cdb305026d", CandidateRevision: "4bbeed3e15ea8f9f", Wave: 2, Waves: 4,
			WaveOpened: at(20 * time.Minute), Halted: "sidecar envoy restarts in Deployment payments/api",
			Revisions: []v1alpha1.RevisionCount{{Revision: "ecf2d1cdb305026d", Workloads: 35}, {Revision: "4bbeed3e15ea8f9f", Workloads: 5}}},
	}
	writeStatus(t, mesh)

	egress := &v1alpha1.SidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: "egress-proxy", Namespace: "payments"}, Spec: spec}
	create(t, egress)
	egress.Status = ready(3)
	egress.Status.Healthy = 2
	egress.Status.Conditions[2] = cond(v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonSidecarNotReady, "sidecar proxy is not ready in 1 workload")
	egress.Status.NeedsAttention = []v1alpha1.WorkloadAttention{{Kind: "StatefulSet", Namespace: "payments", Name: "ledger", Sidecar: "proxy",
		Reason: v1alpha1.ReasonSidecarNotReady, Message: "readiness probe failed: HTTP 503", Since: at(90 * time.Second)}}
	writeStatus(t, egress)

	create(t, &v1alpha1.SidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: "logshipper", Namespace: "shop"}, Spec: spec})
}

func create(t *testing.T, o client.Object) {
	t.Helper()
	if err := k8s.Create(context.Background(), o); err != nil {
		t.Fatalf("creating %s: %v", o.GetName(), err)
	}
}

// writeStatus writes the object's status through the status subresource with a merge patch of the status alone,
// as the manager patches it: no resourceVersion, so no conflict whoever wrote the object last.
func writeStatus(t *testing.T, o client.Object) {
	t.Helper()
	raw, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	var whole struct {
		Status json.RawMessage `json:"status"`
	}
	if err := json.Unmarshal(raw, &whole); err != nil {
		t.Fatal(err)
	}
	patch := client.RawPatch(types.MergePatchType, []byte(`{"status":`+string(whole.Status)+`}`))
	if err := k8s.Status().Patch(context.Background(), o, patch); err != nil {
		t.Fatalf("writing the status of %s: %v", o.GetName(), err)
	}
}

// userKubeconfig writes a kubeconfig of a user of the apiserver with no group, so no permission of its own.
func userKubeconfig(t *testing.T, name string) string {
	t.Helper()
	user, err := env.AddUser(envtest.User{Name: name}, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name+".kubeconfig")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// grantSidecarProfiles lets a user read the SidecarProfiles of a namespace, as Outrigger's sidecarprofile-viewer
// role does through the namespace's view role.
func grantSidecarProfiles(t *testing.T, user, namespace string) {
	t.Helper()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "sidecarprofile-reader", Namespace: namespace},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"sidecarprofiles"},
			Verbs: []string{"get", "list", "watch"}}}}
	create(t, role)
	create(t, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "sidecarprofile-reader", Namespace: namespace},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}})
}

// expectLines checks that each pattern matches a line of out.
func expectLines(t *testing.T, name, out string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !matchesLine(p, out) {
			t.Errorf("%s: no line matches %s in:\n%s", name, p, out)
		}
	}
}

func matchesLine(pattern, out string) bool {
	return regexp.MustCompile("(?m)" + pattern).MatchString(out)
}

func unmarshal(format, text string, into any) error {
	if format == "json" {
		return json.Unmarshal([]byte(text), into)
	}
	return yaml.UnmarshalStrict([]byte(text), into)
}
