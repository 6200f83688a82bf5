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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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

// A kind from the manager's configuration, with its pod template at an unusual path, is injected as the built-in
// kinds are: at admission (generation 1), by the reconciler with one write for one that existed before, not
// again on resync, and removed back to exactly the original; its own fields are never touched.
func TestConfiguredKind_InjectedAtAdmissionAndByTheReconcilerAndRemoved(t *testing.T) {
	g := NewWithT(t)
	widget := widgetKind(g)
	ns := newNamespace(t, nil)
	create(t, newWidget(ns, "existing"))
	read := func(g Gomega, name string) *unstructured.Unstructured {
		return getWorkload(g, widget, ns, name).(*unstructured.Unstructured)
	}
	original := read(g, "existing").Object["spec"]

	spec := logShipperSpec()
	spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"existing", "fresh"}}}}
	spec.WorkloadKinds = []v1alpha1.WorkloadKind{"Widget"}
	profile := newProfile(ns, "logshipper", spec)
	create(t, profile)
	sidecars := func(g Gomega, name string) []any {
		c, _, _ := unstructured.NestedSlice(read(g, name).Object, "spec", "runner", "podTemplate", "spec", "initContainers")
		return c
	}
	g.Eventually(func(g Gomega) {
		g.Expect(sidecars(g, "existing")).To(ConsistOf(And(HaveKeyWithValue("name", "logshipper"), HaveKeyWithValue("restartPolicy", "Always"))))
	}, timeout, interval).Should(Succeed())
	g.Eventually(writes.In).WithArguments(ns).WithTimeout(timeout).Should(Equal(1), "one write for the existing Widget")

	create(t, newWidget(ns, "fresh"))
	fresh := read(g, "fresh")
	g.Expect(fresh.GetGeneration()).To(BeEquivalentTo(1), "created with its sidecars")
	g.Expect(sidecars(g, "fresh")).To(ConsistOf(HaveKeyWithValue("name", "logshipper")))
	g.Expect(fresh.Object["spec"]).To(HaveKeyWithValue("size", BeEquivalentTo(3)), "the Widget's own fields are left alone")
	g.Expect(fresh.GetAnnotations()).NotTo(HaveKey(v1alpha1.InjectionAnnotation), "the record is on the pod template, not the Widget")
	tmpl, err := widget.PodTemplate(fresh)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(tmpl.Annotations).To(HaveKey(v1alpha1.InjectionAnnotation))

	// kstatus reads a Widget without conditions, whose controller (none here) has not written observedGeneration,
	// as Current: rolled out.
	g.Eventually(func(g Gomega) {
		st := getProfile(g, ns, "logshipper").Status
		g.Expect(condition(st, v1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue), "%+v", st.Conditions)
		g.Expect([]int32{st.Matched, st.UpToDate, st.RolledOut}).To(Equal([]int32{2, 2, 2}))
	}, timeout, interval).Should(Succeed())
	g.Expect(writes.In(ns)).To(Equal(1))

	touched := updateProfile(g, ns, "logshipper", func(p *v1alpha1.SidecarProfile) { p.Spec.Order++ })
	g.Eventually(func(g Gomega) {
		g.Expect(getProfile(g, ns, "logshipper").Status.ObservedGeneration).To(Equal(touched.Generation))
	}, timeout, interval).Should(Succeed())
	g.Consistently(func() int { return writes.In(ns) }, "2s", interval).Should(Equal(1), "a resync must not write")

	g.Expect(k8s.Delete(context.Background(), profile)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(read(g, "existing").Object["spec"]).To(Equal(original))
		g.Expect(sidecars(g, "fresh")).To(BeEmpty())
		err := k8s.Get(context.Background(), client.ObjectKeyFromObject(profile), &v1alpha1.SidecarProfile{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue())
	}, timeout, interval).Should(Succeed())
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
