package admission

import (
	"context"
	"maps"
	"path/filepath"
	"slices"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/admission/policy"
	admissioncontroller "github.com/outrigger-dev/outrigger/internal/controller/admission"
	"github.com/outrigger-dev/outrigger/internal/controlplane"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// startPolicyManager runs bin/manager as its own process in policy mode, without webhooks, as its own user.
func startPolicyManager(t *testing.T) *controlplane.Manager { return startManager(t, "policy") }

// startManager runs bin/manager as its own process in an admission mode, without webhooks, as its own user,
// with further flags.
func startManager(t *testing.T, mode string, flags ...string) *controlplane.Manager {
	t.Helper()
	dir := t.TempDir()
	binary, kubeconfig := filepath.Join(env.Root, "bin", "admission-manager"), filepath.Join(dir, "kubeconfig")
	if err := controlplane.BuildManager(env.Root, binary); err != nil {
		t.Fatal(err)
	}
	if err := env.WriteAdminKubeconfig("outrigger-policy-manager", kubeconfig); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "manager.log")
	m, err := controlplane.StartManager(controlplane.ManagerOptions{Binary: binary, Kubeconfig: kubeconfig, LogPath: logPath,
		Observable: true, Args: append([]string{"--admission=" + mode}, flags...)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = m.Stop()
		deleteProfileChecks(t)
		if t.Failed() {
			t.Logf("manager log:\n%s", controlplane.Tail(logPath, 60))
		}
	})
	return m
}

