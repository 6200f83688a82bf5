package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// fakeAuthorizer answers SubjectAccessReviews from a list of grants, "verb resource.group namespace" ("" for
// cluster-wide; a cluster-wide grant also allows every namespace, as a ClusterRoleBinding does), and records the
// reviews it was asked.
type fakeAuthorizer struct {
	grants  map[string]bool
	fail    error
	reviews []authorizationv1.SubjectAccessReviewSpec
}

func (f *fakeAuthorizer) create(_ context.Context, _ client.WithWatch, obj client.Object, _ ...client.CreateOption) error {
	sar, ok := obj.(*authorizationv1.SubjectAccessReview)
	if !ok {
		return errors.New("the validator created something other than a SubjectAccessReview")
	}
	if f.fail != nil {
		return f.fail
	}
	f.reviews = append(f.reviews, sar.Spec)
	a := sar.Spec.ResourceAttributes
	key := func(ns string) string { return a.Verb + " " + a.Resource + "." + a.Group + " " + ns }
	sar.Status.Allowed = f.grants[key(a.Namespace)] || f.grants[key("")]
	return nil
}

// grantsFor lists update and patch on the resources, in a namespace.
func grantsFor(namespace string, resources ...string) map[string]bool {
	g := map[string]bool{}
	for _, r := range resources {
		for _, verb := range []string{"update", "patch"} {
			g[verb+" "+r+" "+namespace] = true
		}
	}
	return g
}

var allWorkloads = []string{"deployments.apps", "jobs.batch", "cronjobs.batch"}

func profileJSON(t *testing.T, p client.Object) []byte {
	t.Helper()
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func localProfile(kinds ...v1alpha1.WorkloadKind) *v1alpha1.SidecarProfile {
	return &v1alpha1.SidecarProfile{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "SidecarProfile"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "logs"},
		Spec: v1alpha1.SidecarProfileSpec{
			Selector:      &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			WorkloadKinds: kinds,
			Sidecars:      []v1alpha1.Sidecar{{Container: corev1.Container{Name: "logshipper", Image: "alpine"}}},
		},
	}
}

func clusterProfile() *v1alpha1.ClusterSidecarProfile {
	return &v1alpha1.ClusterSidecarProfile{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "ClusterSidecarProfile"},
		ObjectMeta: metav1.ObjectMeta{Name: "mesh"},
		Spec: v1alpha1.ClusterSidecarProfileSpec{SidecarProfileSpec: v1alpha1.SidecarProfileSpec{
			Selector: &metav1.LabelSelector{},
			Sidecars: []v1alpha1.Sidecar{{Container: corev1.Container{Name: "proxy", Image: "envoy"}}},
		}},
	}
}

