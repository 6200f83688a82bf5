package install_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/outrigger-dev/outrigger/internal/workload"
)

// The shipped manifests follow the registry of workload kinds, so that a kind added to internal/workload cannot
// be served by the reconcilers without reaching the webhook, or the other way round: the mutating webhook's rules
// name every kind at its group and version, CREATE and UPDATE for the kinds the reconcilers write and CREATE only
// for those whose pod template cannot change; the manager's ClusterRole reads every kind and patches exactly the
// mutable ones.
func TestManifests_FollowTheRegistryOfWorkloadKinds(t *testing.T) {
	objs := kustomizeBuild(t, "config/default")
	t.Run("mutating webhook rules", func(t *testing.T) {
		var cfg admissionregistrationv1.MutatingWebhookConfiguration
		fromUnstructured(t, find(t, objs, "MutatingWebhookConfiguration", ""), &cfg)
		type rule struct{ group, version, resource, operations string }
		var got, want []rule
		for _, r := range cfg.Webhooks[0].Rules {
			for _, g := range r.APIGroups {
				for _, v := range r.APIVersions {
					for _, res := range r.Resources {
						got = append(got, rule{g, v, res, fmtOperations(r.Operations)})
					}
				}
			}
		}
		for _, k := range workload.All {
			ops := []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}
			if k.Immutable {
				ops = ops[:1]
			}
			want = append(want, rule{k.GVK.Group, k.GVK.Version, k.Resource, fmtOperations(ops)})
		}
		if !sameElements(got, want) {
			t.Errorf("the mutating webhook's rules are\n  %v\nthe registry of kinds says\n  %v", got, want)
		}
	})
	t.Run("manager ClusterRole", func(t *testing.T) {
		var role rbacv1.ClusterRole
		fromUnstructured(t, find(t, objs, "ClusterRole", "outrigger-manager"), &role)
		for _, k := range workload.All {
			for _, verb := range []string{"get", "list", "watch", "patch"} {
				wantGranted := verb != "patch" || !k.Immutable
				if granted := grants(role, k.GVK.Group, k.Resource, verb); granted != wantGranted {
					t.Errorf("%s on %s: granted %v, want %v (immutable kinds are only read)", verb, k.GroupResource(), granted, wantGranted)
				}
			}
		}
	})
}

func fmtOperations(ops []admissionregistrationv1.OperationType) string {
	s := make([]string, len(ops))
	for i, o := range ops {
		s[i] = string(o)
	}
	slices.Sort(s)
	return fmt.Sprint(s)
}

func sameElements[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

func grants(role rbacv1.ClusterRole, group, resource, verb string) bool {
	for _, r := range role.Rules {
		if slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb) {
			return true
		}
	}
	return false
}

// find returns the rendered object of a kind, and of a name suffix when one is given.
func find(t *testing.T, objs []*unstructured.Unstructured, kind, nameSuffix string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && strings.HasSuffix(o.GetName(), nameSuffix) {
			return o
		}
	}
	t.Fatalf("no %s %q rendered", kind, nameSuffix)
	return nil
}

func fromUnstructured(t *testing.T, u *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
		t.Fatalf("decoding the %s: %v", u.GetKind(), err)
	}
}
