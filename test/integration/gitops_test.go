package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/argoproj/gitops-engine/pkg/diff"
	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/discovery"
	"k8s.io/kube-openapi/pkg/util/proto"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/workload"
	"github.com/outrigger-dev/outrigger/test/argocdhealth"
)

// Coexistence with GitOps tools, checked with the tools' own write paths against the envtest apiserver, with the
// manager and the webhook running:
//   - Flux's kustomize-controller applies server-side under the field manager kustomize-controller, with
//     force-conflicts: played here by the real kubectl (`kubectl apply --server-side`), which sends the same
//     apply patch;
//   - Argo CD syncs with client-side `kubectl apply` (the last-applied-configuration annotation) by default, or
//     server-side with the sync option ServerSideApply=true (field manager argocd-controller); and it decides
//     "in sync" with gitops-engine's diff package, called here as its controller calls it.
// docs/gitops.md explains what these tests measure.

const (
	fluxManager = "kustomize-controller"
	argoManager = "argocd-controller" // Argo CD's field manager for server-side apply and server-side diff
)

// kubectlCLI is the real kubectl, built with the apiserver (bin/k8s/<version>/kubectl), pointed at the envtest
// apiserver as a member of system:masters.
type kubectlCLI struct {
	t                    *testing.T
	bin, kubeconfig, dir string
}

