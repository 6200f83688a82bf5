package gitops

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/workload"
	"github.com/outrigger-dev/outrigger/test/profilecases"
)

// gitWorkload is a workload as it sits in Git: its kind, its name and its manifest.
type gitWorkload struct {
	kind           workload.Kind
	name, manifest string
	// claims are the names of the manifest's volumeClaimTemplates (a StatefulSet's).
	claims []string
	// clientSideReapply is what client-side `kubectl apply` says to a re-apply of the unchanged manifest onto the
	// injected workload: "unchanged" when it finds nothing to send, "configured" when it sends a patch (see
	// argoCDClientSideApply for why, and what that patch does).
	clientSideReapply string
	// mergePatch: client-side `kubectl apply` can only send the kind a JSON merge patch (a custom resource), which
	// replaces the app containers with Git's, without Outrigger's mount.
	mergePatch bool
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

func (s workloadState) sidecars() []string {
	var names []string
	for _, c := range s.Template.Spec.InitContainers {
		names = append(names, c.Name)
	}
	return names
}

// read reads what the apiserver stores for the workload, of any kind.
func (w gitWorkload) read(g gomega.Gomega, c *Cluster, ns string) workloadState {
	obj := w.kind.NewObject()
	g.Expect(c.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: w.name}, obj)).To(gomega.Succeed())
	tmpl, err := w.kind.PodTemplate(obj)
	g.Expect(err).NotTo(gomega.HaveOccurred())
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	g.Expect(err).NotTo(gomega.HaveOccurred())
	st := workloadState{Generation: obj.GetGeneration(), Template: *tmpl, Spec: u["spec"], SidecarOwners: sidecarOwners(obj.GetManagedFields())}
	if w.kind.ClaimTemplates != nil {
		st.Claims = w.kind.ClaimTemplates(obj)
	}
	return st
}

