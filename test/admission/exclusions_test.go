package admission

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/workload"
	"github.com/outrigger-dev/outrigger/test/profilecases"
)

// A namespace the manager is told to leave alone (--excluded-namespaces, which the Helm chart passes from the
// value webhook.namespaceExclusions) gets nothing from a ClusterSidecarProfile that selects it, in either mode:
// not from the reconciler, which injects the same Deployment in the namespace next door, nor in policy mode at
// admission, where the policy admits the one next door with its sidecar. The profile's status counts only the
// workloads next door.
func TestExcludedNamespaces_GetNoSidecars(t *testing.T) {
	for _, mode := range []string{"policy", "webhook"} {
		t.Run(mode+" mode", func(t *testing.T) { excludedNamespaceGetsNoSidecars(t, mode) })
	}
}

func excludedNamespaceGetsNoSidecars(t *testing.T, mode string) {
	ctx := context.Background()
	// This run's namespaces only: those of an earlier run (go test -count) stay, as envtest deletes nothing.
	run := map[string]string{"exclusions-run": strconv.FormatInt(time.Now().UnixNano(), 36)}
	excluded, next := createNamespace(t, "excluded-", run), createNamespace(t, "next-door-", run)
	profile := &v1alpha1.ClusterSidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: "exclusions-" + run["exclusions-run"]}}
	profile.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: run}
	profile.Spec.SidecarProfileSpec = spec(sidecars("shipper"))
	// All at once: were the excluded Deployment selected, it would be injected as soon as the one next door.
	profile.Spec.Rollout = profilecases.AllAtOnce()
	if err := k8s.Create(ctx, profile); err != nil {
		t.Fatal(err)
	}
	// Created before the manager runs: no policy admits them, so only the reconciler can inject them.
	for _, ns := range []string{excluded, next} {
		if err := k8s.Create(ctx, deployment(ns)); err != nil {
			t.Fatal(err)
		}
	}
	startManager(t, mode, "--excluded-namespaces=kube-system,"+excluded)
	t.Cleanup(func() { deleteClusterProfile(t, profile) })

	names := []string{"w"}
	if mode == "policy" {
		waitFor(t, "the policy to place the profile", func() bool {
			return placesRevision(ctx, workload.Deployment, inject.Revision(&profile.Spec.SidecarProfileSpec))
		})
		waitForProbe(t, workload.Deployment, deployment(next), 0, "shipper")
		for _, ns := range []string{excluded, next} {
			admitted := deployment(ns)
			admitted.SetName("admitted")
			if err := k8s.Create(ctx, admitted); err != nil {
				t.Fatal(err)
			}
		}
		if !hasSidecar(t, next, "admitted", "shipper") {
			t.Fatalf("the policy did not admit the Deployment next door with its sidecar")
		}
		names = append(names, "admitted")
	}
	waitFor(t, fmt.Sprintf("the reconciler to inject %v next door, and the status to count them alone", names), func() bool {
		var p v1alpha1.ClusterSidecarProfile
		return k8s.Get(ctx, client.ObjectKeyFromObject(profile), &p) == nil && p.Status.ObservedGeneration == p.Generation &&
			p.Status.Matched == int32(len(names)) && p.Status.Injected == int32(len(names)) && hasSidecar(t, next, "w", "shipper")
	})
	for _, name := range names {
		if hasSidecar(t, excluded, name, "shipper") {
			t.Errorf("Deployment %s/%s of the excluded namespace got the sidecar", excluded, name)
		}
	}
}

func createNamespace(t *testing.T, prefix string, labels map[string]string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix, Labels: labels}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// hasSidecar reports whether the Deployment's pod template carries the init container.
func hasSidecar(t *testing.T, ns, name, sidecar string) bool {
	t.Helper()
	var d appsv1.Deployment
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &d); err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(d.Spec.Template.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == sidecar })
}

// deleteClusterProfile deletes the profile and waits until the manager has let it go (its finalizer), so that
// the next test finds neither it nor its policies.
func deleteClusterProfile(t *testing.T, profile *v1alpha1.ClusterSidecarProfile) {
	ctx := context.Background()
	if err := client.IgnoreNotFound(k8s.Delete(ctx, profile)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deleted profile to be gone", func() bool {
		return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(profile), &v1alpha1.ClusterSidecarProfile{}))
	})
}
