package install_test

// Least privilege. Every Role and ClusterRole Outrigger ships (config/rbac as written, and every rendering of
// config/ and of the chart) may hold only the grants listed here, each with the reason the manager (or a person)
// needs it: a new permission fails TestRBAC_OnlyTheGrantsOutriggerNeeds until it is added below with its reason.
// Some grants are never acceptable, whatever the list says (TestRBAC_NothingDangerous). And the manager runs with
// exactly these grants (TestRBAC_ManagerRunsWithItsOwnRBAC), so the list is not too short either.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/controlplane"
	"github.com/outrigger-dev/outrigger/internal/manager"
)

// grant is a set of permissions a role may hold: every verb on every resource (or non-resource URL) listed, in
// every API group listed; restricted to resourceNames when they are given.
type grant struct {
	groups, resources, verbs, names, urls []string
	why                                   string
}

// allowedRole is what one shipped role may hold. Names are as config/rbac names them, without the outrigger-
// prefix the installations add.
type allowedRole struct {
	kind   string // ClusterRole or Role
	people bool   // for people or other tools to bind; no binding of Outrigger's refers to it
	grants []grant
}

func list(s ...string) []string { return s }

var (
	readOnly  = list("get", "list", "watch")
	profiles  = list("sidecarprofiles")
	cProfiles = list("clustersidecarprofiles")
	outrigger = list("sidecars.outrigger.dev")
	allWrites = list("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
)

var allowedRBAC = map[string]allowedRole{
	"manager": {kind: "ClusterRole", grants: []grant{
		{groups: list(""), resources: list("namespaces"), verbs: readOnly,
			why: "ClusterSidecarProfiles select namespaces by their labels; read from the cache"},
		{groups: list(""), resources: list("pods"), verbs: readOnly,
			why: "health in status: initContainerStatuses of the pods Outrigger injected (the cache holds only those)"},
		{groups: list(""), resources: list("resourcequotas", "limitranges"), verbs: readOnly,
			why: "pitfall checks: a quota or limit range that would refuse the sidecars' resources; read from the cache, trimmed"},
		{groups: list("autoscaling"), resources: list("horizontalpodautoscalers"), verbs: readOnly,
			why: "pitfall checks: an autoscaler whose Resource utilization counts the sidecars; read from the cache, trimmed"},
		{groups: list("apps"), resources: list("deployments"), verbs: list("get", "list", "watch", "patch"),
			why: "the reconciler brings existing Deployments to the injected state with a patch of its own fields"},
		{groups: list("batch"), resources: list("cronjobs"), verbs: list("get", "list", "watch", "patch"),
			why: "the reconciler brings existing CronJobs' jobTemplate to the injected state with a patch"},
		{groups: list("apps"), resources: list("statefulsets", "daemonsets"), verbs: list("get", "list", "watch", "patch"),
			why: "the reconciler brings existing StatefulSets and DaemonSets to the injected state with a patch of their template"},
		{groups: list("argoproj.io"), resources: list("rollouts"), verbs: list("get", "list", "watch", "patch"),
			why: "Argo Rollouts are a built-in kind that is not built into Kubernetes: patched like Deployments"},
		{groups: list("apps"), resources: list("controllerrevisions"), verbs: list("get", "list", "watch", "create", "delete"),
			why: "a profile's revisions, kept for its rollout in waves, in its namespace (Outrigger's for a ClusterSidecarProfile); only those labelled with a profile's UID are cached, and deleted with a UID precondition"},
		{groups: list("admissionregistration.k8s.io"), resources: list("mutatingadmissionpolicies", "mutatingadmissionpolicybindings"),
			verbs: list("get", "list", "watch", "create", "patch", "delete"),
			why:   "--admission=policy compiles the profiles into MutatingAdmissionPolicies and bindings, applied server-side, put back when edited and pruned when no profile needs them; only those labelled managed-by outrigger are cached"},
		{groups: list("admissionregistration.k8s.io"), resources: list("validatingadmissionpolicies", "validatingadmissionpolicybindings"),
			verbs: list("get", "list", "watch", "create", "patch", "delete"),
			why: "--admission=policy has the apiserver check profiles itself (known workloadKinds, selector syntax, the author's update and patch rights, with the CEL authorizer) " +
				"and warn of the profiles a workload's names kept out: ValidatingAdmissionPolicies and bindings, applied server-side, put back when edited and pruned in webhook mode; " +
				"only those labelled managed-by outrigger are cached. A validating policy can refuse requests but change nothing"},
		{groups: list("apiextensions.k8s.io"), resources: list("customresourcedefinitions"), verbs: readOnly,
			why: "a kind whose CRD is not installed yet (Argo Rollouts) is served once its CRD appears, without a restart"},
		{groups: list("batch"), resources: list("jobs"), verbs: readOnly,
			why: "a Job's pod template cannot change: Jobs are injected at admission and only reported on"},
		{groups: list("events.k8s.io"), resources: list("events"), verbs: list("create", "patch"),
			why: "events on profiles and workloads"},
		{groups: list("authorization.k8s.io"), resources: list("subjectaccessreviews"), verbs: list("create"),
			why: "the profile webhook checks that a profile's author may update and patch the workloads it can select"},
		{groups: outrigger, resources: list("sidecarprofiles", "clustersidecarprofiles"), verbs: list("get", "list", "watch", "patch"),
			why: "read the profiles; patch adds and removes Outrigger's finalizer"},
		{groups: outrigger, resources: list("sidecarprofiles/status", "clustersidecarprofiles/status"), verbs: list("patch"),
			why: "the profiles' status"},
	}},
	"leader-election-role": {kind: "Role", grants: []grant{
		{groups: list("coordination.k8s.io"), resources: list("leases"), verbs: list("get", "create", "update"),
			why: "--leader-elect: client-go's LeaseLock gets, creates and renews (updates) one Lease"},
		{groups: list(""), resources: list("events"), verbs: list("create", "patch"),
			why: "the leader election's events, in Outrigger's namespace"},
	}},
	"metrics-auth-role": {kind: "ClusterRole", grants: []grant{
		{groups: list("authentication.k8s.io"), resources: list("tokenreviews"), verbs: list("create"),
			why: "--metrics-secure: authenticate the callers of /metrics"},
		{groups: list("authorization.k8s.io"), resources: list("subjectaccessreviews"), verbs: list("create"),
			why: "--metrics-secure: authorize the callers of /metrics"},
	}},
	"metrics-reader": {kind: "ClusterRole", people: true, grants: []grant{
		{urls: list("/metrics"), verbs: list("get"), why: "for the scraper (Prometheus) to bind"},
	}},
	"workload-kinds": {kind: "ClusterRole", grants: []grant{
		{groups: list("apps.kruise.io"), resources: list("clonesets"), verbs: list("get", "list", "watch", "patch"),
			why: "a configured kind (the chart's value workloadKinds in the test's other values, and config/components/workload-kinds, configure OpenKruise's CloneSet): read and patched as Deployments are"},
	}},
	"webhook-cert-role": {kind: "Role", grants: []grant{
		{groups: list(""), resources: list("secrets"), verbs: list("create", "list", "watch"),
			why: "self-managed certificates: create the Secret when missing; the rotator caches the namespace's Secrets"},
		{groups: list(""), resources: list("secrets"), verbs: list("update"), names: list("outrigger-webhook-server-cert"),
			why: "self-managed certificates: the rotator writes the CA and certificate into that one Secret"},
	}},
	"webhook-config-role": {kind: "ClusterRole", grants: []grant{
		{groups: list("admissionregistration.k8s.io"), resources: list("mutatingwebhookconfigurations", "validatingwebhookconfigurations"),
			verbs: list("list", "watch"), why: "self-managed certificates: the rotator caches the webhook configurations"},
		{groups: list("admissionregistration.k8s.io"), resources: list("mutatingwebhookconfigurations"), verbs: list("update"),
			names: list("outrigger-mutating-webhook-configuration"), why: "self-managed certificates: caBundle of Outrigger's own only"},
		{groups: list("admissionregistration.k8s.io"), resources: list("validatingwebhookconfigurations"), verbs: list("get", "update"),
			names: list("outrigger-validating-webhook-configuration"), why: "self-managed certificates: caBundle of Outrigger's own only; " +
				"get: in policy mode it owns the admission policies, so uninstalling Outrigger removes them"},
	}},
	"sidecarprofile-editor": {kind: "ClusterRole", people: true, grants: []grant{
		{groups: outrigger, resources: profiles, verbs: allWrites, why: "aggregated into admin and edit"},
		{groups: outrigger, resources: list("sidecarprofiles/status"), verbs: list("get"), why: "aggregated into admin and edit"},
	}},
	"sidecarprofile-viewer": {kind: "ClusterRole", people: true, grants: []grant{
		{groups: outrigger, resources: profiles, verbs: readOnly, why: "aggregated into view"},
		{groups: outrigger, resources: list("sidecarprofiles/status"), verbs: list("get"), why: "aggregated into view"},
	}},
	"clustersidecarprofile-viewer": {kind: "ClusterRole", people: true, grants: []grant{
		{groups: outrigger, resources: cProfiles, verbs: readOnly, why: "aggregated into view"},
		{groups: outrigger, resources: list("clustersidecarprofiles/status"), verbs: list("get"), why: "aggregated into view"},
	}},
	"clustersidecarprofile-editor": {kind: "ClusterRole", people: true, grants: []grant{
		{groups: outrigger, resources: cProfiles, verbs: allWrites, why: "for a platform team, bound explicitly"},
		{groups: outrigger, resources: list("clustersidecarprofiles/status"), verbs: list("get"), why: "for a platform team, bound explicitly"},
	}},
}

// permission is one verb on one resource (or URL), possibly restricted to one name.
type permission struct{ group, resource, verb, name, url string }

func (p permission) String() string {
	if p.url != "" {
		return p.verb + " " + p.url
	}
	s := p.verb + " " + p.resource
	if p.group != "" {
		s += "." + p.group
	}
	if p.name != "" {
		s += " named " + p.name
	}
	return s
}

// permissions expands a rule into single permissions.
func permissions(rule rbacv1.PolicyRule) []permission {
	var out []permission
	names := rule.ResourceNames
	if len(names) == 0 {
		names = []string{""}
	}
	for _, verb := range rule.Verbs {
		for _, url := range rule.NonResourceURLs {
			out = append(out, permission{verb: verb, url: url})
		}
		for _, group := range rule.APIGroups {
			for _, res := range rule.Resources {
				for _, name := range names {
					out = append(out, permission{group: group, resource: res, verb: verb, name: name})
				}
			}
		}
	}
	return out
}

// covers reports whether the grant allows the permission: a grant restricted to names covers only those.
func (g grant) covers(p permission) bool {
	if !slices.Contains(g.verbs, p.verb) {
		return false
	}
	if p.url != "" {
		return slices.Contains(g.urls, p.url)
	}
	if !slices.Contains(g.groups, p.group) || !slices.Contains(g.resources, p.resource) {
		return false
	}
	// Names are the default release's; another release names the same objects after itself.
	return len(g.names) == 0 || slices.ContainsFunc(g.names, func(n string) bool {
		return p.name == n || strings.HasSuffix(p.name, "-"+strings.TrimPrefix(n, "outrigger-"))
	})
}

// shippedRole is a Role or ClusterRole as some installation holds it.
type shippedRole struct {
	source, kind, name, namespace string // name without the release's prefix
	labels                        map[string]string
	rules                         []rbacv1.PolicyRule
}

// roleSources are config/rbac's files as written, and every rendering of config/ and of the chart.
func roleSources(t *testing.T) map[string][]*unstructured.Unstructured {
	t.Helper()
	sources := map[string][]*unstructured.Unstructured{}
	files, err := filepath.Glob(filepath.Join(repoRoot, "config", "rbac", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no config/rbac/*.yaml: %v", err)
	}
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sources["config/rbac"] = append(sources["config/rbac"], decode(t, f, raw)...)
	}
	for _, r := range renderings {
		sources[r.name] = r.render(t)
	}
	// Without metrics authentication, and without metrics at all: the chart's conditional RBAC.
	sources["helm metrics.secure=false"] = helmTemplate(t, map[string]any{"metrics": map[string]any{"secure": false}})
	sources["helm metrics.enabled=false"] = helmTemplate(t, map[string]any{"metrics": map[string]any{"enabled": false}})
	return sources
}

// shippedRoles lists the roles of every source, with names as config/rbac writes them.
func shippedRoles(t *testing.T, sources map[string][]*unstructured.Unstructured) []shippedRole {
	t.Helper()
	var roles []shippedRole
	for source, objs := range sources {
		for _, o := range objs {
			if o.GetKind() != "ClusterRole" && o.GetKind() != "Role" {
				continue
			}
			var role rbacv1.ClusterRole // a Role's rules read the same
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &role); err != nil {
				t.Fatalf("%s: %s %s: %v", source, o.GetKind(), o.GetName(), err)
			}
			roles = append(roles, shippedRole{source: source, kind: o.GetKind(), namespace: o.GetNamespace(),
				name: roleName(o.GetName()), labels: o.GetLabels(), rules: role.Rules})
		}
	}
	return roles
}

// roleName is a shipped role's name without the prefix of its installation (outrigger-, or the release's name,
// which Helm may truncate): the longest name of allowedRBAC it ends with. An unknown role keeps its name.
func roleName(installed string) string {
	best := installed
	for name := range allowedRBAC {
		if (installed == name || strings.HasSuffix(installed, "-"+name)) && (best == installed || len(name) > len(best)) {
			best = name
		}
	}
	return best
}

func TestRBAC_OnlyTheGrantsOutriggerNeeds(t *testing.T) {
	sources := roleSources(t)
	used := map[string]map[int]bool{}
	for _, role := range shippedRoles(t, sources) {
		allowed, ok := allowedRBAC[role.name]
		if !ok {
			t.Errorf("%s: %s %s is not in allowedRBAC: add it there, each grant with why Outrigger needs it", role.source, role.kind, role.name)
			continue
		}
		if role.kind != allowed.kind {
			t.Errorf("%s: %s is a %s, allowed as a %s", role.source, role.name, role.kind, allowed.kind)
		}
		for _, rule := range role.rules {
			for _, p := range permissions(rule) {
				i := slices.IndexFunc(allowed.grants, func(g grant) bool { return g.covers(p) })
				if i < 0 {
					t.Errorf("%s: %s %s grants %s, which allowedRBAC does not list: if Outrigger needs it, add it there with why",
						role.source, role.kind, role.name, p)
					continue
				}
				if used[role.name] == nil {
					used[role.name] = map[int]bool{}
				}
				used[role.name][i] = true
			}
		}
	}
	// And the list is no longer than what is shipped: a grant nobody ships any more is removed from the list.
	for name, allowed := range allowedRBAC {
		for i, g := range allowed.grants {
			if !used[name][i] {
				t.Errorf("allowedRBAC lists %s %v %v %v for %s, which no installation grants: remove it", g.verbs, g.resources, g.urls, g.groups, name)
			}
		}
	}
}

// dangerous are grants no role of Outrigger's may hold, whatever allowedRBAC says.
func dangerous(role shippedRole, p permission) string {
	workloads := map[string]bool{"deployments": true, "jobs": true, "cronjobs": true, "replicasets": true,
		"statefulsets": true, "daemonsets": true, "pods": true, "replicationcontrollers": true}
	switch {
	case p.group == "*" || p.resource == "*" || p.verb == "*" || p.url == "*" || strings.HasSuffix(p.resource, "/*") || strings.HasSuffix(p.url, "*"):
		return "a wildcard"
	case p.verb == "escalate" || p.verb == "bind" || p.verb == "impersonate":
		return "the verb " + p.verb + ", which lets the holder gain rights it does not have"
	case p.group == "rbac.authorization.k8s.io" && p.verb != "get" && p.verb != "list" && p.verb != "watch":
		return "a write to RBAC objects"
	case slices.Contains([]string{"pods/exec", "pods/attach", "pods/portforward", "pods/proxy", "nodes/proxy", "services/proxy", "serviceaccounts/token", "pods/ephemeralcontainers"}, p.resource):
		return p.resource + ", which reaches into running workloads or mints credentials"
	case p.resource == "secrets" && role.kind != "Role":
		return "Secrets in a ClusterRole: only a Role in Outrigger's own namespace may grant Secrets"
	case p.resource == "secrets" && role.namespace != "system" && role.namespace != namespace:
		return "Secrets outside Outrigger's namespace (" + role.namespace + ")"
	case p.group == "" && (p.resource == "nodes" || p.resource == "serviceaccounts" || p.resource == "configmaps") && p.verb != "get" && p.verb != "list" && p.verb != "watch":
		return "a write to " + p.resource
	case workloads[p.resource] && !slices.Contains([]string{"get", "list", "watch", "patch"}, p.verb):
		return p.verb + " on " + p.resource + ": Outrigger patches workloads, it never creates, updates or deletes them"
	case p.resource == "pods" && p.verb == "patch":
		return "patch on pods: Outrigger changes templates, never pods"
	case strings.HasSuffix(p.resource, "webhookconfigurations") && p.verb != "list" && p.verb != "watch" && p.name == "":
		return "a write to any webhook configuration: only Outrigger's own, by name"
	case p.resource == "customresourcedefinitions" && !slices.Contains(readOnly, p.verb):
		return "a write to CRDs, which redefines every API the cluster serves"
	case p.resource == "certificatesigningrequests" || p.resource == "tokenrequests":
		return p.resource
	case role.kind == "ClusterRole" && allowedRBAC[role.name].people && p.group != "sidecars.outrigger.dev" && p.url != "/metrics":
		return "a role for people that grants more than profiles"
	}
	return ""
}

func TestRBAC_NothingDangerous(t *testing.T) {
	for _, role := range shippedRoles(t, roleSources(t)) {
		for _, rule := range role.rules {
			for _, p := range permissions(rule) {
				if why := dangerous(role, p); why != "" {
					t.Errorf("%s: %s %s grants %s: %s", role.source, role.kind, role.name, p, why)
				}
			}
		}
	}
}

// Every binding Outrigger ships gives one of its own roles to its own ServiceAccount: never to a user or a group
// (system:authenticated would be everyone), never a built-in role, never a role meant for people.
func TestRBAC_BindingsOnlyForTheManager(t *testing.T) {
	for source, objs := range roleSources(t) {
		shipped := map[string]bool{}
		for _, o := range objs {
			if o.GetKind() == "ClusterRole" || o.GetKind() == "Role" {
				shipped[o.GetKind()+"/"+o.GetName()] = true
			}
		}
		for _, o := range objs {
			if o.GetKind() != "ClusterRoleBinding" && o.GetKind() != "RoleBinding" {
				continue
			}
			var b rbacv1.RoleBinding // a ClusterRoleBinding reads the same
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &b); err != nil {
				t.Fatal(err)
			}
			if source != "config/rbac" && !shipped[b.RoleRef.Kind+"/"+b.RoleRef.Name] { // config/rbac's names get their prefix later
				t.Errorf("%s: %s %s binds %s %s, which this installation does not ship", source, o.GetKind(), b.Name, b.RoleRef.Kind, b.RoleRef.Name)
			}
			if r, ok := allowedRBAC[roleName(b.RoleRef.Name)]; ok && r.people {
				t.Errorf("%s: %s %s binds %s, a role for people", source, o.GetKind(), b.Name, b.RoleRef.Name)
			}
			for _, s := range b.Subjects {
				if s.Kind != rbacv1.ServiceAccountKind || !strings.HasSuffix(s.Name, "controller-manager") {
					t.Errorf("%s: %s %s binds %s %s: only Outrigger's ServiceAccount may be bound", source, o.GetKind(), b.Name, s.Kind, s.Name)
				}
			}
		}
	}
}

// The people's roles aggregate where docs/security.md says: SidecarProfiles into admin, edit (write) and view
// (read); ClusterSidecarProfiles into view only (edit and admin are bound per namespace, where a cluster-scoped
// object is out of reach, and writing one is a decision a cluster admin makes explicitly).
func TestRBAC_Aggregation(t *testing.T) {
	want := map[string][]string{
		"sidecarprofile-editor":        {"admin", "edit"},
		"sidecarprofile-viewer":        {"view"},
		"clustersidecarprofile-viewer": {"view"},
		"clustersidecarprofile-editor": nil,
	}
	for _, role := range shippedRoles(t, roleSources(t)) {
		var got []string
		for label, v := range role.labels {
			if to, ok := strings.CutPrefix(label, "rbac.authorization.k8s.io/aggregate-to-"); ok && v == "true" {
				got = append(got, to)
			}
		}
		slices.Sort(got)
		if w := want[role.name]; !slices.Equal(got, w) {
			t.Errorf("%s: %s aggregates into %v, want %v", role.source, role.name, got, w)
		}
	}
}

// The manager runs with exactly the RBAC config/default installs, as its ServiceAccount (impersonated): it
// elects itself leader, injects an existing Deployment and CronJob, writes the profile's status and finalizer,
// and removes what it added when the profile is deleted. A grant missing from config/rbac fails here. The
// webhooks are not served (the envtest apiserver cannot reach them at the Service address config/default
// names); their one extra grant, SubjectAccessReviews, is checked as the ServiceAccount.
func TestRBAC_ManagerRunsWithItsOwnRBAC(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	installRBAC(t)
	sa := rest.CopyConfig(cfg)
	sa.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + namespace + ":outrigger-controller-manager",
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"}}
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	asSA, err := client.New(sa, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}

	review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: "someone",
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: "default", Verb: "patch", Group: "apps", Resource: "deployments"}}}
	eventually(t, "the ServiceAccount may create SubjectAccessReviews", func() error { return asSA.Create(ctx, review.DeepCopy()) })

	mgr, err := controlplane.StartInProcessManager(ctx, env, sa, manager.Options{ProbeAddr: "0",
		LeaderElect: true, LeaderElectionNamespace: namespace})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := mgr.Stop(); err != nil {
			t.Error(err)
		}
	}()

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "rbac-"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "web", Labels: labels},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox"}}}}}}
	profile := &v1alpha1.SidecarProfile{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "proxy"},
		Spec: v1alpha1.SidecarProfileSpec{Selector: &metav1.LabelSelector{MatchLabels: labels},
			Sidecars: []v1alpha1.Sidecar{{Container: corev1.Container{Name: "proxy", Image: "envoy"}}}}}
	for _, o := range []client.Object{dep, profile} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}

	eventually(t, "the manager is leader (its Lease)", func() error {
		return c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "outrigger.sidecars.outrigger.dev"}, &coordinationv1.Lease{})
	})
	eventually(t, "the Deployment is injected, the profile has its finalizer and status", func() error {
		var d appsv1.Deployment
		if err := c.Get(ctx, client.ObjectKeyFromObject(dep), &d); err != nil {
			return err
		}
		if len(d.Spec.Template.Spec.InitContainers) != 1 {
			return fmt.Errorf("init containers %v", d.Spec.Template.Spec.InitContainers)
		}
		var p v1alpha1.SidecarProfile
		if err := c.Get(ctx, client.ObjectKeyFromObject(profile), &p); err != nil {
			return err
		}
		if !slices.Contains(p.Finalizers, v1alpha1.Finalizer) || p.Status.ObservedGeneration != p.Generation || p.Status.Injected != 1 {
			return fmt.Errorf("finalizers %v, status %+v", p.Finalizers, p.Status)
		}
		return nil
	})
	if err := c.Delete(ctx, profile); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the sidecar is removed and the finalizer released", func() error {
		var d appsv1.Deployment
		if err := c.Get(ctx, client.ObjectKeyFromObject(dep), &d); err != nil {
			return err
		}
		if len(d.Spec.Template.Spec.InitContainers) != 0 {
			return fmt.Errorf("init containers %v", d.Spec.Template.Spec.InitContainers)
		}
		if err := c.Get(ctx, client.ObjectKeyFromObject(profile), &v1alpha1.SidecarProfile{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("the profile is still there: %v", err)
		}
		return nil
	})
}

// installRBAC creates, for real, the CRDs, Namespace, ServiceAccount, roles and bindings config/default installs.
func installRBAC(t *testing.T) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if err := client.IgnoreAlreadyExists(k8s.Create(t.Context(), ns)); err != nil {
		t.Fatalf("creating the namespace: %v", err)
	}
	for _, o := range kustomizeBuild(t, "config/default") {
		switch o.GetKind() {
		case "CustomResourceDefinition", "Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
			apply(t, o, false)
			if o.GetKind() == "CustomResourceDefinition" {
				waitEstablished(t, o.GetName())
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		last = check()
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("%s: not within 30s: %v", what, last)
	}
}
