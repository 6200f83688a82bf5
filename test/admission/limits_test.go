package admission

import (
	"context"
	"fmt"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/admission/policy"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/selection"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// A namespace whose profiles make a policy larger than the apiserver stores is never silent: each profile the
// policy would hold is Stalled with the reason AdmissionPolicyFailed, naming the policy, the limit and what to
// change, and a Warning event says so; the other namespaces' policy is written all the same. Once the namespace
// has fewer profiles, its policy is written and the profiles are no longer stalled.
func TestPolicyMode_AShardBeyondTheAPIServersLimitsIsReportedOnItsProfiles(t *testing.T) {
	ctx := context.Background()
	startPolicyManager(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "too-large-"}}
	if err := k8s.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	mesh := &v1alpha1.ClusterSidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: "limits-mesh"}}
	mesh.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns.Name}}
	mesh.Spec.SidecarProfileSpec = spec(sidecars("proxy"), kinds(v1alpha1.KindDeployment))
	// 20 profiles of 80 KB each: 1.6 MB, more than etcd stores in one object.
	profiles := []client.Object{mesh}
	for i := range 20 {
		p := local(ns.Name, fmt.Sprintf("large-%d", i), sidecars(fmt.Sprintf("large-%d", i)), kinds(v1alpha1.KindDeployment))
		p.ProfileSpec().Sidecars[0].Env = []corev1.EnvVar{{Name: "BLOB", Value: strings.Repeat("x", 80_000)}}
		profiles = append(profiles, p)
	}
	for _, p := range profiles {
		if err := k8s.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { deleteProfiles(t, profiles) }) // before the manager stops: it removes their finalizers

	shard := policy.Name(workload.Deployment) + "." + ns.Name
	large := profiles[1]
	waitFor(t, "the namespace's profiles to be stalled for their policy", func() bool {
		c := stalled(ctx, large)
		return c != nil && c.Reason == v1alpha1.ReasonAdmissionPolicyFailed
	})
	for _, says := range []string{"namespace " + ns.Name, shard, "the policy as stored", "--admission=webhook"} {
		if c := stalled(ctx, large); !strings.Contains(c.Message, says) {
			t.Errorf("the Stalled condition does not say %q: %s", says, c.Message)
		}
	}
	waitFor(t, "a Warning event on the profile", func() bool { return hasEvent(ctx, large, v1alpha1.EventAdmissionPolicyFailed) })
	// The namespace's policy keeps what it had: none, or one the manager wrote before the last profiles came.
	if n := placedIn(ctx, shard); n >= len(profiles) {
		t.Errorf("the namespace's policy places %d profiles, more than the apiserver can store", n)
	}
	waitFor(t, "the other namespaces' policy to place the ClusterSidecarProfile", func() bool {
		return placesRevision(ctx, workload.Deployment, inject.Revision(&mesh.Spec.SidecarProfileSpec))
	})

	deleteProfiles(t, profiles[6:])
	waitFor(t, "the namespace's policy to be written and its profiles no longer stalled", func() bool {
		c := stalled(ctx, large)
		return c != nil && c.Status == metav1.ConditionFalse && placedIn(ctx, shard) == 6
	})
}

// placedIn is how many profiles a MutatingAdmissionPolicy places, 0 when there is none.
func placedIn(ctx context.Context, name string) int {
	var p admissionregistrationv1.MutatingAdmissionPolicy
	if err := k8s.Get(ctx, client.ObjectKey{Name: name}, &p); err != nil {
		return 0
	}
	listed, _ := policy.Places(&p)
	return len(listed)
}

// A platform's 300 ClusterSidecarProfiles are one policy per kind for the namespaces without SidecarProfiles. The
// apiserver takes each, and the warnings' policy beside it, and a workload they select is stored exactly as the
// engine injects it: the profiles share sidecar names, volumes and mount paths, and some do not select it.
func TestPolicies_AShardOf300ClusterSidecarProfilesIsTakenAndInjectsAsTheEngine(t *testing.T) {
	runs.Add(1)
	t.Cleanup(func() {
		deletePolicies(t)
		deleteProfileChecks(t) // the warnings' policies
	})
	var profiles []selection.Profile
	for i := range 300 {
		mods := []specMod{sidecars(fmt.Sprintf("sidecar-%d", i)), order(int32(i % 3))}
		if i%10 == 0 {
			mods[0] = sidecars("shipper") // only the first placed keeps the name
		}
		if i%3 == 0 {
			path := fmt.Sprintf("/mnt/%d", i)
			if i%9 == 0 {
				path = "/var/log/shared" // only the first placed mounts it
			}
			mods = append(mods, volumes(fmt.Sprintf("volume-%d", i)), mounts(fmt.Sprintf("volume-%d", i), path))
		}
		if i%7 == 0 {
			mods = append(mods, matchLabels("app", "other"))
		}
		profiles = append(profiles, cluster(fmt.Sprintf("platform-%03d", i), mods...))
	}
	obj := deployment("platform")
	checkTogether(t, []equivalence{{name: "300 ClusterSidecarProfiles", profiles: profiles, obj: obj}}, 5000)

	// The warnings' policy of the kind, which the manager writes beside it.
	cs := compileProfiles(t, workload.Deployment, profiles)
	if len(cs) != 1 {
		t.Fatalf("%d policies, want one", len(cs))
	}
	upsert(t, cs[0].Warnings.Policy)
	upsert(t, cs[0].Warnings.Binding)
	var taken admissionregistrationv1.MutatingAdmissionPolicy
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(cs[0].Policy), &taken); err != nil {
		t.Fatal(err)
	}
	if listed, err := policy.Places(&taken); err != nil || len(listed) != len(profiles)+1 {
		t.Errorf("the policy taken places %d profiles (%v), want %d and the probe", len(listed), err, len(profiles))
	}
}

// compileProfiles compiles the kind's policies for the profiles, each at its spec; an error fails the test.
func compileProfiles(t *testing.T, kind workload.Kind, profiles []selection.Profile) []policy.Compiled {
	t.Helper()
	var compiled []policy.Profile
	for _, p := range profiles {
		c, err := policy.FromProfile(p, p.ProfileSpec())
		if err != nil {
			t.Fatal(err)
		}
		compiled = append(compiled, c)
	}
	cs, err := policy.Compile(kind, compiled, options)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// stalled is the profile's Stalled condition, nil until it has one.
func stalled(ctx context.Context, p client.Object) *metav1.Condition {
	live := p.DeepCopyObject().(selection.Profile)
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(p), live); err != nil {
		return nil
	}
	return meta.FindStatusCondition(live.ProfileStatus().Conditions, v1alpha1.ConditionStalled)
}

// hasEvent reports whether an event of the reason regards the object.
func hasEvent(ctx context.Context, obj client.Object, reason string) bool {
	var events eventsv1.EventList
	if err := k8s.List(ctx, &events, client.InNamespace(obj.GetNamespace())); err != nil {
		return false
	}
	for _, e := range events.Items {
		if e.Reason == reason && e.Regarding.Name == obj.GetName() {
			return true
		}
	}
	return false
}

// deleteProfiles deletes the profiles and waits until they are gone, the manager having removed their finalizers.
func deleteProfiles(t *testing.T, profiles []client.Object) {
	t.Helper()
	ctx := context.Background()
	for _, p := range profiles {
		if err := k8s.Delete(ctx, p); client.IgnoreNotFound(err) != nil {
			t.Error(err)
		}
	}
	for _, p := range profiles {
		waitFor(t, "profile "+p.GetName()+" to be gone", func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(p), p.DeepCopyObject().(client.Object)))
		})
	}
}
