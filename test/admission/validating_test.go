package admission

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/admission/policy"
	"github.com/outrigger-dev/outrigger/internal/controlplane"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/mutation"
	"github.com/outrigger-dev/outrigger/internal/requestmetrics"
	"github.com/outrigger-dev/outrigger/internal/selection"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// With the manager killed, the apiserver still checks profiles by itself: the ValidatingAdmissionPolicies the
// manager wrote refuse a profile whose author may not update and patch the workloads it selects, naming the
// missing grant and the fix, and one with a kind or a selector the webhook would refuse; a permitted author's
// profile is admitted.
func TestPolicyMode_ChecksProfilesWithTheManagerKilled(t *testing.T) {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "checks-"}}
	if err := k8s.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	carol := author(t, ns.Name, "carol")                                  // may write SidecarProfiles, may change no workload
	dave := author(t, ns.Name, "dave", "deployments", "jobs", "cronjobs") // and may change every default kind there
	groups := "(groups team-checks, system:authenticated)"
	forbidden := []string{
		`ValidatingAdmissionPolicy 'outrigger-profiles.deployments.apps'`,
		`user "carol" ` + groups + ` may not update deployments.apps, patch deployments.apps in namespace "` + ns.Name + `"`,
		`To allow it, bind the user in namespace "` + ns.Name + `" (a RoleBinding) to a Role or ClusterRole with verbs update and patch on deployments.apps`,
	}
	cases := []struct {
		name    string
		as      client.Client
		profile client.Object
		refused []string // in the refusal; none: admitted
	}{
		{name: "an author who may not change the Deployments", as: carol, profile: checkedProfile(ns.Name, "carols", kinds(v1alpha1.KindDeployment)),
			refused: forbidden},
		{name: "an author who may change every kind the profile selects", as: dave, profile: checkedProfile(ns.Name, "daves")},
		{name: "a ClusterSidecarProfile, with rights in one namespace only", as: dave, profile: checkedClusterProfile("daves-"+ns.Name, kinds(v1alpha1.KindDeployment)),
			refused: []string{`user "dave" ` + groups + ` may not update deployments.apps, patch deployments.apps in every namespace (cluster-wide)`, "ClusterRoleBinding"}},
		{name: "a kind the manager does not know", as: dave, profile: checkedProfile(ns.Name, "gadgets", kinds("Gadget")),
			refused: []string{`spec.workloadKinds[0]: "Gadget" is not a kind Outrigger injects into here`, "the Helm value workloadKinds"}},
		{name: "a label key that is not one", as: dave, profile: checkedProfile(ns.Name, "badkey", matchLabels("bad key", "x")),
			refused: []string{`spec.selector.matchLabels: key "bad key": `, "fix the selector's label keys and values"}},
	}
	m := startPolicyManager(t)
	for _, tc := range cases {
		if len(tc.refused) > 0 {
			waitForPolicyRefusal(t, tc.as, tc.profile, tc.name)
		}
	}
	m.Kill()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.as.Create(ctx, tc.profile)
			if err == nil {
				t.Cleanup(func() { _ = k8s.Delete(ctx, tc.profile) })
			}
			if len(tc.refused) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("admitted with the manager killed")
			}
			t.Logf("refused: %v", err)
			for _, want := range tc.refused {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the refusal\n%v\ndoes not say\n%s", err, want)
				}
			}
		})
	}
	if err := carol.Create(ctx, checkedProfile(ns.Name, "carols", kinds(v1alpha1.KindDeployment))); !apierrors.IsForbidden(err) {
		t.Errorf("the refusal of an author's rights is %v, want 403 Forbidden", err)
	}
}

