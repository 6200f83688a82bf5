package policy

import (
	"context"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/admission/authorship"
	"github.com/outrigger-dev/outrigger/internal/selection"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// grants answers the CEL authorizer from "verb resource.group namespace" entries ("" is cluster-wide, and also
// allows every namespace, as a ClusterRoleBinding does), for one user only.
func grants(t *testing.T, username string, entries ...string) authorizer.Authorizer {
	return authorizer.AuthorizerFunc(func(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
		if a.GetUser().GetName() != username {
			t.Errorf("the authorizer was asked about %q, want the request's user %q", a.GetUser().GetName(), username)
		}
		key := func(ns string) string { return a.GetVerb() + " " + a.GetResource() + "." + a.GetAPIGroup() + " " + ns }
		if slices.Contains(entries, key(a.GetNamespace())) || slices.Contains(entries, key("")) {
			return authorizer.DecisionAllow, "", nil
		}
		return authorizer.DecisionNoOpinion, "", nil
	})
}

// everyVerb lists update and patch on the resources, in a namespace.
func everyVerb(namespace string, resources ...string) []string {
	var out []string
	for _, r := range resources {
		for _, v := range authorship.Verbs {
			out = append(out, v+" "+r+" "+namespace)
		}
	}
	return out
}

var (
	profileGVK        = v1alpha1.GroupVersion.WithKind("SidecarProfile")
	clusterProfileGVK = v1alpha1.GroupVersion.WithKind("ClusterSidecarProfile")
	defaultResources  = []string{"deployments.apps", "jobs.batch", "cronjobs.batch"}
	alice             = &user.DefaultInfo{Name: "alice", UID: "u-1", Groups: []string{"team-shop", "system:authenticated"}}
)

func shopProfile(mods ...func(*v1alpha1.SidecarProfileSpec)) *v1alpha1.SidecarProfile {
	p := &v1alpha1.SidecarProfile{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "logs"}, Spec: v1alpha1.SidecarProfileSpec{
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Sidecars: []v1alpha1.Sidecar{{Container: corev1.Container{Name: "shipper", Image: "alpine"}}},
	}}
	for _, m := range mods {
		m(&p.Spec)
	}
	return p
}

func meshProfile(mods ...func(*v1alpha1.SidecarProfileSpec)) *v1alpha1.ClusterSidecarProfile {
	p := &v1alpha1.ClusterSidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: "mesh"}}
	p.Spec.SidecarProfileSpec = shopProfile(mods...).Spec
	return p
}

func kinds(ks ...v1alpha1.WorkloadKind) func(*v1alpha1.SidecarProfileSpec) {
	return func(s *v1alpha1.SidecarProfileSpec) { s.WorkloadKinds = ks }
}

// checkProfile runs every profile check on a request about p and returns the messages of the refusals.
func checkProfile(t *testing.T, known workload.Kinds, r request, p selection.Profile) (refusals []string, matched int) {
	t.Helper()
	gvk, resource := profileGVK, "sidecarprofiles"
	if p.GetNamespace() == "" {
		gvk, resource = clusterProfileGVK, "clustersidecarprofiles"
	}
	r.object = unstructuredOf(t, p, gvk)
	r.gvr = v1alpha1.GroupVersion.WithResource(resource)
	r.namespace = p.GetNamespace()
	if r.op == "" {
		r.op = admission.Create
	}
	if r.user == nil {
		r.user = alice
	}
	for _, v := range ProfileChecks(known) {
		failed, ok := evaluate(t, v.Policy, r)
		if ok {
			matched++
		}
		if len(failed) > 0 { // the apiserver reports a policy's first failed validation
			refusals = append(refusals, failed[0])
		}
	}
	return refusals, matched
}