func newKubectl(t *testing.T) *kubectlCLI {
	t.Helper()
	bin, err := filepath.Abs(filepath.Join(assetsDir(), "kubectl"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the real kubectl is needed (`make envtest-binaries` builds it): %v", err)
	}
	user, err := testEnv.AddUser(envtest.User{Name: "gitops-tester", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatalf("adding a kubectl user: %v", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	return &kubectlCLI{t: t, bin: bin, kubeconfig: path, dir: dir}
}

// exec runs kubectl with a manifest on stdin, and returns its stdout, logging what it printed.
func (k *kubectlCLI) exec(stdin string, args ...string) (string, error) {
	cmd := exec.Command(k.bin, append([]string{"--kubeconfig", k.kubeconfig, "--cache-dir", filepath.Join(k.dir, "cache")}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	printed := strings.TrimSpace(stdout.String() + "\n" + stderr.String())
	if err != nil {
		return "", fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, printed)
	}
	if len(printed) > 300 {
		printed = printed[:300] + "..."
	}
	k.t.Logf("kubectl %s: %s", strings.Join(args, " "), printed)
	return stdout.String(), nil
}

// run is exec that fails the test when kubectl fails.
func (k *kubectlCLI) run(stdin string, args ...string) string {
	k.t.Helper()
	out, err := k.exec(stdin, args...)
	if err != nil {
		k.t.Fatal(err)
	}
	return out
}

// fluxApply applies a manifest as Flux's kustomize-controller does: server-side, as kustomize-controller.
func (k *kubectlCLI) fluxApply(ns, manifest string, forceConflicts bool) string {
	args := []string{"apply", "--server-side", "--field-manager=" + fluxManager, "-n", ns, "-f", "-"}
	if forceConflicts {
		args = append(args, "--force-conflicts")
	}
	return k.run(manifest, args...)
}

// fluxDrifted answers as kustomize-controller's drift detection does before it applies: a server-side dry-run
// apply of the manifest, compared with the live object on the spec, and on the labels and annotations the
// manifest sets. No drift: Flux reports the object unchanged and sends nothing.
func (k *kubectlCLI) fluxDrifted(g Gomega, ns, manifest string, w gitWorkload) bool {
	out := k.run(manifest, "apply", "--server-side", "--dry-run=server", "--force-conflicts", "--field-manager="+fluxManager,
		"-o", "json", "-n", ns, "-f", "-")
	dryRun := &unstructured.Unstructured{}
	g.Expect(dryRun.UnmarshalJSON([]byte(out))).To(Succeed())
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(dryRun.GroupVersionKind())
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: w.name}, live)).To(Succeed())
	return !equality.Semantic.DeepDerivative(dryRun.GetLabels(), live.GetLabels()) ||
		!equality.Semantic.DeepDerivative(dryRun.GetAnnotations(), live.GetAnnotations()) ||
		!equality.Semantic.DeepEqual(dryRun.Object["spec"], live.Object["spec"])
}

// replace writes the whole object from the manifest, as `kubectl replace` and Argo CD's Replace=true do. kubectl
// sends the resourceVersion it just read, so a status update in between (finishRollouts) is a conflict: it is
// tried again, as Argo CD's next sync would.
func (k *kubectlCLI) replace(g Gomega, ns, manifest string) {
	g.Eventually(func() error {
		_, err := k.exec(manifest, "replace", "-n", ns, "-f", "-")
		if err != nil && !strings.Contains(err.Error(), "Conflict") {
			k.t.Fatal(err)
		}
		return err
	}, timeout, interval).Should(Succeed())
}

// argoClientSideApply applies a manifest as Argo CD does by default: client-side, recording the
// last-applied-configuration annotation.
func (k *kubectlCLI) argoClientSideApply(ns, manifest string) string {
	return k.run(manifest, "apply", "-n", ns, "-f", "-")
}

// gitWorkload is a workload as it sits in Git: its kind, its name and its manifest.
type gitWorkload struct {
	kind           workload.Kind
	name, manifest string
	// claims are the names of the manifest's volumeClaimTemplates (a StatefulSet's).
	claims []string
	// clientSideReapply is what client-side `kubectl apply` says to a re-apply of the unchanged manifest onto the
	// injected workload: "unchanged" when it finds nothing to send, "configured" when it sends a patch (see
	// TestGitOps_ArgoCDClientSideApplyKeepsSidecarsAndGeneration for why, and what that patch does).
	clientSideReapply string
}

// workloadState is what a GitOps re-apply must not change: the generation (a new one is a new rollout for a
// Deployment, StatefulSet or Rollout, a new jobTemplate for a CronJob), the pod template, the rest of the spec
// (a StatefulSet's claim templates), and who owns the sidecars.
type workloadState struct {
	Generation int64
	Template   corev1.PodTemplateSpec
	// Spec is the whole spec as stored, field for field (a Rollout's Template is a typed copy).
	Spec any
	// Claims are the names of the stored volumeClaimTemplates.
	Claims []string
	// SidecarOwners are the field managers that own any of what Outrigger added.
	SidecarOwners []string
}

func (s workloadState) sidecars() []string { return initContainerNamesOf(s.Template) }

// read reads what the apiserver stores for the workload, of any kind.
func (w gitWorkload) read(g Gomega, ns, name string) workloadState {
	obj := getWorkload(g, w.kind, ns, name)
	tmpl, err := w.kind.PodTemplate(obj)
	g.Expect(err).NotTo(HaveOccurred())
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	g.Expect(err).NotTo(HaveOccurred())
	st := workloadState{Generation: obj.GetGeneration(), Template: *tmpl, Spec: u["spec"], SidecarOwners: sidecarOwners(obj.GetManagedFields())}
	if w.kind.ClaimTemplates != nil {
		st.Claims = w.kind.ClaimTemplates(obj)
	}
	return st
}

func gitDeployment(t *testing.T) gitWorkload {
	raw, err := os.ReadFile(filepath.Join("..", "..", "test", "testdata", "seed", "deployment-plain.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return gitWorkload{kind: workload.Deployment, name: "myapp", manifest: string(raw), clientSideReapply: "unchanged"}
}

// gitCronJob is a CronJob as a Git repository holds it: no sidecar, no shared volume.
func gitCronJob() gitWorkload {
	return gitWorkload{kind: workload.CronJob, name: "report", clientSideReapply: "unchanged", manifest: `apiVersion: batch/v1
kind: CronJob
metadata:
  name: report
  labels:
    app: myapp
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        metadata:
          labels:
            app: myapp
        spec:
          restartPolicy: OnFailure
          containers:
            - name: report
              image: alpine:latest
              command: ['sh', '-c', 'date >> /opt/logs.txt']
`}
}

// gitStatefulSet is a database as a Git repository holds it: its data on a claim template the app container
// mounts, no sidecar, no shared volume. The claim template is named apart from the profile's volume (data), which
// would be a conflict (TestStatefulSet_ProfileVolumeNamedLikeAClaimTemplateIsAConflict). It spells the claim
// template's apiVersion and kind, which the apiserver stores: without them Argo CD's structured-merge diff
// (ServerSideApply=true) reports every such StatefulSet out of sync, Outrigger or not (argoproj/argo-cd#11143).
func gitStatefulSet() gitWorkload {
	return gitWorkload{kind: workload.StatefulSet, name: "db", claims: []string{"pgdata"}, clientSideReapply: "configured", manifest: `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
  labels:
    app: myapp
spec:
  serviceName: db
  replicas: 1
  selector:
    matchLabels:
      app: myapp
  template:
    metadata:
      labels:
        app: myapp
    spec:
      containers:
        - name: db
          image: alpine:latest
          command: ['sh', '-c', 'while true; do date >> /var/lib/db/log; echo "logging" >> /opt/logs.txt; sleep 1; done']
          volumeMounts:
            - name: pgdata
              mountPath: /var/lib/db
  volumeClaimTemplates:
    - apiVersion: v1
      kind: PersistentVolumeClaim
      metadata:
        name: pgdata
      spec:
        accessModes: [ReadWriteOnce]
        resources:
          requests:
            storage: 1Gi
`}
}

// gitRollout is the Deployment of gitDeployment converted to an Argo Rollout as Argo Rollouts' migration guide
// does it (another apiVersion and kind, and a strategy: a canary that pauses for promotion), on the real Rollout
// CRD, which it installs.
func gitRollout(t *testing.T) gitWorkload {
	if err := installRolloutCRD(); err != nil {
		t.Fatalf("installing the Rollout CRD: %v", err)
	}
	d := gitDeployment(t)
	manifest := strings.Replace(d.manifest, "apiVersion: apps/v1\nkind: Deployment\n", "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\n", 1)
	if manifest == d.manifest || !strings.HasSuffix(manifest, "\n") {
		t.Fatalf("the Deployment's manifest is not what gitRollout converts:\n%s", d.manifest)
	}
	manifest += "  strategy:\n    canary:\n      steps:\n        - setWeight: 20\n        - pause: {}\n"
	return gitWorkload{kind: workload.ArgoRollout, name: d.name, manifest: manifest, clientSideReapply: "configured"}
}

// gitWorkloads are the workloads the coexistence tests re-apply: a Deployment, a CronJob, a StatefulSet with a
// volumeClaimTemplate and an Argo Rollout.
func gitWorkloads(t *testing.T) []gitWorkload {
	return []gitWorkload{gitDeployment(t), gitCronJob(), gitStatefulSet(), gitRollout(t)}
}

// withNewImage is the manifest after a commit that changes the app's image.
func (w gitWorkload) withNewImage() string {
	return strings.Replace(w.manifest, "image: alpine:latest", "image: alpine:3.22", 1)
}

// withOptOut is the manifest with the opt-out label on the workload itself.
func (w gitWorkload) withOptOut() string {
	return strings.Replace(w.manifest, "\n  labels:\n    app: myapp\n",
		"\n  labels:\n    app: myapp\n    "+v1alpha1.InjectLabel+": "+v1alpha1.InjectDisabled+"\n", 1)
}

// sidecarOwners lists the field managers that own any of what Outrigger adds with the log-shipper profile: the
// init container, the volume, the app container's mount, the pod template's annotation and label.
func sidecarOwners(entries []metav1.ManagedFieldsEntry) []string {
	var owners []string
	for _, e := range entries {
		if e.FieldsV1 == nil {
			continue
		}
		for _, f := range []string{`"f:initContainers"`, `"f:volumes"`, `k:{\"mountPath\":\"/opt\"}`,
			`"f:` + v1alpha1.InjectionAnnotation + `"`, `"f:` + v1alpha1.InjectedLabel + `"`} {
			if strings.Contains(string(e.FieldsV1.GetRawBytes()), f) {
				owners = append(owners, fmt.Sprintf("%s (%s)", e.Manager, e.Operation))
				break
			}
		}
	}
	sort.Strings(owners)
	return owners
}

// injectedBy says how a workload got its sidecars in a test: at admission (the profile came first) or from the
// reconciler (the workload came first, as when Outrigger is installed into a cluster Flux already fills).
type injectedBy string

const (
	byWebhook    injectedBy = "injected at creation by the webhook"
	byReconciler injectedBy = "injected by the reconciler (the workload existed before the profile)"
)

// syncAndInject creates the workload from Git with apply, and a log-shipper profile selecting it (a kind beyond
// Deployment, Job and CronJob listed in its workloadKinds), in the order `how` says, and returns the workload once
// it carries the sidecar.
func syncAndInject(t *testing.T, g Gomega, ns string, w gitWorkload, how injectedBy, apply func(manifest string)) workloadState {
	t.Helper()
	spec := logShipperSpec()
	if !slices.Contains(v1alpha1.DefaultWorkloadKinds, w.kind.Name) {
		spec.WorkloadKinds = []v1alpha1.WorkloadKind{w.kind.Name}
	}
	profile := newProfile(ns, "logshipper", spec)
	if how == byWebhook {
		create(t, profile)
		waitUntilSeen(g, ns, "logshipper")
	}
	apply(w.manifest)
	created := w.read(g, ns, w.name)
	g.Expect(created.Generation).To(BeEquivalentTo(1))
	g.Expect(created.Claims).To(Equal(w.claims), "the claim templates as in Git")
	if how == byWebhook {
		g.Expect(created.sidecars()).To(Equal([]string{"logshipper"}), "the webhook injected the %s at creation", w.kind.Name)
		expectLogShipper(g, created)
		g.Expect(writes.In(ns)).To(BeZero())
		return created
	}
	g.Expect(created.sidecars()).To(BeEmpty())
	create(t, profile)
	var injected workloadState
	g.Eventually(func(g Gomega) {
		injected = w.read(g, ns, w.name)
		g.Expect(injected.sidecars()).To(Equal([]string{"logshipper"}))
		g.Expect(writes.In(ns)).To(Equal(1)) // counted once the manager has the apiserver's answer
	}, timeout, interval).Should(Succeed())
	g.Expect(injected.Generation).To(BeEquivalentTo(2), "one write by the reconciler, one new generation")
	g.Expect(injected.Claims).To(Equal(w.claims), "the reconciler leaves the claim templates alone")
	expectLogShipper(g, injected)
	return injected
}

// expectLogShipper checks that a workload carries all the log-shipper profile adds: the sidecar, the volume and
// the app container's mount, beside the workload's own mounts.
func expectLogShipper(g Gomega, st workloadState) {
	g.Expect(st.sidecars()).To(Equal([]string{"logshipper"}))
	g.Expect(st.Template.Spec.Volumes).To(ContainElement(HaveField("Name", "data")))
	g.Expect(st.Template.Spec.Containers[0].VolumeMounts).To(ContainElement(HaveField("MountPath", "/opt")))
}

// expectUnchanged checks that the workload is stored as before, and stays so: the same generation (no rollout),
// the same pod template, the same spec around it (a StatefulSet's claim templates), and no write from Outrigger,
// which has nothing to repair.
func expectUnchanged(g Gomega, ns string, w gitWorkload, before workloadState, writesBefore int) {
	check := func(g Gomega) {
		now := w.read(g, ns, w.name)
		g.Expect(now.Generation).To(Equal(before.Generation), "the generation moved: a new rollout")
		g.Expect(equality.Semantic.DeepEqual(now.Template, before.Template)).To(BeTrue(),
			"pod template changed:\n%s", cmp.Diff(before.Template, now.Template))
		g.Expect(now.Claims).To(Equal(w.claims), "the claim templates")
		g.Expect(equality.Semantic.DeepEqual(now.Spec, before.Spec)).To(BeTrue(), "spec changed:\n%s", cmp.Diff(before.Spec, now.Spec))
		g.Expect(writes.In(ns)).To(Equal(writesBefore), "Outrigger wrote to the workload")
	}
	check(g)
	g.Consistently(check, "1s", interval).Should(Succeed())
}

// Flux: a workload injected by Outrigger, re-applied from Git by kustomize-controller (server-side apply,
// force-conflicts) with the manifest that has no sidecar, keeps its sidecars and its generation; Outrigger writes
// nothing. A commit that changes the workload makes exactly one new generation, with the sidecars. The same for
// Deployments, CronJobs, StatefulSets with volumeClaimTemplates and Argo Rollouts, injected at admission or by the
// reconciler.
func TestGitOps_FluxReapplyKeepsSidecarsAndGeneration(t *testing.T) {
	for _, w := range gitWorkloads(t) {
		for _, how := range []injectedBy{byWebhook, byReconciler} {
			t.Run(string(w.kind.Name)+", "+string(how), func(t *testing.T) {
				g := NewWithT(t)
				ns := newNamespace(t, nil)
				k := newKubectl(t)
				injected := syncAndInject(t, g, ns, w, how, func(m string) { k.fluxApply(ns, m, false) })

				// Who owns the sidecars: what Outrigger added at admission belongs to no field manager (the apiserver
				// records managed fields before mutating admission runs); what the reconciler added belongs to
				// outrigger. Either way not to kustomize-controller, so its apply never removes them.
				if how == byWebhook {
					g.Expect(injected.SidecarOwners).To(BeEmpty())
				} else {
					g.Expect(injected.SidecarOwners).To(Equal([]string{v1alpha1.FieldManager + " (Update)"}))
				}

				// Flux's drift detection sees none (its dry run goes through the webhook, which changes nothing), and
				// so does not even apply; when it applies anyway (a forced reconcile), nothing changes.
				g.Expect(k.fluxDrifted(g, ns, w.manifest, w)).To(BeFalse(), "Flux would see a drift")
				w0 := writes.In(ns)
				g.Expect(k.fluxApply(ns, w.manifest, true)).To(ContainSubstring("serverside-applied"))
				expectUnchanged(g, ns, w, injected, w0)

				// A commit: one new generation, the sidecars kept, nothing for Outrigger to repair.
				g.Expect(k.fluxDrifted(g, ns, w.withNewImage(), w)).To(BeTrue(), "Flux must see the commit")
				k.fluxApply(ns, w.withNewImage(), true)
				changed := w.read(g, ns, w.name)
				g.Expect(changed.Generation).To(Equal(injected.Generation + 1))
				expectLogShipper(g, changed)
				g.Expect(changed.Template.Annotations).To(HaveKeyWithValue(v1alpha1.InjectionAnnotation, injected.Template.Annotations[v1alpha1.InjectionAnnotation]))
				expectUnchanged(g, ns, w, changed, w0)

				// And re-applying that commit again changes nothing.
				k.fluxApply(ns, w.withNewImage(), true)
				expectUnchanged(g, ns, w, changed, w0)
			})
		}
	}
}

// Argo CD's default sync: client-side `kubectl apply` of the Git manifest (last-applied-configuration) onto a
// workload Outrigger injected keeps the sidecars and the generation. For a Deployment or a CronJob kubectl finds
// nothing to send. It sends a patch, which changes nothing stored, in two cases:
//   - a StatefulSet's volumeClaimTemplates, on every re-apply, Outrigger or not: the apiserver fills in fields of
//     the claim templates (volumeMode, status), and the list is atomic, so kubectl's three-way merge finds it
//     different from Git and sends it whole, as Git has it; the apiserver fills the same fields in again. (The
//     patch also orders the app container's own mounts as Git does, which keeps Outrigger's mount after them.)
//   - a Rollout's containers: a custom resource has no strategic merge patch, and kubectl's JSON merge patch
//     replaces a list that differs, so it sends the app containers as Git has them, without Outrigger's mount;
//     the webhook puts the mount back within the request.
func TestGitOps_ArgoCDClientSideApplyKeepsSidecarsAndGeneration(t *testing.T) {
	for _, w := range gitWorkloads(t) {
		for _, how := range []injectedBy{byWebhook, byReconciler} {
			t.Run(string(w.kind.Name)+", "+string(how), func(t *testing.T) {
				g := NewWithT(t)
				ns := newNamespace(t, nil)
				k := newKubectl(t)
				injected := syncAndInject(t, g, ns, w, how, func(m string) { k.argoClientSideApply(ns, m) })

				w0 := writes.In(ns)
				g.Expect(k.argoClientSideApply(ns, w.manifest)).To(ContainSubstring(w.clientSideReapply))
				expectUnchanged(g, ns, w, injected, w0)

				k.argoClientSideApply(ns, w.withNewImage())
				changed := w.read(g, ns, w.name)
				g.Expect(changed.Generation).To(Equal(injected.Generation + 1))
				expectLogShipper(g, changed)
				expectUnchanged(g, ns, w, changed, w0)
			})
		}
	}
}

// The opt-out label, committed to Git and applied by Flux, takes the sidecars away in one rollout, and further
// re-applies change nothing; taking the label out of Git gives them back, in one more rollout. The same for each
// kind the coexistence tests re-apply.
func TestGitOps_FluxOptOutLabel(t *testing.T) {
	for _, w := range gitWorkloads(t) {
		t.Run(string(w.kind.Name), func(t *testing.T) {
			g := NewWithT(t)
			ns := newNamespace(t, nil)
			k := newKubectl(t)
			injected := syncAndInject(t, g, ns, w, byWebhook, func(m string) { k.fluxApply(ns, m, false) })
			g.Expect(w.withOptOut()).NotTo(Equal(w.manifest))

			k.fluxApply(ns, w.withOptOut(), true)
			var optedOut workloadState
			g.Eventually(func(g Gomega) {
				optedOut = w.read(g, ns, w.name)
				g.Expect(optedOut.sidecars()).To(BeEmpty())
				g.Expect(optedOut.Template.Annotations).NotTo(HaveKey(v1alpha1.InjectionAnnotation))
			}, timeout, interval).Should(Succeed())
			g.Expect(optedOut.Generation).To(Equal(injected.Generation+1), "one rollout takes the sidecars away")
			k.fluxApply(ns, w.withOptOut(), true)
			expectUnchanged(g, ns, w, optedOut, writes.In(ns))

			k.fluxApply(ns, w.manifest, true)
			var back workloadState
			g.Eventually(func(g Gomega) {
				back = w.read(g, ns, w.name)
				g.Expect(back.sidecars()).To(Equal([]string{"logshipper"}))
			}, timeout, interval).Should(Succeed())
			g.Expect(back.Generation).To(Equal(optedOut.Generation+1), "one rollout brings them back")
			g.Expect(equality.Semantic.DeepEqual(back.Template, injected.Template)).To(BeTrue(), cmp.Diff(injected.Template, back.Template))
			t.Logf("opt-out: generation %d (injected) -> %d (label committed, sidecars removed by %d writes of Outrigger) -> %d (label removed)",
				injected.Generation, optedOut.Generation, writes.In(ns), back.Generation)
			expectUnchanged(g, ns, w, back, writes.In(ns))
		})
	}
}

// With Outrigger down (manager and webhook stopped; failurePolicy Ignore admits every request):
//   - a Flux re-apply of the Git manifest, or an Argo CD client-side one, keeps the sidecars and the generation,
//     and a commit that changes the Deployment is one rollout that keeps them: neither tool owns the sidecars, so
//     neither removes them, and the webhook is not needed;
//   - only a write of the whole object without them (`kubectl replace`, Argo CD's Replace=true sync option)
//     removes them. With Outrigger up, the webhook puts them back in that same request, and the Deployment does
//     not change. With Outrigger down, the Deployment rolls out without its sidecars, and once Outrigger is back
//     the reconciler re-adds them: a second rollout.
func TestGitOps_OutriggerDownDuringAReapply(t *testing.T) {
	g := NewWithT(t)
	w := gitDeployment(t)
	k := newKubectl(t)
	fluxNS, argoNS, replaceNS := newNamespace(t, nil), newNamespace(t, nil), newNamespace(t, nil)
	flux := syncAndInject(t, g, fluxNS, w, byWebhook, func(m string) { k.fluxApply(fluxNS, m, false) })
	argo := syncAndInject(t, g, argoNS, w, byWebhook, func(m string) { k.argoClientSideApply(argoNS, m) })
	replaced := syncAndInject(t, g, replaceNS, w, byWebhook, func(m string) { k.fluxApply(replaceNS, m, false) })

	// Outrigger up: a replace of the whole object without the sidecars is repaired within the request.
	k.replace(g, replaceNS, w.manifest)
	expectUnchanged(g, replaceNS, w, replaced, 0)

	stopManager()
	managerUp := false
	defer func() {
		if !managerUp {
			g.Expect(startManager()).To(Succeed())
		}
	}()
	k.fluxApply(fluxNS, w.manifest, true)
	g.Expect(k.argoClientSideApply(argoNS, w.manifest)).To(ContainSubstring("unchanged"))
	for ns, before := range map[string]workloadState{fluxNS: flux, argoNS: argo} {
		now := w.read(g, ns, w.name)
		g.Expect(now.Generation).To(Equal(before.Generation), "a re-apply with Outrigger down is not a rollout")
		g.Expect(equality.Semantic.DeepEqual(now.Template, before.Template)).To(BeTrue(), cmp.Diff(before.Template, now.Template))
	}
	k.fluxApply(fluxNS, w.withNewImage(), true)
	k.argoClientSideApply(argoNS, w.withNewImage())
	committed := map[string]workloadState{}
	for ns, before := range map[string]workloadState{fluxNS: flux, argoNS: argo} {
		now := w.read(g, ns, w.name)
		g.Expect(now.Generation).To(Equal(before.Generation+1), "the commit's own rollout, and only that")
		g.Expect(now.sidecars()).To(Equal([]string{"logshipper"}), "kept without the webhook")
		committed[ns] = now
	}

	// A replace while Outrigger is down: the sidecars go, one rollout.
	k.replace(g, replaceNS, w.manifest)
	stripped := w.read(g, replaceNS, w.name)
	g.Expect(stripped.Generation).To(Equal(replaced.Generation+1), "rollout without the sidecars")
	g.Expect(stripped.sidecars()).To(BeEmpty())

	w0 := writes.In(replaceNS)
	g.Expect(startManager()).To(Succeed())
	managerUp = true
	var repaired workloadState
	g.Eventually(func(g Gomega) {
		repaired = w.read(g, replaceNS, w.name)
		g.Expect(repaired.sidecars()).To(Equal([]string{"logshipper"}))
		g.Expect(writes.In(replaceNS)).To(Equal(w0 + 1))
	}, timeout, interval).Should(Succeed())
	g.Expect(repaired.Generation).To(Equal(stripped.Generation+1), "the reconciler's repair is a second rollout")
	g.Expect(equality.Semantic.DeepEqual(repaired.Template, replaced.Template)).To(BeTrue(),
		"the repaired template is the one before the outage:\n%s", cmp.Diff(replaced.Template, repaired.Template))
	t.Logf("replace during the outage: generation %d (injected) -> %d (sidecars removed) -> %d (re-added by the reconciler)",
		replaced.Generation, stripped.Generation, repaired.Generation)

	// Back up, Outrigger finds nothing to do on the workloads Flux and Argo CD re-applied during the outage.
	for ns, before := range committed {
		expectUnchanged(g, ns, w, before, writes.In(ns))
	}
}

// argoCD calls gitops-engine's diff as Argo CD's application controller does: with a GVK parser built from the
// cluster's OpenAPI schema, Argo CD's field manager, and a server-side dry-run apply for server-side diff.
type argoCD struct {
	gvkParser *managedfields.GvkParser
}

// newArgoCD builds the GVK parser from the cluster's OpenAPI schema, once it has the schemas of the kinds given
// (the apiserver publishes a CRD's schema a moment after it serves the CRD).
func newArgoCD(t *testing.T, kinds ...schema.GroupVersionKind) *argoCD {
	t.Helper()
	disco, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var parser *managedfields.GvkParser
	NewWithT(t).Eventually(func(g Gomega) {
		doc, err := disco.OpenAPISchema()
		g.Expect(err).NotTo(HaveOccurred())
		models, err := proto.NewOpenAPIData(doc)
		g.Expect(err).NotTo(HaveOccurred())
		parser, err = managedfields.NewGVKParser(models, false)
		g.Expect(err).NotTo(HaveOccurred(), "building the GVK parser as Argo CD does")
		for _, gvk := range kinds {
			g.Expect(parser.Type(gvk)).NotTo(BeNil(), "the apiserver publishes no OpenAPI schema for %s yet", gvk)
		}
	}, timeout, "500ms").Should(Succeed())
	return &argoCD{gvkParser: parser}
}

// kubectlDryRunner is Argo CD's server-side diff dry run: Argo CD runs kubectl's apply code in-process with
// server-side apply, server dry-run, force-conflicts, its field manager, and JSON output with managed fields
// (gitops-engine's pkg/utils/kube, which does not build against k8s.io/kubectl v0.37); here the real kubectl
// binary runs with the same options.
type kubectlDryRunner struct{ k *kubectlCLI }

func (r kubectlDryRunner) Run(_ context.Context, obj *unstructured.Unstructured, manager string) (string, error) {
	manifest, err := json.Marshal(obj)
	if err != nil {
		return "", err
	}
	return r.k.exec(string(manifest), "apply", "--server-side", "--dry-run=server", "--force-conflicts",
		"--field-manager="+manager, "--show-managed-fields", "-o", "json", "-f", "-")
}

// argoDiffMode is one of Argo CD's diff strategies, with the Application settings that select it.
type argoDiffMode struct {
	name     string
	settings string // what selects it, for the failure message
	opts     func(dryRun diff.ServerSideDryRunner) []diff.Option
}

var (
	legacyDiff = argoDiffMode{"legacy three-way diff (the default)", "no setting", func(diff.ServerSideDryRunner) []diff.Option { return nil }}
	// Argo CD switches to the structured-merge diff when the Application syncs with ServerSideApply=true.
	structuredMergeDiff = argoDiffMode{"structured-merge diff", "syncOptions: [ServerSideApply=true]", func(diff.ServerSideDryRunner) []diff.Option {
		return []diff.Option{diff.WithStructuredMergeDiff(true)}
	}}
	serverSideDiff = argoDiffMode{"server-side diff", "argocd.argoproj.io/compare-options: ServerSideDiff=true", func(dryRun diff.ServerSideDryRunner) []diff.Option {
		return []diff.Option{diff.WithServerSideDiff(true), diff.WithServerSideDryRunner(dryRun)}
	}}
	serverSideDiffWithWebhooks = argoDiffMode{"server-side diff including mutation webhooks",
		"argocd.argoproj.io/compare-options: ServerSideDiff=true,IncludeMutationWebhook=true", func(dryRun diff.ServerSideDryRunner) []diff.Option {
			return []diff.Option{diff.WithServerSideDiff(true), diff.WithServerSideDryRunner(dryRun), diff.WithIgnoreMutationWebhook(false)}
		}}
)

// diff compares the Git manifest with the live object as Argo CD does, and returns whether it finds them out of
// sync, with the difference. Server-side diff's dry runs go through k.
func (a *argoCD) diff(t *testing.T, k *kubectlCLI, ns, manifest string, live *unstructured.Unstructured, mode argoDiffMode) (bool, string) {
	t.Helper()
	config := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(manifest), &config.Object); err != nil {
		t.Fatal(err)
	}
	config.SetNamespace(ns) // Argo CD sets the Application's destination namespace
	opts := append([]diff.Option{
		diff.WithGVKParser(a.gvkParser), diff.WithManager(argoManager), diff.WithLogr(logr.Discard()),
		diff.WithNormalizer(diff.GetNoopNormalizer()), // no ignoreDifferences
	}, mode.opts(kubectlDryRunner{k})...)
	res, err := diff.Diff(config, live.DeepCopy(), opts...)
	if err != nil {
		t.Fatalf("%s: %v", mode.name, err)
	}
	if !res.Modified {
		return false, ""
	}
	var pred, norm map[string]any
	_ = json.Unmarshal(res.PredictedLive, &pred)
	_ = json.Unmarshal(res.NormalizedLive, &norm)
	return true, cmp.Diff(norm, pred)
}

// settled reads a workload once its status reports the current generation (finishRollouts plays its
// controller; a Rollout's status.observedGeneration is a string): the dry run of a server-side diff must not read a
// newer status than the live object.
func settled(g Gomega, ns string, w gitWorkload) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(w.kind.GVK)
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: w.name}, u)).To(Succeed())
		observed, _, _ := unstructured.NestedFieldNoCopy(u.Object, "status", "observedGeneration")
		g.Expect(fmt.Sprint(observed)).To(Equal(strconv.FormatInt(u.GetGeneration(), 10)))
	}, timeout, interval).Should(Succeed())
	return u
}

