package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// Tenancy: a profile must never be a way around RBAC. The envtest apiserver authorizes with RBAC; the test users
// are impersonated by the suite's admin, so the apiserver, and Outrigger's validating webhook after it, see them
// as they would see a person (user name, groups).

var (
	// profileRules lets a user write the SidecarProfiles of a namespace, and nothing else.
	profileRules = []rbacv1.PolicyRule{{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"sidecarprofiles"},
		Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}}}
	// clusterProfileRules lets a user write ClusterSidecarProfiles (with a ClusterRoleBinding), and nothing else.
	clusterProfileRules = []rbacv1.PolicyRule{{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"clustersidecarprofiles"},
		Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}}}
	// workloadRules lets a user change every workload kind a profile can select.
	workloadRules = []rbacv1.PolicyRule{
		{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list", "create", "update", "patch"}},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs", "cronjobs"}, Verbs: []string{"get", "list", "create", "update", "patch"}},
	}
	// jobRules lets a user change Jobs only.
	jobRules = []rbacv1.PolicyRule{{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"get", "list", "create", "update", "patch"}}}
)

// newUser makes a user of its own for one test (RBAC grants outlive a test's namespace when cluster-wide).
func newUser(prefix string) string { return prefix + "-" + rand.String(5) }

// as returns a client that acts as the user, member of the groups (and, as for every authenticated request,
// of system:authenticated).
func as(g Gomega, user string, groups ...string) client.Client {
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: append(groups, "system:authenticated")}
	cl, err := client.New(c, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())
	return cl
}

// grant gives the user the rules: in a namespace with a Role and a RoleBinding, or cluster-wide ("") with a
// ClusterRole and a ClusterRoleBinding, which the test removes when it ends.
func grant(t *testing.T, namespace, user string, rules []rbacv1.PolicyRule) {
	t.Helper()
	name := fmt.Sprintf("%s-%s", user, rand.String(5))
	subjects := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}
	if namespace == "" {
		role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
		binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, Subjects: subjects,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}}
		create(t, role, binding)
		t.Cleanup(func() { _ = k8s.Delete(context.Background(), binding); _ = k8s.Delete(context.Background(), role) })
		return
	}
	create(t, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Rules: rules},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Subjects: subjects,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name}})
}

// bindClusterRole binds the user to an existing ClusterRole: in a namespace (RoleBinding) or cluster-wide ("").
func bindClusterRole(t *testing.T, namespace, user, clusterRole string) {
	t.Helper()
	name := fmt.Sprintf("%s-%s", user, clusterRole)
	subjects := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}
	ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole}
	if namespace == "" {
		b := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, Subjects: subjects, RoleRef: ref}
		create(t, b)
		t.Cleanup(func() { _ = k8s.Delete(context.Background(), b) })
		return
	}
	create(t, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Subjects: subjects, RoleRef: ref})
}