func TestProfileValidator_AuthorizesTheAuthor(t *testing.T) {
	alice := authenticationv1.UserInfo{Username: "alice", UID: "u-1", Groups: []string{"team-shop", "system:authenticated"},
		Extra: map[string]authenticationv1.ExtraValue{"scopes": {"profiles"}}}
	withFinalizer := localProfile(v1alpha1.KindJob)
	withFinalizer.Finalizers = []string{v1alpha1.Finalizer}
	terminating := localProfile()
	now := metav1.Now()
	terminating.DeletionTimestamp = &now
	terminating.Finalizers = []string{v1alpha1.Finalizer}

	for _, tc := range []struct {
		name      string
		op        admissionv1.Operation
		obj, old  client.Object
		grants    map[string]bool
		fail      error
		allowed   bool
		code      int32    // of a refusal
		want      []string // substrings of the message
		reviews   int
		namespace string // of every review
	}{
		{name: "SidecarProfile, author may change every workload kind there", op: admissionv1.Create,
			obj: localProfile(), grants: grantsFor("shop", allWorkloads...), allowed: true, reviews: 6, namespace: "shop"},
		{name: "SidecarProfile, author may not patch Deployments there", op: admissionv1.Create,
			obj: localProfile(), grants: withoutGrant(grantsFor("shop", allWorkloads...), "patch deployments.apps shop"),
			code: http.StatusForbidden, reviews: 6, namespace: "shop",
			want: []string{`user "alice"`, "team-shop", "may not patch deployments.apps", `in namespace "shop"`,
				`bind the user in namespace "shop"`, "RoleBinding", "update and patch on deployments.apps", "edit", "spec.workloadKinds"}},
		{name: "SidecarProfile, author may change nothing: every missing grant is named", op: admissionv1.Create,
			obj: localProfile(), grants: nil, code: http.StatusForbidden, reviews: 6, namespace: "shop",
			want: []string{"update deployments.apps, patch deployments.apps, update jobs.batch, patch jobs.batch, update cronjobs.batch, patch cronjobs.batch"}},
		{name: "SidecarProfile, rights in another namespace only", op: admissionv1.Create,
			obj: localProfile(), grants: grantsFor("other", allWorkloads...), code: http.StatusForbidden, reviews: 6, namespace: "shop",
			want: []string{`in namespace "shop"`}},
		{name: "SidecarProfile limited to Jobs, author may change Jobs only", op: admissionv1.Create,
			obj: localProfile(v1alpha1.KindJob), grants: grantsFor("shop", "jobs.batch"), allowed: true, reviews: 2, namespace: "shop"},
		{name: "ClusterSidecarProfile, author has rights in one namespace only", op: admissionv1.Create,
			obj: clusterProfile(), grants: grantsFor("shop", allWorkloads...), code: http.StatusForbidden, reviews: 6, namespace: "",
			want: []string{`user "alice"`, "may not update deployments.apps", "cluster-wide", "ClusterRoleBinding",
				"rights in some namespaces are not enough", "SidecarProfile in each namespace"}},
		{name: "ClusterSidecarProfile, author has rights cluster-wide", op: admissionv1.Create,
			obj: clusterProfile(), grants: grantsFor("", allWorkloads...), allowed: true, reviews: 6, namespace: ""},
		{name: "the check fails: refused, not let through", op: admissionv1.Create,
			obj: localProfile(), fail: errors.New("connection refused"), code: http.StatusInternalServerError,
			want: []string{"could not check", "SidecarProfile shop/logs", "refuses the profile rather than let it through unchecked",
				"subjectaccessreviews.authorization.k8s.io", "connection refused"}},
		{name: "update that widens the kinds is checked", op: admissionv1.Update,
			obj: localProfile(), old: localProfile(v1alpha1.KindJob), grants: grantsFor("shop", "jobs.batch"),
			code: http.StatusForbidden, reviews: 6, namespace: "shop", want: []string{"may not update deployments.apps"}},
		{name: "update that changes the sidecars is checked", op: admissionv1.Update,
			obj: withImage(localProfile(v1alpha1.KindJob), "evil"), old: localProfile(v1alpha1.KindJob), grants: nil,
			code: http.StatusForbidden, reviews: 2, namespace: "shop", want: []string{"may not update jobs.batch, patch jobs.batch"}},
		{name: "update of the metadata only (Outrigger's finalizer) needs no rights", op: admissionv1.Update,
			obj: withFinalizer, old: localProfile(v1alpha1.KindJob), grants: nil, allowed: true, reviews: 0},
		{name: "update of a terminating profile needs no rights", op: admissionv1.Update,
			obj: terminating, old: localProfile(v1alpha1.KindJob), grants: nil, allowed: true, reviews: 0},
		{name: "delete is not checked", op: admissionv1.Delete, old: localProfile(), grants: nil, allowed: true, reviews: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			authz := &fakeAuthorizer{grants: tc.grants, fail: tc.fail}
			v := newTestValidator(authz)
			req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{Operation: tc.op, UserInfo: alice}}
			for _, o := range []client.Object{tc.obj, tc.old} {
				if o != nil {
					req.Kind = metav1.GroupVersionKind{Group: v1alpha1.GroupVersion.Group, Version: "v1alpha1", Kind: o.GetObjectKind().GroupVersionKind().Kind}
					req.Namespace = o.GetNamespace()
				}
			}
			if tc.obj != nil {
				req.Object.Raw = profileJSON(t, tc.obj)
			}
			if tc.old != nil {
				req.OldObject.Raw = profileJSON(t, tc.old)
			}

			resp := v.Handle(context.Background(), req)
			if resp.Allowed != tc.allowed {
				t.Fatalf("allowed = %v, want %v: %+v", resp.Allowed, tc.allowed, resp.Result)
			}
			if !tc.allowed {
				if resp.Result.Code != tc.code {
					t.Errorf("code %d, want %d", resp.Result.Code, tc.code)
				}
				for _, w := range tc.want {
					if !strings.Contains(resp.Result.Message, w) {
						t.Errorf("the message does not say %q:\n%s", w, resp.Result.Message)
					}
				}
			}
			if len(authz.reviews) != tc.reviews {
				t.Errorf("%d SubjectAccessReviews, want %d", len(authz.reviews), tc.reviews)
			}
			for _, r := range authz.reviews {
				want := authorizationv1.SubjectAccessReviewSpec{User: "alice", UID: "u-1", Groups: alice.Groups,
					Extra:              map[string]authorizationv1.ExtraValue{"scopes": {"profiles"}},
					ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: tc.namespace, Verb: r.ResourceAttributes.Verb, Group: r.ResourceAttributes.Group, Resource: r.ResourceAttributes.Resource}}
				if diff := cmp.Diff(want, r); diff != "" {
					t.Errorf("review (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// The authorization comes first, and a profile that passes it is still checked for collisions.
func TestProfileValidator_AuthorizedProfileStillCheckedForCollisions(t *testing.T) {
	other := localProfile()
	other.Name = "other-logs"
	authz := &fakeAuthorizer{grants: grantsFor("shop", allWorkloads...)}
	v := newTestValidator(authz, other)
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Operation: admissionv1.Create, UserInfo: authenticationv1.UserInfo{Username: "alice"}, Namespace: "shop",
		Kind:   metav1.GroupVersionKind{Group: v1alpha1.GroupVersion.Group, Version: "v1alpha1", Kind: "SidecarProfile"},
		Object: runtime.RawExtension{Raw: profileJSON(t, localProfile())},
	}}
	resp := v.Handle(context.Background(), req)
	if resp.Allowed || !strings.Contains(resp.Result.Message, "collides with SidecarProfile shop/other-logs") {
		t.Fatalf("want a collision with shop/other-logs, got allowed=%v %q", resp.Allowed, resp.Result.Message)
	}
	if len(authz.reviews) != 6 {
		t.Errorf("%d SubjectAccessReviews, want 6", len(authz.reviews))
	}
}

func newTestValidator(authz *fakeAuthorizer, objs ...client.Object) *ProfileValidator {
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	c := fake.NewClientBuilder().WithScheme(scheme).
		WithObjects(append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}})...).
		WithInterceptorFuncs(interceptor.Funcs{Create: authz.create}).Build()
	return &ProfileValidator{Authorizer: Authorizer{Client: c}, Collisions: CollisionValidator{Reader: c}}
}

func withoutGrant(g map[string]bool, grant string) map[string]bool {
	delete(g, grant)
	return g
}

func withImage(p *v1alpha1.SidecarProfile, image string) *v1alpha1.SidecarProfile {
	p.Spec.Sidecars[0].Image = image
	return p
}
