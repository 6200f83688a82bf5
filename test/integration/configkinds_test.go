package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
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
	gadgetCRD   = "test/testdata/kinds/gadgets-crd.yaml"
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
	if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{filepath.Join(testEnv.Root, widgetCRD), filepath.Join(testEnv.Root, gadgetCRD)}, ErrorIfPathMissing: true}); err != nil {
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
	writes.AddResources(resources...)
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
		`spec.workloadKinds[1]: "CloneSet" is not a kind Outrigger injects into here: the kinds are Deployment, Job, CronJob, StatefulSet, DaemonSet, Rollout, Widget, Gadget`)))
}

// fixGadgetCRD adds to the Gadget CRD the field its configuration names, spec.podTemplate: once per process, as
// the manager serves the kind from then on.
var fixGadgetCRD = sync.OnceValue(func() error {
	scheme := runtime.NewScheme()
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		return err
	}
	crds, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := crds.Get(context.Background(), client.ObjectKey{Name: "gadgets.test.outrigger.dev"}, crd); err != nil {
			return err
		}
		spec := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
		spec.Properties["podTemplate"] = spec.Properties["template"]
		crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"] = spec
		return crds.Update(context.Background(), crd)
	})
})

// A configured kind whose CRD has no pod template where the configuration says is refused by the manager at
// start; a profile listing it is Stalled with which entry and why, not Ready while that kind's workloads get
// nothing. Once the CRD has the field, the manager serves the kind without a restart, the profile is no longer
// Stalled, and a new Gadget gets the sidecars at admission.
func TestConfiguredKind_RefusedIsReportedOnTheProfileAndServedOnceItsCRDFits(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, nil)
	spec := sidecarSpec("gadget", "proxy")
	spec.WorkloadKinds = []v1alpha1.WorkloadKind{v1alpha1.KindDeployment, "Gadget"}
	create(t, newProfile(ns, "proxy", spec))
	stalled := func(g Gomega) metav1.Condition {
		return condition(getProfile(g, ns, "proxy").Status, v1alpha1.ConditionStalled)
	}
	if !gadgetServed.Load() { // the first run in this process: the CRD is as installed
		g.Eventually(stalled, timeout, interval).Should(And(HaveField("Status", metav1.ConditionTrue),
			HaveField("Reason", v1alpha1.ReasonKindNotServed),
			HaveField("Message", ContainSubstring("Gadget: kinds[1] (test.outrigger.dev/v1 Gadget) in "+filepath.Join(testEnv.Root, kindsConfig))),
			HaveField("Message", ContainSubstring("has no field podTemplate on the way to spec.podTemplate"))))
	}
	g.Expect(fixGadgetCRD()).To(Succeed())
	gadgetServed.Store(true)
	g.Eventually(stalled, timeout, interval).Should(HaveField("Status", metav1.ConditionFalse))

	gadget := newWidget(ns, "gadget")
	gadget.SetKind("Gadget")
	runner, _, _ := unstructured.NestedMap(gadget.Object, "spec", "runner")
	gadget.Object["spec"] = map[string]any{"selector": runner["selector"], "podTemplate": runner["podTemplate"]}
	g.Eventually(func() error { return k8s.Create(context.Background(), gadget.DeepCopy()) }, timeout, interval).Should(Succeed())
	stored := &unstructured.Unstructured{}
	stored.SetGroupVersionKind(gadget.GroupVersionKind())
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(gadget), stored)).To(Succeed())
	names, _, _ := unstructured.NestedSlice(stored.Object, "spec", "podTemplate", "spec", "initContainers")
	g.Expect(names).To(ConsistOf(HaveKeyWithValue("name", "proxy")), "injected at admission, generation %d", stored.GetGeneration())
	g.Expect(stored.GetGeneration()).To(BeEquivalentTo(1))
}

// gadgetServed is whether fixGadgetCRD ran in this process (go test -count=N runs the test N times).
var gadgetServed atomic.Bool