// With the manager killed, the apiserver still injects: the policies the manager wrote run in the apiserver.
// Then, restarted, the manager reports nothing missed, puts back a policy edited by hand, and on the profile's
// deletion drops its policy before the finalizer lets the profile go.
func TestPolicyMode_InjectsWithTheManagerKilled(t *testing.T) {
	ctx := context.Background()
	m := startPolicyManager(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "killed-", Labels: map[string]string{"logging": "on"}}}
	if err := k8s.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	profile := &v1alpha1.ClusterSidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: "logs"}}
	// Only this run's namespace: workloads of an earlier run (go test -count) stay, as envtest deletes nothing.
	profile.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns.Name}}
	profile.Spec.SidecarProfileSpec = spec(sidecars("shipper"), volumes("logs"), mounts("logs", "/var/log/app"))
	if err := k8s.Create(ctx, profile); err != nil {
		t.Fatal(err)
	}
	revision := inject.Revision(&profile.Spec.SidecarProfileSpec)
	for _, kind := range []workload.Kind{workload.Deployment, workload.Job, workload.CronJob} {
		waitFor(t, "the policy of "+string(kind.Name)+" to place the profile", func() bool { return placesRevision(ctx, kind, revision) })
	}
	for _, o := range []client.Object{deployment(ns.Name), job(ns.Name), cronJob(ns.Name)} {
		waitForProbe(t, kindOf(t, o), o, 1000, "shipper") // the apiserver runs each kind's policy now
	}

	m.Kill()
	objs := []client.Object{deployment(ns.Name), job(ns.Name), cronJob(ns.Name)}
	for _, o := range objs {
		if err := k8s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		kind := kindOf(t, o)
		stored := kind.NewObject()
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(o), stored); err != nil {
			t.Fatal(err)
		}
		tmpl := kind.Template(stored)
		if !slices.ContainsFunc(tmpl.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == "shipper" }) {
			t.Errorf("%s created with the manager killed has no sidecar: %v", kind.Name, tmpl.Spec.InitContainers)
		}
		if rec, err := inject.ReadRecord(tmpl); err != nil || len(rec.Profiles) != 1 || rec.Profiles[0].Hash != revision {
			t.Errorf("%s: injection record %+v (%v), want the profile at revision %s", kind.Name, rec, err, revision)
		}
	}

	m = startPolicyManager(t)
	waitFor(t, "the profile's status to count the three workloads injected, with none needing attention", func() bool {
		var p v1alpha1.ClusterSidecarProfile
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(profile), &p); err != nil {
			return false
		}
		return p.Status.ObservedGeneration == p.Generation && p.Status.Injected == 3 && len(p.Status.NeedsAttention) == 0
	})
	noWritesOnResync(t, m, profile)

	name := policy.Name(workload.Deployment)
	// A hand edit, as kubectl patch makes it: a merge patch, which the manager's own writes cannot conflict with.
	edited := &admissionregistrationv1.MutatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := k8s.Patch(ctx, edited, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"failurePolicy":"Fail"}}`))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the policy edited by hand to be put back", func() bool {
		var p admissionregistrationv1.MutatingAdmissionPolicy
		return k8s.Get(ctx, client.ObjectKey{Name: name}, &p) == nil && *p.Spec.FailurePolicy == admissionregistrationv1.Ignore
	})
	binding := &admissionregistrationv1.MutatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := k8s.Delete(ctx, binding); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the binding deleted by hand to be put back", func() bool {
		return k8s.Get(ctx, client.ObjectKeyFromObject(binding), binding) == nil && binding.DeletionTimestamp.IsZero()
	})

	if err := k8s.Delete(ctx, profile); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deleted profile to be gone", func() bool {
		return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(profile), &v1alpha1.ClusterSidecarProfile{}))
	})
	var left admissionregistrationv1.MutatingAdmissionPolicyList
	if err := k8s.List(ctx, &left, client.MatchingLabels{policy.ManagedByLabel: policy.ManagedBy}); err != nil {
		t.Fatal(err)
	}
	if len(left.Items) != 0 {
		t.Errorf("with no profile left, %d admission policies are left, want none", len(left.Items))
	}
	var d appsv1.Deployment
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(objs[0]), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Spec.Template.Spec.InitContainers) != 0 {
		t.Errorf("the Deployment keeps %v after the profile's deletion", d.Spec.Template.Spec.InitContainers)
	}
}

// Switched back to webhook mode, the manager deletes the policies policy mode wrote: the mutating ones would keep
// injecting revisions nothing updates any more, the validating ones checking profiles against a configuration
// nothing updates.
func TestWebhookMode_DeletesThePoliciesOfPolicyMode(t *testing.T) {
	ctx := context.Background()
	profile := &v1alpha1.ClusterSidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: "switch"}}
	profile.Spec.SidecarProfileSpec = spec(sidecars("s"), matchLabels("app", "switch"))
	if err := k8s.Create(ctx, profile); err != nil {
		t.Fatal(err)
	}
	m := startPolicyManager(t)
	waitFor(t, "the policy to place the profile", func() bool {
		return placesRevision(ctx, workload.Deployment, inject.Revision(&profile.Spec.SidecarProfileSpec))
	})
	m.Kill()
	startManager(t, "webhook")
	waitFor(t, "the policies and bindings, mutating and validating, to be deleted", func() bool {
		left, err := admissioncontroller.Mine(ctx, k8s)
		return err == nil && len(left) == 0
	})
	if err := k8s.Delete(ctx, profile); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the profile to be gone", func() bool {
		return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(profile), &v1alpha1.ClusterSidecarProfile{}))
	})
}

// noWritesOnResync: a reconcile that finds the policies as compiled writes none of them.
func noWritesOnResync(t *testing.T, m *controlplane.Manager, profile client.Object) {
	t.Helper()
	ctx := context.Background()
	versions := func() map[string]string {
		out := map[string]string{}
		var ps admissionregistrationv1.MutatingAdmissionPolicyList
		var bs admissionregistrationv1.MutatingAdmissionPolicyBindingList
		if err := k8s.List(ctx, &ps); err != nil {
			t.Fatal(err)
		}
		if err := k8s.List(ctx, &bs); err != nil {
			t.Fatal(err)
		}
		for _, p := range ps.Items {
			out["policy/"+p.Name] = p.ResourceVersion
		}
		for _, b := range bs.Items {
			out["binding/"+b.Name] = b.ResourceVersion
		}
		return out
	}
	reconciles := func() float64 {
		ms, err := m.Metrics()
		if err != nil {
			t.Fatal(err)
		}
		return ms.Sum("controller_runtime_reconcile_total", map[string]string{"controller": "admissionpolicies"})
	}
	waitFor(t, "the policy reconciler to have run", func() bool { return reconciles() > 0 })
	before, n := versions(), reconciles()
	patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"resync":"now"}}}`))
	if err := k8s.Patch(ctx, profile, patch); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a reconcile of the policies after the profile changed", func() bool { return reconciles() > n })
	if after := versions(); !maps.Equal(before, after) {
		t.Errorf("a resync wrote policies or bindings: resourceVersions %v, then %v", before, after)
	}
}

func placesRevision(ctx context.Context, kind workload.Kind, revision string) bool {
	var p admissionregistrationv1.MutatingAdmissionPolicy
	if err := k8s.Get(ctx, client.ObjectKey{Name: policy.Name(kind)}, &p); err != nil {
		return false
	}
	listed, err := policy.Places(&p)
	return err == nil && slices.ContainsFunc(listed, func(l policy.Listed) bool { return l.Revision == revision })
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 30 s waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