// In policy mode, whoever creates a workload is warned, as by the webhook, of a profile that selects it but was
// not injected because the workload already has one of its names; the warning comes from the apiserver, with the
// manager killed.
func TestPolicyMode_WarnsOfAProfileANameKeptOut(t *testing.T) {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "warned-"}}
	if err := k8s.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	profile := &v1alpha1.SidecarProfile{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "logs"},
		Spec: spec(sidecars("shipper"), matchLabels("app", "warned"))}
	if err := k8s.Create(ctx, profile); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(ctx, profile) })
	taken := warnedDeployment(ns.Name, "taken", "shipper")
	want := webhookWarning(t, taken, profile)
	warnings, warned := warningClient(t)

	m := startPolicyManager(t)
	waitFor(t, "a dry-run create to be injected", func() bool {
		d := warnedDeployment(ns.Name, "free", "app")
		return warned.Create(ctx, d, client.DryRunAll) == nil && len(d.Spec.Template.Spec.InitContainers) > 0
	})
	waitFor(t, "a dry-run create to be warned", func() bool {
		_ = warned.Create(ctx, taken.DeepCopy(), client.DryRunAll)
		return slices.ContainsFunc(warnings(), func(w string) bool { return strings.HasSuffix(w, want) })
	})
	noPolicyWritesOnResync(t, m, profile)
	m.Kill()

	for _, tc := range []struct {
		name     string
		workload *appsv1.Deployment
		warned   bool
		injected bool
	}{
		{name: "a Deployment with a container of the sidecar's name", workload: taken, warned: true},
		{name: "a Deployment whose names are free", workload: warnedDeployment(ns.Name, "free", "app"), injected: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			warnings() // drop what came before
			if err := warned.Create(ctx, tc.workload); err != nil {
				t.Fatal(err)
			}
			got := warnings()
			if tc.warned != slices.ContainsFunc(got, func(w string) bool { return strings.HasSuffix(w, want) }) || !tc.warned && len(got) > 0 {
				t.Errorf("warnings %q; want the webhook's %q: %v", got, want, tc.warned)
			}
			var stored appsv1.Deployment
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(tc.workload), &stored); err != nil {
				t.Fatal(err)
			}
			if injected := len(stored.Spec.Template.Spec.InitContainers) > 0; injected != tc.injected {
				t.Errorf("init containers %v, want the sidecar: %v", stored.Spec.Template.Spec.InitContainers, tc.injected)
			}
		})
	}
}