// Argo CD's own diff code (gitops-engine's diff package) reports a workload Outrigger injected as in sync with
// the Git manifest that has no sidecar, in each diff strategy, without ignoreDifferences or
// managedFieldsManagers: after a client-side sync (the default) and after a server-side sync
// (ServerSideApply=true), injected at admission or by the reconciler; for a Deployment, a StatefulSet with a
// volumeClaimTemplate and an Argo Rollout. A real drift (the workload scaled in the cluster) is reported, so "in
// sync" is not the diff seeing nothing.
func TestArgoCD_DiffReportsTheInjectedDeploymentInSync(t *testing.T) {
	rollout := gitRollout(t)
	argo := newArgoCD(t, rollout.kind.GVK)
	for _, w := range []gitWorkload{gitDeployment(t), gitStatefulSet(), rollout} {
		for _, sync := range []struct {
			name  string
			apply func(k *kubectlCLI, ns, manifest string)
			modes []argoDiffMode
		}{
			{"client-side sync", func(k *kubectlCLI, ns, m string) { k.argoClientSideApply(ns, m) },
				[]argoDiffMode{legacyDiff, serverSideDiff, serverSideDiffWithWebhooks}},
			{"ServerSideApply=true sync", func(k *kubectlCLI, ns, m string) {
				k.run(m, "apply", "--server-side", "--field-manager="+argoManager, "--force-conflicts", "-n", ns, "-f", "-")
			}, []argoDiffMode{structuredMergeDiff, serverSideDiff, serverSideDiffWithWebhooks}},
		} {
			for _, how := range []injectedBy{byWebhook, byReconciler} {
				t.Run(string(w.kind.Name)+", "+sync.name+", "+string(how), func(t *testing.T) {
					g := NewWithT(t)
					ns := newNamespace(t, nil)
					k := newKubectl(t)
					syncAndInject(t, g, ns, w, how, func(m string) { sync.apply(k, ns, m) })
					live := settled(g, ns, w)
					for _, mode := range sync.modes {
						outOfSync, d := argo.diff(t, k, ns, w.manifest, live, mode)
						g.Expect(outOfSync).To(BeFalse(), "%s (%s) reports the injected %s out of sync:\n%s", mode.name, mode.settings, w.kind.Name, d)
					}

					// A drift Argo CD must see: someone scales the workload by hand.
					k.run("", "scale", w.kind.GroupResource().String()+"/"+w.name, "-n", ns, "--replicas=3")
					drifted := settled(g, ns, w)
					for _, mode := range sync.modes {
						outOfSync, d := argo.diff(t, k, ns, w.manifest, drifted, mode)
						g.Expect(outOfSync).To(BeTrue(), "%s misses a real drift", mode.name)
						g.Expect(d).To(ContainSubstring("replicas"), mode.name)
					}
				})
			}
		}
	}
}