// A profile's author must be allowed to change the workloads it can select: the validating webhook asks the
// apiserver (SubjectAccessReview) for the author, in the profile's namespace, or cluster-wide for a
// ClusterSidecarProfile. Plain RBAC decides who may write profiles at all.
func TestTenancy_ProfileAuthorMustBeAllowedToChangeTheWorkloads(t *testing.T) {
	a, b := newNamespace(t, nil), newNamespace(t, nil)
	clusterSpec := func(ns string) v1alpha1.ClusterSidecarProfileSpec {
		return v1alpha1.ClusterSidecarProfileSpec{SidecarProfileSpec: sidecarSpec("nothing-"+ns, "proxy"),
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}}}
	}
	for _, tc := range []struct {
		name    string
		setup   func(t *testing.T, user string) // the user's grants
		profile func(name string) client.Object
		refused []string // substrings of the refusal; none: created
		rbac    bool     // refused by the apiserver's RBAC, before any webhook
	}{
		{
			name:    "profile rights in A, no rights on its workloads: refused by the webhook, naming the reason",
			setup:   func(t *testing.T, u string) { grant(t, a, u, profileRules) },
			profile: func(n string) client.Object { return newProfile(a, n, sidecarSpec("web", "proxy")) },
			refused: []string{"admission webhook", "denied the request", "may not update deployments.apps, patch deployments.apps",
				"update jobs.batch", "patch cronjobs.batch", fmt.Sprintf("in namespace %q", a), "RoleBinding"},
		},
		{
			name:    "profile rights and workload rights in A: created",
			setup:   func(t *testing.T, u string) { grant(t, a, u, profileRules); grant(t, a, u, workloadRules) },
			profile: func(n string) client.Object { return newProfile(a, n, sidecarSpec("web", "proxy")) },
		},
		{
			name:  "rights on Jobs only: a profile limited to Jobs is created",
			setup: func(t *testing.T, u string) { grant(t, a, u, profileRules); grant(t, a, u, jobRules) },
			profile: func(n string) client.Object {
				spec := sidecarSpec("web", "proxy")
				spec.WorkloadKinds = []v1alpha1.WorkloadKind{v1alpha1.KindJob}
				return newProfile(a, n, spec)
			},
		},
		{
			name:    "rights on Jobs only: a profile for every kind is refused",
			setup:   func(t *testing.T, u string) { grant(t, a, u, profileRules); grant(t, a, u, jobRules) },
			profile: func(n string) client.Object { return newProfile(a, n, sidecarSpec("web", "proxy")) },
			refused: []string{"may not update deployments.apps, patch deployments.apps, update cronjobs.batch, patch cronjobs.batch"},
		},
		{
			name:    "everything allowed in A, nothing in B: a profile in B is refused by RBAC",
			setup:   func(t *testing.T, u string) { grant(t, a, u, profileRules); grant(t, a, u, workloadRules) },
			profile: func(n string) client.Object { return newProfile(b, n, sidecarSpec("web", "proxy")) },
			refused: []string{"cannot create resource \"sidecarprofiles\"", fmt.Sprintf("in the namespace %q", b)},
			rbac:    true,
		},
		{
			name:    "profile rights in A, workload rights in B only: a profile in A is refused",
			setup:   func(t *testing.T, u string) { grant(t, a, u, profileRules); grant(t, b, u, workloadRules) },
			profile: func(n string) client.Object { return newProfile(a, n, sidecarSpec("web", "proxy")) },
			refused: []string{fmt.Sprintf("in namespace %q", a)},
		},
		{
			name: "ClusterSidecarProfile by a user with namespaced workload rights only: refused",
			setup: func(t *testing.T, u string) {
				grant(t, "", u, clusterProfileRules)
				grant(t, a, u, workloadRules)
				grant(t, b, u, workloadRules)
			},
			profile: func(n string) client.Object {
				return &v1alpha1.ClusterSidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: n}, Spec: clusterSpec(a)}
			},
			refused: []string{"may not update deployments.apps", "cluster-wide", "ClusterRoleBinding", "rights in some namespaces are not enough"},
		},
		{
			name:  "ClusterSidecarProfile by a cluster-admin: created",
			setup: func(t *testing.T, u string) { bindClusterRole(t, "", u, "cluster-admin") },
			profile: func(n string) client.Object {
				return &v1alpha1.ClusterSidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: n}, Spec: clusterSpec(a)}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			user := newUser("tenant")
			tc.setup(t, user)
			p := tc.profile("p-" + rand.String(5))
			took, err := createAs(g, user, p, tc.rbac, len(tc.refused) > 0)
			t.Logf("answered in %s", took.Round(100*time.Microsecond)) // the webhook's SubjectAccessReviews included
			if err == nil {
				t.Cleanup(func() { _ = k8s.Delete(context.Background(), p) })
			}
			if len(tc.refused) == 0 {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(err).To(HaveOccurred(), "the profile was created")
			g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "want Forbidden, got %v", err)
			g.Expect(err.Error()).To(ContainSubstring(fmt.Sprintf("%q", user)))
			for _, want := range tc.refused {
				g.Expect(err.Error()).To(ContainSubstring(want))
			}
			g.Expect(strings.Contains(err.Error(), "admission webhook")).To(Equal(!tc.rbac), err.Error())
		})
	}
}

// createAs creates the object as the user, and returns how long the final answer took, and the answer. The apiserver's authorizer (RBAC, and
// the SubjectAccessReviews of the webhook) learns of new grants through its informers, so an answer that may
// still come from before the test's grants is asked again: a refusal by RBAC when the webhook is expected to
// refuse, or any refusal when the object is expected to be created.
func createAs(g Gomega, user string, obj client.Object, refusedByRBAC, refused bool) (time.Duration, error) {
	var err error
	var took time.Duration
	g.Eventually(func() bool {
		start := time.Now()
		err = as(g, user).Create(context.Background(), obj.DeepCopyObject().(client.Object))
		took = time.Since(start)
		switch {
		case refusedByRBAC:
			return true // no grant is on its way
		case refused:
			return err == nil || strings.Contains(err.Error(), "admission webhook")
		}
		return err == nil
	}, timeout, interval).Should(BeTrue(), "last answer: %v", err)
	return took, err
}