// waitForPolicyRefusal waits until a ValidatingAdmissionPolicy refuses a dry run of the create: until then, the
// apiserver has not loaded the policies the manager wrote.
func waitForPolicyRefusal(t *testing.T, c client.Client, obj client.Object, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := c.Create(context.Background(), obj.DeepCopyObject().(client.Object), client.DryRunAll)
		if err != nil && strings.Contains(err.Error(), "ValidatingAdmissionPolicy") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 30 s waiting for a ValidatingAdmissionPolicy to refuse %s; the last dry run: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// noPolicyWritesOnResync: a reconcile that finds the ValidatingAdmissionPolicies and bindings as compiled
// writes none of them (the compiler sets every field the apiserver defaults). Counted by the manager's own
// request metric: the apiserver writes the policies' status itself, so their resourceVersions move anyway.
func noPolicyWritesOnResync(t *testing.T, m *controlplane.Manager, profile client.Object) {
	t.Helper()
	sum := func(name string, labels map[string]string) float64 {
		ms, err := m.Metrics()
		if err != nil {
			t.Fatal(err)
		}
		return ms.Sum(name, labels)
	}
	writes := func() float64 {
		var n float64
		for _, r := range []string{"validatingadmissionpolicies", "validatingadmissionpolicybindings"} {
			n += sum(requestmetrics.Name, map[string]string{"verb": "patch", "resource": "admissionregistration.k8s.io/" + r})
		}
		return n
	}
	reconciles := func() float64 {
		return sum("controller_runtime_reconcile_total", map[string]string{"controller": "admissionpolicies"})
	}
	before, n := writes(), reconciles()
	patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"resync":"now"}}}`))
	if err := k8s.Patch(context.Background(), profile, patch); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a reconcile of the policies after the profile changed", func() bool { return reconciles() > n })
	if after := writes(); after != before {
		t.Errorf("a resync wrote %v ValidatingAdmissionPolicies or bindings", after-before)
	}
}

// author is a client acting as a user of the groups team-checks and system:authenticated, who may create
// SidecarProfiles in the namespace and ClusterSidecarProfiles, and update and patch the given resources (of the
// apps and batch groups) in the namespace, by RoleBindings.
func author(t *testing.T, namespace, name string, resources ...string) client.Client {
	t.Helper()
	ctx := context.Background()
	writer := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name + "-writes-profiles"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"sidecarprofiles"}, Verbs: []string{"create"}}}}
	cluster := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name + "-writes-clustersidecarprofiles-" + namespace},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"clustersidecarprofiles"}, Verbs: []string{"create"}}}}
	objs := []client.Object{writer, roleBinding(namespace, name, "Role", writer.Name), cluster,
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: cluster.Name}, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: cluster.Name},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}}}}
	if len(resources) > 0 {
		changer := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name + "-changes-workloads"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{"apps", "batch"}, Resources: resources, Verbs: []string{"update", "patch"}}}}
		objs = append(objs, changer, roleBinding(namespace, name, "Role", changer.Name))
	}
	for _, o := range objs {
		if err := k8s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		_ = k8s.Delete(ctx, cluster)
		_ = k8s.Delete(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: cluster.Name}})
	})
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: name, Groups: []string{"team-checks", "system:authenticated"}}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func roleBinding(namespace, user, kind, role string) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: role},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: role},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}}
}

func checkedProfile(namespace, name string, mods ...specMod) *v1alpha1.SidecarProfile {
	return &v1alpha1.SidecarProfile{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: spec(append([]specMod{sidecars("checked"), matchLabels("app", "checked")}, mods...)...)}
}

func checkedClusterProfile(name string, mods ...specMod) *v1alpha1.ClusterSidecarProfile {
	p := &v1alpha1.ClusterSidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: name}}
	p.Spec.SidecarProfileSpec = checkedProfile("", name, mods...).Spec
	return p
}

func warnedDeployment(namespace, name, container string) *appsv1.Deployment {
	labels := map[string]string{"app": "warned"}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: labels}}
	d.Spec.Selector = &metav1.LabelSelector{MatchLabels: labels}
	d.Spec.Template.Labels = labels
	d.Spec.Template.Spec.Containers = []corev1.Container{{Name: container, Image: "app:1"}}
	return d
}

// webhookWarning is the mutating webhook's one warning for the workload and the profile (internal/mutation).
func webhookWarning(t *testing.T, d *appsv1.Deployment, p *v1alpha1.SidecarProfile) string {
	t.Helper()
	m, err := mutation.Compute(workload.Deployment, d.DeepCopy(), []inject.Profile{{Ref: selection.Ref(p), Spec: &p.Spec}})
	if err != nil || len(m.Warnings) != 1 {
		t.Fatalf("the webhook's warnings: %q (%v), want one", m.Warnings, err)
	}
	return m.Warnings[0]
}

// warningClient is an admin client that keeps the apiserver's warnings; warnings returns them and forgets them.
func warningClient(t *testing.T) (warnings func() []string, c client.Client) {
	t.Helper()
	w := &controlplane.Warnings{}
	cfg := rest.CopyConfig(env.Config)
	cfg.WarningHandler = w
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return w.Take, c
}

// deleteProfileChecks deletes the ValidatingAdmissionPolicies a stopped policy-mode manager left (startManager):
// they check profiles against that manager's known kinds, which a later test's profiles (a configured kind) may
// not keep to, and warn of that manager's profiles.
func deleteProfileChecks(t *testing.T) {
	ctx := context.Background()
	mine := client.MatchingLabels{policy.ManagedByLabel: policy.ManagedBy}
	for _, o := range []client.Object{&admissionregistrationv1.ValidatingAdmissionPolicyBinding{}, &admissionregistrationv1.ValidatingAdmissionPolicy{}} {
		if err := k8s.DeleteAllOf(ctx, o, mine); err != nil {
			t.Errorf("deleting the %T left: %v", o, err)
		}
	}
}