// The health script Argo CD runs (config/argocd/resource_customizations) reads profiles as Outrigger writes them
// on a real apiserver: Healthy when Ready, Degraded when Stalled by a conflict, for both kinds.
func TestArgoCD_HealthScriptOnLiveProfiles(t *testing.T) {
	root := filepath.Join("..", "..", "config", "argocd", "resource_customizations")
	evaluate := func(g Gomega, obj client.Object, kind string) argocdhealth.Status {
		script, err := argocdhealth.LoadScript(root, v1alpha1.GroupVersion.Group, kind)
		g.Expect(err).NotTo(HaveOccurred())
		u := &unstructured.Unstructured{}
		u.SetAPIVersion(v1alpha1.GroupVersion.String())
		u.SetKind(kind)
		g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), u)).To(Succeed())
		st, err := argocdhealth.Evaluate(script, u)
		g.Expect(err).NotTo(HaveOccurred())
		return st
	}

	t.Run("SidecarProfile", func(t *testing.T) {
		g := NewWithT(t)
		ns := newNamespace(t, nil)
		create(t, newDeployment(ns, "web"), newDeployment(ns, "clash", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Name = "proxy-clash"
		}))
		healthy, clash := newProfile(ns, "proxy", sidecarSpec("web", "proxy")), newProfile(ns, "clash", sidecarSpec("clash", "proxy-clash"))
		create(t, healthy, clash)
		g.Eventually(func(g Gomega) {
			g.Expect(evaluate(g, healthy, "SidecarProfile")).To(Equal(argocdhealth.Status{Status: argocdhealth.Healthy,
				Message: condition(getProfile(g, ns, "proxy").Status, v1alpha1.ConditionReady).Message}))
		}, timeout, interval).Should(Succeed())
		g.Eventually(func(g Gomega) {
			st := evaluate(g, clash, "SidecarProfile")
			g.Expect(st.Status).To(Equal(argocdhealth.Degraded))
			g.Expect(st.Message).To(Equal(condition(getProfile(g, ns, "clash").Status, v1alpha1.ConditionStalled).Message))
			g.Expect(st.Message).To(ContainSubstring("proxy-clash"))
		}, timeout, interval).Should(Succeed())
	})

	t.Run("ClusterSidecarProfile", func(t *testing.T) {
		g := NewWithT(t)
		team := "gitops-" + rand.String(6)
		ns := newNamespace(t, map[string]string{"team": team})
		create(t, newDeployment(ns, "api"))
		spec := sidecarSpec("api", "agent-"+team)
		p := &v1alpha1.ClusterSidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: "agent-" + team}, Spec: v1alpha1.ClusterSidecarProfileSpec{
			SidecarProfileSpec: spec, NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": team}}}}
		create(t, p)
		t.Cleanup(func() { _ = k8s.Delete(context.Background(), p) })
		g.Eventually(func(g Gomega) {
			g.Expect(evaluate(g, p, "ClusterSidecarProfile").Status).To(Equal(argocdhealth.Healthy))
		}, timeout, interval).Should(Succeed())
	})
}
