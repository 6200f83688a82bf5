package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/controlplane"
	"github.com/outrigger-dev/outrigger/internal/kindconfig"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// The suite's manager serves, besides the built-in kinds, the kinds of this configuration: a test CRD, Widget,
// whose pod template is at spec.runner.podTemplate.
const (
	kindsConfig = "test/testdata/kinds/workload-kinds.yaml"
	widgetCRD   = "test/testdata/kinds/widgets-crd.yaml"
)

// configuredKinds are what the suite's manager is started with (kindconfig.Load of kindsConfig).
var configuredKinds []kindconfig.Kind

// setUpConfiguredKinds does what installing Outrigger with the Helm value workloadKinds does for the kinds of
// kindsConfig: the CRD is there, the manager's ClusterRole grants the kind's resource, and the mutating
// webhook's rules name it. It also has the write counter count the kind's writes.
func setUpConfiguredKinds(ctx context.Context) error {
	kinds, errs := kindconfig.Load(filepath.Join(testEnv.Root, kindsConfig), workload.All)
	if len(errs) > 0 {
		return fmt.Errorf("%s: %v", kindsConfig, errs)
	}
	configuredKinds = kinds
	if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{filepath.Join(testEnv.Root, widgetCRD)}, ErrorIfPathMissing: true}); err != nil {
		return err
	}
	var resources []string
	rules := []admissionregistrationv1.RuleWithOperations{}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "outrigger-configured-kinds"}}
	for _, k := range kinds {
		resources = append(resources, k.Resource)
		role.Rules = append(role.Rules, rbacv1.PolicyRule{APIGroups: []string{k.GVK.Group}, Resources: []string{k.Resource},
			Verbs: []string{"get", "list", "watch", "patch"}})
		rules = append(rules, admissionregistrationv1.RuleWithOperations{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
			Rule: admissionregistrationv1.Rule{APIGroups: []string{k.GVK.Group}, APIVersions: []string{k.GVK.Version},
				Resources: []string{k.Resource}},
		})
	}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: role.ObjectMeta,
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: controlplane.ManagerNamespace, Name: controlplane.ManagerServiceAccount}}}
	for _, obj := range []client.Object{role, binding} {
		if err := client.IgnoreAlreadyExists(k8s.Create(ctx, obj)); err != nil {
			return err
		}
	}
	if err := addWebhookRules(ctx, rules); err != nil {
		return err
	}
	workloadPath = regexp.MustCompile(`/namespaces/([^/]+)/(` + strings.Join(append(workloadResources(), resources...), "|") + `)(/|$)`)
	return nil
}

// addWebhookRules adds rules to the workloads' mutating webhook, as the chart renders them for configured kinds.
func addWebhookRules(ctx context.Context, rules []admissionregistrationv1.RuleWithOperations) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var list admissionregistrationv1.MutatingWebhookConfigurationList
		if err := k8s.List(ctx, &list); err != nil {
			return err
		}
		for _, c := range list.Items {
			for i, w := range c.Webhooks {
				if w.Name != "workloads.sidecars.outrigger.dev" {
					continue
				}
				for _, r := range rules {
					if !slices.ContainsFunc(w.Rules, func(have admissionregistrationv1.RuleWithOperations) bool {
						return slices.Equal(have.Resources, r.Resources) && slices.Equal(have.APIGroups, r.APIGroups)
					}) {
						c.Webhooks[i].Rules = append(c.Webhooks[i].Rules, r)
					}
				}
				return k8s.Update(ctx, &c)
			}
		}
		return fmt.Errorf("no mutating webhook workloads.sidecars.outrigger.dev installed")
	})
}

// newWidget is a Widget labelled app=<name>, with its pod template at spec.runner.podTemplate and a field of
// its own (spec.size) that Outrigger must leave alone.
func newWidget(ns, name string) *unstructured.Unstructured {
	labels := map[string]any{"app": name}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "test.outrigger.dev/v1", "kind": "Widget",
		"metadata": map[string]any{"namespace": ns, "name": name, "labels": labels},
		"spec": map[string]any{"size": int64(3), "runner": map[string]any{
			"selector": map[string]any{"matchLabels": labels},
			"podTemplate": map[string]any{
				"metadata": map[string]any{"labels": labels},
				"spec": map[string]any{"containers": []any{map[string]any{
					"name": "app", "image": "busybox:local", "command": []any{"sleep", "infinity"},
				}}},
			},
		}},
	}}
}

func widgetKind(g Gomega) workload.Kind {
	i := slices.IndexFunc(configuredKinds, func(k kindconfig.Kind) bool { return k.Name == "Widget" })
	g.Expect(i).NotTo(BeNumerically("<", 0), "Widget is configured in %s", kindsConfig)
	return configuredKinds[i].Kind
}

// A profile that lists a kind the manager neither has built in nor is configured with is refused, with the kinds
// it knows: the configured ones among them.
func TestConfiguredKind_AProfileListingAnUnknownKindIsRefusedWithTheKnownOnes(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, nil)
	spec := logShipperSpec()
	spec.WorkloadKinds = []v1alpha1.WorkloadKind{"Widget", "CloneSet"}
	err := k8s.Create(context.Background(), newProfile(ns, "logshipper", spec))
	g.Expect(err).To(MatchError(ContainSubstring(
		`spec.workloadKinds[1]: "CloneSet" is not a kind Outrigger injects into here: the kinds are Deployment, Job, CronJob, StatefulSet, DaemonSet, Rollout, Widget`)))
}