func (c *Cluster) gitDeployment(t *testing.T) gitWorkload {
	raw, err := os.ReadFile(filepath.Join(c.Env.Root, "test", "testdata", "seed", "deployment-plain.yaml"))
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
func (c *Cluster) gitRollout(t *testing.T) gitWorkload {
	if err := c.InstallRolloutCRD(); err != nil {
		t.Fatalf("installing the Rollout CRD: %v", err)
	}
	d := c.gitDeployment(t)
	manifest := strings.Replace(d.manifest, "apiVersion: apps/v1\nkind: Deployment\n", "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\n", 1)
	if manifest == d.manifest || !strings.HasSuffix(manifest, "\n") {
		t.Fatalf("the Deployment's manifest is not what gitRollout converts:\n%s", d.manifest)
	}
	manifest += "  strategy:\n    canary:\n      steps:\n        - setWeight: 20\n        - pause: {}\n"
	return gitWorkload{kind: workload.ArgoRollout, name: d.name, manifest: manifest, clientSideReapply: "configured", mergePatch: true}
}

// gitWorkloads are the workloads the coexistence scenarios re-apply: a Deployment, a CronJob, a StatefulSet with
// a volumeClaimTemplate and an Argo Rollout.
func (c *Cluster) gitWorkloads(t *testing.T) []gitWorkload {
	return []gitWorkload{c.gitDeployment(t), gitCronJob(), gitStatefulSet(), c.gitRollout(t)}
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

// injectedBy says how a workload got its sidecars in a scenario: at admission (the profile came first: the
// webhook or the policies added them as the workload was created) or from the reconciler (the workload came
// first, as when Outrigger is installed into a cluster Flux already fills).
type injectedBy string

const (
	atAdmission  injectedBy = "injected at admission"
	byReconciler injectedBy = "injected by the reconciler (the workload existed before the profile)"
)

// syncAndInject creates the workload from Git with apply, and a log-shipper profile selecting it (a kind beyond
// Deployment, Job and CronJob listed in its workloadKinds), in the order `how` says, and returns the workload once
// it carries the sidecar.
func (c *Cluster) syncAndInject(t *testing.T, g gomega.Gomega, ns string, w gitWorkload, how injectedBy, apply func(manifest string)) workloadState {
	t.Helper()
	spec := profilecases.LogShipperSpec()
	if !slices.Contains(v1alpha1.DefaultWorkloadKinds, w.kind.Name) {
		spec.WorkloadKinds = []v1alpha1.WorkloadKind{w.kind.Name}
	}
	profile := profilecases.NewProfile(ns, "logshipper", spec)
	if how == atAdmission {
		c.create(t, profile)
		c.waitUntilAdmissionInjects(g, ns, w)
	}
	apply(w.manifest)
	created := w.read(g, c, ns)
	g.Expect(created.Generation).To(gomega.BeEquivalentTo(1))
	g.Expect(created.Claims).To(gomega.Equal(w.claims), "the claim templates as in Git")
	if how == atAdmission {
		g.Expect(created.sidecars()).To(gomega.Equal([]string{"logshipper"}), "%s admission injected the %s at creation", c.Mode, w.kind.Name)
		expectLogShipper(g, created)
		g.Expect(c.Writes.In(ns)).To(gomega.BeZero())
		return created
	}
	g.Expect(created.sidecars()).To(gomega.BeEmpty())
	c.create(t, profile)
	var injected workloadState
	g.Eventually(func(g gomega.Gomega) {
		injected = w.read(g, c, ns)
		g.Expect(injected.sidecars()).To(gomega.Equal([]string{"logshipper"}))
		g.Expect(c.Writes.In(ns)).To(gomega.Equal(1)) // counted once the manager has the apiserver's answer
	}, timeout, interval).Should(gomega.Succeed())
	g.Expect(injected.Generation).To(gomega.BeEquivalentTo(2), "one write by the reconciler, one new generation")
	g.Expect(injected.Claims).To(gomega.Equal(w.claims), "the reconciler leaves the claim templates alone")
	expectLogShipper(g, injected)
	return injected
}

// waitUntilAdmissionInjects waits until the apiserver admits the workload with its sidecar: a server-side dry-run
// create of its Git manifest comes back injected. The webhook answers so once the manager's cache has the
// profile; the policies once the manager has compiled the profile and the apiserver has loaded the policy. A
// workload created earlier would be stored without the sidecar, and a scenario meant to start from an injected
// workload would start from another one.
func (c *Cluster) waitUntilAdmissionInjects(g gomega.Gomega, ns string, w gitWorkload) {
	g.Eventually(func(g gomega.Gomega) {
		obj := w.kind.NewObject()
		g.Expect(yaml.Unmarshal([]byte(w.manifest), obj)).To(gomega.Succeed())
		obj.SetNamespace(ns)
		g.Expect(c.Client.Create(context.Background(), obj, client.DryRunAll)).To(gomega.Succeed())
		tmpl, err := w.kind.PodTemplate(obj)
		g.Expect(err).NotTo(gomega.HaveOccurred())
		g.Expect(tmpl.Spec.InitContainers).To(gomega.ContainElement(gomega.HaveField("Name", "logshipper")))
	}, timeout, interval).Should(gomega.Succeed())
}

// repairedByTheReconciler waits until the reconciler has put back what an apply took from the workload: the log
// shipper whole again, with one write and one more generation than the apply's.
func (c *Cluster) repairedByTheReconciler(g gomega.Gomega, ns string, w gitWorkload, applied int64, writesBefore int) workloadState {
	var st workloadState
	g.Eventually(func(g gomega.Gomega) {
		st = w.read(g, c, ns)
		expectLogShipper(g, st)
		g.Expect(c.Writes.In(ns)).To(gomega.Equal(writesBefore + 1))
	}, timeout, interval).Should(gomega.Succeed())
	g.Expect(st.Generation).To(gomega.Equal(applied+1), "the reconciler's repair is one more rollout")
	return st
}

// expectLogShipper checks that a workload carries all the log-shipper profile adds: the sidecar, the volume and
// the app container's mount, beside the workload's own mounts.
func expectLogShipper(g gomega.Gomega, st workloadState) {
	g.Expect(st.sidecars()).To(gomega.Equal([]string{"logshipper"}))
	g.Expect(st.Template.Spec.Volumes).To(gomega.ContainElement(gomega.HaveField("Name", "data")))
	g.Expect(st.Template.Spec.Containers[0].VolumeMounts).To(gomega.ContainElement(gomega.HaveField("MountPath", "/opt")))
}

// expectUnchanged checks that the workload is stored as before, and stays so: the same generation (no rollout),
// the same pod template, the same spec around it (a StatefulSet's claim templates), and no write from Outrigger,
// which has nothing to repair.
func (c *Cluster) expectUnchanged(g gomega.Gomega, ns string, w gitWorkload, before workloadState, writesBefore int) {
	check := func(g gomega.Gomega) {
		now := w.read(g, c, ns)
		g.Expect(now.Generation).To(gomega.Equal(before.Generation), "the generation moved: a new rollout")
		g.Expect(equality.Semantic.DeepEqual(now.Template, before.Template)).To(gomega.BeTrue(),
			"pod template changed:\n%s", cmp.Diff(before.Template, now.Template))
		g.Expect(now.Claims).To(gomega.Equal(w.claims), "the claim templates")
		g.Expect(equality.Semantic.DeepEqual(now.Spec, before.Spec)).To(gomega.BeTrue(), "spec changed:\n%s", cmp.Diff(before.Spec, now.Spec))
		g.Expect(c.Writes.In(ns)).To(gomega.Equal(writesBefore), "Outrigger wrote to the workload")
	}
	check(g)
	g.Consistently(check, "1s", interval).Should(gomega.Succeed())
}