// Widening a profile is checked like creating it; changes that widen nothing (labels, Outrigger's finalizer) are
// not, so a user who lost rights on the workloads can still label the profile, and the manager can manage it.
func TestTenancy_UpdatesThatWidenAProfileAreChecked(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, nil)
	user := newUser("jobs-only")
	grant(t, ns, user, profileRules)
	grant(t, ns, user, jobRules)
	c := as(g, user)
	spec := sidecarSpec("web", "proxy")
	spec.WorkloadKinds = []v1alpha1.WorkloadKind{v1alpha1.KindJob}
	g.Eventually(func() error { return c.Create(context.Background(), newProfile(ns, "jobs", spec)) }, timeout, interval).Should(Succeed())
	waitUntilSeen(g, ns, "jobs") // the manager has added its finalizer: a metadata-only update of its own

	update := func(mutate func(*v1alpha1.SidecarProfile)) error {
		return retry.RetryOnConflict(retry.DefaultRetry, func() error { // the manager writes the status meanwhile
			var p v1alpha1.SidecarProfile
			if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "jobs"}, &p); err != nil {
				return err
			}
			mutate(&p)
			return c.Update(context.Background(), &p)
		})
	}
	err := update(func(p *v1alpha1.SidecarProfile) { p.Spec.WorkloadKinds = nil })
	g.Expect(err).To(HaveOccurred(), "widening the profile to every kind was accepted")
	g.Expect(err.Error()).To(And(ContainSubstring(user), ContainSubstring("may not update deployments.apps")))
	g.Expect(update(func(p *v1alpha1.SidecarProfile) { p.Labels = map[string]string{"team": "shop"} })).To(Succeed())
	g.Expect(update(func(p *v1alpha1.SidecarProfile) { p.Spec.Sidecars[0].Image = "busybox:other" })).To(Succeed(),
		"a change within the kinds the user may change")
	g.Expect(getProfile(g, ns, "jobs").Finalizers).To(ContainElement(v1alpha1.Finalizer))
}

// A SidecarProfile reaches the workloads of its own namespace only: not the existing ones of another namespace
// (reconciler), not the new ones (webhook), whatever their labels; its status counts its own namespace only.
func TestTenancy_NamespacedProfileNeverReachesAnotherNamespace(t *testing.T) {
	g := NewWithT(t)
	a, b := newNamespace(t, nil), newNamespace(t, nil)
	create(t, newDeployment(a, "web"), newDeployment(b, "web"), newCronJob(b, "web"))
	user := newUser("team-a")
	grant(t, a, user, profileRules)
	grant(t, a, user, workloadRules)
	spec := sidecarSpec("web", "proxy")
	spec.Selector = &metav1.LabelSelector{} // every workload in reach
	g.Eventually(func() error {
		return as(g, user).Create(context.Background(), newProfile(a, "everything", spec))
	}, timeout, interval).Should(Succeed())

	g.Eventually(func(g Gomega) {
		g.Expect(initContainerNames(getDeployment(g, a, "web"))).To(Equal([]string{"proxy"}))
		st := getProfile(g, a, "everything").Status
		g.Expect(st.Matched).To(BeEquivalentTo(1))
		g.Expect(condition(st, v1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
	}, timeout, interval).Should(Succeed())
	create(t, newDeployment(b, "later"), newJob(b, "later")) // through the webhook, after the profile
	g.Consistently(func(g Gomega) {
		g.Expect(getDeployment(g, b, "web").Spec.Template.Spec.InitContainers).To(BeEmpty())
		g.Expect(getDeployment(g, b, "later").Spec.Template.Spec.InitContainers).To(BeEmpty())
		g.Expect(getCronJob(g, b, "web").Spec.JobTemplate.Spec.Template.Spec.InitContainers).To(BeEmpty())
		g.Expect(getProfile(g, a, "everything").Status.Matched).To(BeEquivalentTo(1))
	}, "2s", interval).Should(Succeed())
	g.Expect(writes.In(b)).To(BeZero(), "the manager wrote to a workload of another namespace")
}

// The SidecarProfile roles aggregate into the built-in admin, edit and view ClusterRoles, so a namespace's
// editors manage its SidecarProfiles with nothing else granted, and its viewers read them.
//
// The envtest apiserver creates the built-in roles with their aggregationRules, but their rules are filled by
// the ClusterRole aggregation controller, which runs in kube-controller-manager, not here. So the test installs
// Outrigger's roles from config/rbac as shipped and then does what that controller does
// (aggregateBuiltInRoles): the union of the rules of the ClusterRoles the real aggregationRules select.
func TestTenancy_BuiltInRolesManageSidecarProfiles(t *testing.T) {
	g := NewWithT(t)
	for _, f := range []string{"sidecarprofile_editor_role.yaml", "sidecarprofile_viewer_role.yaml",
		"clustersidecarprofile_viewer_role.yaml", "clustersidecarprofile_editor_role.yaml"} {
		applyClusterRole(t, filepath.Join("..", "..", "config", "rbac", f))
	}
	aggregateBuiltInRoles(t)

	ns := newNamespace(t, nil)
	editor, admin, viewer := newUser("editor"), newUser("admin"), newUser("viewer")
	bindClusterRole(t, ns, editor, "edit")
	bindClusterRole(t, ns, admin, "admin")
	bindClusterRole(t, ns, viewer, "view")

	for _, user := range []string{editor, admin} {
		g.Eventually(func() error {
			return as(g, user).Create(context.Background(), newProfile(ns, user, sidecarSpec("web", "proxy-"+user)))
		}, timeout, interval).Should(Succeed(), "%s cannot create a SidecarProfile", user)
	}
	var list v1alpha1.SidecarProfileList
	g.Eventually(func() error { return as(g, viewer).List(context.Background(), &list, client.InNamespace(ns)) }, timeout, interval).Should(Succeed())
	g.Expect(list.Items).To(HaveLen(2))
	err := as(g, viewer).Create(context.Background(), newProfile(ns, viewer, sidecarSpec("web", "proxy-viewer")))
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "a viewer created a SidecarProfile: %v", err)
	// edit and admin are bound per namespace: they never reach the cluster-scoped ClusterSidecarProfiles.
	cp := &v1alpha1.ClusterSidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: "by-" + editor},
		Spec: v1alpha1.ClusterSidecarProfileSpec{SidecarProfileSpec: sidecarSpec("web", "proxy")}}
	err = as(g, editor).Create(context.Background(), cp)
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "an editor of one namespace created a ClusterSidecarProfile: %v", err)
	g.Expect(err.Error()).NotTo(ContainSubstring("admission webhook"), "refused by RBAC, before the webhook")
}