func TestProfileChecks_TheAuthorMayChangeWhatTheProfileSelects(t *testing.T) {
	shop := authorship.Quote("shop")
	for _, tc := range []struct {
		name    string
		profile selection.Profile
		user    user.Info
		grants  []string
		want    []string // the refusals, in full
	}{
		{name: "a SidecarProfile whose author may change every kind it selects there", profile: shopProfile(),
			grants: everyVerb("shop", defaultResources...)},
		{name: "a SidecarProfile whose author may not patch Deployments there", profile: shopProfile(),
			grants: slices.DeleteFunc(everyVerb("shop", defaultResources...), func(g string) bool { return g == "patch deployments.apps shop" }),
			want: []string{authorship.Denial(`user "alice" (groups team-shop, system:authenticated)`, shop,
				[]authorship.Missing{{Verb: "patch", Resource: "deployments.apps"}}, nil)}},
		{name: "a SidecarProfile whose author may change no Jobs names both verbs", profile: shopProfile(kinds(v1alpha1.KindJob)),
			want: []string{authorship.Denial(`user "alice" (groups team-shop, system:authenticated)`, shop,
				[]authorship.Missing{{Verb: "update", Resource: "jobs.batch"}, {Verb: "patch", Resource: "jobs.batch"}}, nil)}},
		{name: "a user without groups is named alone", profile: shopProfile(kinds(v1alpha1.KindCronJob)), user: &user.DefaultInfo{Name: "bob"},
			grants: []string{"patch cronjobs.batch shop"},
			want:   []string{authorship.Denial(`user "bob"`, shop, []authorship.Missing{{Verb: "update", Resource: "cronjobs.batch"}}, nil)}},
		{name: "rights in a namespace are not enough for a ClusterSidecarProfile", profile: meshProfile(kinds(v1alpha1.KindDeployment)),
			grants: everyVerb("shop", defaultResources...),
			want: []string{authorship.Denial(`user "alice" (groups team-shop, system:authenticated)`, "",
				[]authorship.Missing{{Verb: "update", Resource: "deployments.apps"}, {Verb: "patch", Resource: "deployments.apps"}}, nil)}},
		{name: "a ClusterSidecarProfile whose author may change its kinds cluster-wide", profile: meshProfile(kinds(v1alpha1.KindStatefulSet, v1alpha1.KindRollout)),
			grants: everyVerb("", "statefulsets.apps", "rollouts.argoproj.io")},
		{name: "only the kinds the profile selects are asked about", profile: shopProfile(kinds(v1alpha1.KindDaemonSet)),
			grants: everyVerb("shop", "daemonsets.apps")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := tc.user
			if u == nil {
				u = alice
			}
			got, _ := checkProfile(t, workload.All, request{user: u, authorization: grants(t, u.GetName(), tc.grants...)}, tc.profile)
			if !slices.Equal(got, tc.want) {
				t.Errorf("refusals:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// The policies see what the webhook sees: creates, and updates that change the spec, of profiles not being
// deleted.
func TestProfileChecks_SkipWhatWidensNothing(t *testing.T) {
	withFinalizer := shopProfile()
	withFinalizer.Finalizers = []string{v1alpha1.Finalizer}
	terminating := shopProfile()
	now := metav1.Now()
	terminating.DeletionTimestamp = &now
	changed := shopProfile(kinds(v1alpha1.KindJob))
	for _, tc := range []struct {
		name     string
		op       admission.Operation
		profile  selection.Profile
		old      selection.Profile
		policies int // that match
	}{
		{name: "a create", op: admission.Create, profile: shopProfile(), policies: 4},
		{name: "an update of the spec", op: admission.Update, profile: changed, old: shopProfile(), policies: 2},
		{name: "an update of the metadata alone", op: admission.Update, profile: withFinalizer, old: shopProfile()},
		{name: "an update of a profile being deleted", op: admission.Update, profile: terminating, old: shopProfile(kinds(v1alpha1.KindJob))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := request{op: tc.op}
			if tc.old != nil {
				r.old = unstructuredOf(t, tc.old, profileGVK)
			}
			refusals, matched := checkProfile(t, workload.All, r, tc.profile)
			if matched != tc.policies {
				t.Errorf("%d policies matched, want %d (the general one and one per kind selected)", matched, tc.policies)
			}
			if tc.policies > 0 && len(refusals) == 0 {
				t.Errorf("a user with no rights was not refused")
			}
		})
	}
}

func TestProfileChecks_RefuseTheKindsTheManagerDoesNotKnow(t *testing.T) {
	widget := workload.Kind{Name: "Widget", GVK: schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}, Resource: "widgets"}
	known := workload.All.With(widget)
	everything := everyVerb("shop", "deployments.apps", "widgets.example.com")
	for _, tc := range []struct {
		name    string
		profile *v1alpha1.SidecarProfile
		known   workload.Kinds
		refused bool
	}{
		{name: "built-in kinds", profile: shopProfile(kinds(v1alpha1.KindDeployment)), known: known},
		{name: "a configured kind", profile: shopProfile(kinds(v1alpha1.KindDeployment, "Widget")), known: known},
		{name: "a kind the manager was not configured with", profile: shopProfile(kinds(v1alpha1.KindDeployment, "Widget")), known: workload.All, refused: true},
		{name: "a kind nobody knows", profile: shopProfile(kinds("Gadget")), known: known, refused: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := checkProfile(t, tc.known, request{authorization: grants(t, "alice", everything...)}, tc.profile)
			var want []string
			if err := selection.CheckKinds(tc.profile, tc.known.Names()); err != nil {
				want = append(want, err.Error())
			}
			if tc.refused != (len(want) > 0) {
				t.Fatalf("the webhook's check: %v, want refused %v", want, tc.refused)
			}
			if tc.refused { // and the authorization of the unknown kind is nobody's to check
				got = slices.DeleteFunc(got, func(m string) bool { return !strings.HasPrefix(m, "spec.workloadKinds") })
			}
			if !slices.Equal(got, want) {
				t.Errorf("refusals %q, want the webhook's %q", got, want)
			}
		})
	}
}

func TestProfileChecks_RefuseTheSelectorsTheWebhookRefuses(t *testing.T) {
	badKey, badValue := "app/web/x", "-web"
	selector := func(s *metav1.LabelSelector) func(*v1alpha1.SidecarProfileSpec) {
		return func(spec *v1alpha1.SidecarProfileSpec) { spec.Selector = s }
	}
	canary := func(c v1alpha1.CanaryWave) func(*v1alpha1.SidecarProfileSpec) {
		return func(spec *v1alpha1.SidecarProfileSpec) { spec.Rollout.Canary = &c }
	}
	in := func(key string, values ...string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: key, Operator: metav1.LabelSelectorOpIn, Values: values}}}
	}
	mesh := func(ns *metav1.LabelSelector) *v1alpha1.ClusterSidecarProfile {
		p := meshProfile()
		p.Spec.NamespaceSelector = ns
		return p
	}
	for _, tc := range []struct {
		name    string
		profile selection.Profile
		want    string // in the refusal; "" for none
	}{
		{name: "valid selectors", profile: shopProfile(selector(in("example.com/tier", "web", ""))), want: ""},
		{name: "an empty selector", profile: shopProfile(selector(&metav1.LabelSelector{})), want: ""},
		{name: "a matchLabels key", profile: shopProfile(selector(&metav1.LabelSelector{MatchLabels: map[string]string{badKey: "web"}})),
			want: `spec.selector.matchLabels: key "app/web/x": `},
		{name: "a matchLabels value", profile: shopProfile(selector(&metav1.LabelSelector{MatchLabels: map[string]string{"app": badValue}})),
			want: `spec.selector.matchLabels["app"]: value "-web": `},
		{name: "a matchExpressions key", profile: shopProfile(selector(in("Bad Key", "web"))),
			want: `spec.selector.matchExpressions[0].key "Bad Key": `},
		{name: "a matchExpressions value", profile: shopProfile(selector(in("app", "web", badValue))),
			want: `spec.selector.matchExpressions[0].values: "-web": `},
		{name: "a ClusterSidecarProfile's namespaceSelector", profile: mesh(in("team", badValue)),
			want: `spec.namespaceSelector.matchExpressions[0].values: "-web": `},
		{name: "a canary selector", profile: shopProfile(canary(v1alpha1.CanaryWave{Selector: in(badKey, "x")})),
			want: `spec.rollout.canary.selector.matchExpressions[0].key "app/web/x": `},
		{name: "a canary namespaceSelector on a SidecarProfile", profile: shopProfile(canary(v1alpha1.CanaryWave{NamespaceSelector: in("team", "a")})),
			want: "spec.rollout.canary.namespaceSelector is for ClusterSidecarProfiles"},
		{name: "a canary namespaceSelector on a ClusterSidecarProfile", profile: meshProfile(canary(v1alpha1.CanaryWave{NamespaceSelector: in("team", "a")})),
			want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := checkProfile(t, workload.All, request{authorization: grants(t, "alice", everyVerb("", defaultResources...)...)}, tc.profile)
			_, webhook := selection.Check(tc.profile, selection.Protected{})
			if (webhook != nil) != (tc.want != "") {
				t.Fatalf("the webhook's check says %v; this case expects a refusal: %v", webhook, tc.want != "")
			}
			if tc.want == "" {
				if len(got) > 0 {
					t.Errorf("refused: %q", got)
				}
				return
			}
			if len(got) != 1 || !strings.HasPrefix(got[0], tc.want) {
				t.Errorf("refusals %q, want one that starts %q", got, tc.want)
			}
		})
	}
}

func TestCelText(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"no slot", `"no slot"`},
		{"user ⟦user⟧ may not", `"user " + (request.userInfo.username) + " may not"`},
		{"⟦user⟧⟦namespace⟧", `(request.userInfo.username) + (request.namespace)`},
		{"", `""`},
	} {
		got := celText(tc.text, map[string]string{userSlot: "request.userInfo.username", namespaceSlot: "request.namespace"})
		if got != tc.want {
			t.Errorf("celText(%q) = %s, want %s", tc.text, got, tc.want)
		}
	}
}