// applyClusterRole creates or replaces a ClusterRole from a file of config/rbac.
func applyClusterRole(t *testing.T, path string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(raw, &role); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var existing rbacv1.ClusterRole
	switch err := k8s.Get(context.Background(), client.ObjectKey{Name: role.Name}, &existing); {
	case apierrors.IsNotFound(err):
		create(t, &role)
	case err != nil:
		t.Fatal(err)
	default:
		role.ResourceVersion = existing.ResourceVersion
		if err := k8s.Update(context.Background(), &role); err != nil {
			t.Fatal(err)
		}
	}
}

// aggregateBuiltInRoles does what kube-controller-manager's ClusterRole aggregation controller does for the
// built-in view, edit and admin roles: sets each one's rules to the union of the rules of the ClusterRoles its
// aggregationRule selects. view is aggregated into edit, and edit into admin, hence the order.
func aggregateBuiltInRoles(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for _, name := range []string{"view", "edit", "admin"} {
		var role rbacv1.ClusterRole
		if err := k8s.Get(ctx, client.ObjectKey{Name: name}, &role); err != nil {
			t.Fatalf("the apiserver has no built-in ClusterRole %s: %v", name, err)
		}
		if role.AggregationRule == nil || len(role.AggregationRule.ClusterRoleSelectors) == 0 {
			t.Fatalf("the built-in ClusterRole %s has no aggregationRule", name)
		}
		var rules []rbacv1.PolicyRule
		for _, sel := range role.AggregationRule.ClusterRoleSelectors {
			s, err := metav1.LabelSelectorAsSelector(&sel)
			if err != nil {
				t.Fatal(err)
			}
			var selected rbacv1.ClusterRoleList
			if err := k8s.List(ctx, &selected, client.MatchingLabelsSelector{Selector: s}); err != nil {
				t.Fatal(err)
			}
			for _, r := range selected.Items {
				if r.Name != name {
					rules = append(rules, r.Rules...)
				}
			}
		}
		role.Rules = rules
		if err := k8s.Update(ctx, &role); err != nil {
			t.Fatalf("aggregating %s: %v", name, err)
		}
	}
}

// A profile cannot get a pod past Pod Security: the pods are admitted one by one like any pod. In a namespace
// enforcing "restricted", a Deployment gets a profile's privileged sidecar in its template, but the pod the
// ReplicaSet controller would create from that template (envtest runs no such controller: the test creates it
// as it would) is refused, naming the sidecar.
func TestTenancy_PodSecurityStillAppliesToInjectedPods(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
	spec := sidecarSpec("web", "privileged-agent")
	spec.Sidecars[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	create(t, newProfile(ns, "agent", spec))
	waitUntilSeen(g, ns, "agent")
	create(t, newDeployment(ns, "web"))
	d := getDeployment(g, ns, "web")
	g.Expect(initContainerNames(d)).To(Equal([]string{"privileged-agent"}))

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "web-", Labels: d.Spec.Template.Labels},
		Spec: d.Spec.Template.Spec}
	err := k8s.Create(context.Background(), pod)
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "a pod with a privileged sidecar was admitted in a restricted namespace: %v", err)
	g.Expect(err.Error()).To(And(ContainSubstring("violates PodSecurity"), ContainSubstring(`"privileged-agent"`)))
}
