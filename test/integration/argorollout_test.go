package integration

import (
	"context"
	"sync"
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/controlplane"
	"github.com/outrigger-dev/outrigger/internal/workload"
	"github.com/outrigger-dev/outrigger/test/profilecases"
)

// installRolloutCRD installs Argo Rollouts' own Rollout CRD (of controlplane.ArgoRolloutsVersion) once per test
// process, while the manager runs: the manager started without the kind, and serves it once the CRD is there.
var installRolloutCRD = sync.OnceValue(func() error {
	path, err := controlplane.ArgoRolloutCRD(testEnv.Root)
	if err != nil {
		return err
	}
	_, err = envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{path}, ErrorIfPathMissing: true})
	return err
})

// rolloutTemplate is a Rollout's spec.template as the apiserver stores it, field for field.
func rolloutTemplate(g Gomega, ns, name string) map[string]any {
	u := getWorkload(g, workload.ArgoRollout, ns, name).(*unstructured.Unstructured)
	tmpl, found, err := unstructured.NestedMap(u.Object, "spec", "template")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(found).To(BeTrue())
	return tmpl
}

func rolloutInitContainers(g Gomega, ns, name string) []any {
	c, _, _ := unstructured.NestedSlice(rolloutTemplate(g, ns, name), "spec", "initContainers")
	return c
}

// Argo Rollouts, against the real Rollout CRD installed after the manager started: a Rollout created after its
// profile is stored with the sidecars at generation 1, one that existed before gets them with one write (a JSON
// patch), a resync writes nothing, and deleting the profile gives back exactly the original spec.template.
func TestArgoRollout_InjectedAtAdmissionAndByTheReconcilerAndRemoved(t *testing.T) {
	g := NewWithT(t)
	g.Expect(installRolloutCRD()).To(Succeed())
	ns := newNamespace(t, nil)
	create(t, profilecases.NewArgoRollout(ns, "existing"))
	original := rolloutTemplate(g, ns, "existing")

	spec := logShipperSpec()
	spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"existing", "fresh"}}}}
	spec.WorkloadKinds = []v1alpha1.WorkloadKind{v1alpha1.KindRollout}
	profile := newProfile(ns, "logshipper", spec)
	create(t, profile)
	// The first time, this waits for the manager to see the CRD and serve the kind.
	g.Eventually(func(g Gomega) {
		g.Expect(rolloutInitContainers(g, ns, "existing")).To(ConsistOf(HaveKeyWithValue("name", "logshipper")))
	}, timeout, interval).Should(Succeed())
	g.Eventually(writes.In).WithArguments(ns).WithTimeout(timeout).Should(Equal(1), "one write for the existing Rollout")

	create(t, profilecases.NewArgoRollout(ns, "fresh"))
	fresh := getWorkload(g, workload.ArgoRollout, ns, "fresh")
	g.Expect(fresh.GetGeneration()).To(BeEquivalentTo(1), "created with its sidecars")
	tmpl, err := workload.ArgoRollout.PodTemplate(fresh)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(tmpl.Spec.InitContainers).To(ConsistOf(And(HaveField("Name", "logshipper"),
		HaveField("RestartPolicy", HaveValue(BeEquivalentTo("Always"))))), "the Rollout CRD's schema keeps restartPolicy")
	g.Expect(tmpl.Spec.Containers[0].VolumeMounts).To(ConsistOf(HaveField("MountPath", "/opt")))
	g.Expect(tmpl.Annotations).To(HaveKey(v1alpha1.InjectionAnnotation))

	g.Eventually(func(g Gomega) {
		st := getProfile(g, ns, "logshipper").Status
		g.Expect(condition(st, v1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue), "%+v", st.Conditions)
		g.Expect([]int32{st.Matched, st.UpToDate, st.RolledOut}).To(Equal([]int32{2, 2, 2}))
	}, timeout, interval).Should(Succeed())
	g.Expect(writes.In(ns)).To(Equal(1), "the webhook injected the new Rollout; the reconciler had nothing to write")

	touched := updateProfile(g, ns, "logshipper", func(p *v1alpha1.SidecarProfile) { p.Spec.Order++ })
	g.Eventually(func(g Gomega) {
		g.Expect(getProfile(g, ns, "logshipper").Status.ObservedGeneration).To(Equal(touched.Generation))
	}, timeout, interval).Should(Succeed())
	g.Consistently(func() int { return writes.In(ns) }, "2s", interval).Should(Equal(1), "a resync must not write")

	g.Expect(k8s.Delete(context.Background(), profile)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(rolloutTemplate(g, ns, "existing")).To(Equal(original))
		g.Expect(rolloutInitContainers(g, ns, "fresh")).To(BeEmpty())
		err := k8s.Get(context.Background(), client.ObjectKeyFromObject(profile), &v1alpha1.SidecarProfile{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue())
	}, timeout, interval).Should(Succeed())
}

// A Rollout that takes its pod template from a Deployment (spec.workloadRef) has none to inject: it is admitted
// untouched, never written, and the profile says what to do instead.
func TestArgoRollout_WithWorkloadRefIsReportedWithWhatToDo(t *testing.T) {
	g := NewWithT(t)
	g.Expect(installRolloutCRD()).To(Succeed())
	ns := newNamespace(t, nil)
	spec := sidecarSpec("canary", "proxy")
	spec.WorkloadKinds = []v1alpha1.WorkloadKind{v1alpha1.KindRollout}
	create(t, newProfile(ns, "proxy", spec))

	ref := profilecases.NewArgoRollout(ns, "canary")
	unstructured.RemoveNestedField(ref.Object, "spec", "template")
	g.Expect(unstructured.SetNestedMap(ref.Object, map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
		"spec", "workloadRef")).To(Succeed())
	create(t, ref)

	g.Eventually(func(g Gomega) {
		st := getProfile(g, ns, "proxy").Status
		g.Expect(st.NeedsAttention).To(ConsistOf(And(HaveField("Kind", v1alpha1.KindRollout), HaveField("Name", "canary"),
			HaveField("Reason", v1alpha1.ReasonNoPodTemplate),
			HaveField("Message", ContainSubstring("have the profile select Deployment "+ns+"/web (list Deployment in spec.workloadKinds)")))))
		g.Expect(condition(st, v1alpha1.ConditionStalled).Status).To(Equal(metav1.ConditionFalse), "%+v", st.Conditions)
	}, timeout, interval).Should(Succeed())
	stored := getWorkload(g, workload.ArgoRollout, ns, "canary").(*unstructured.Unstructured)
	g.Expect(stored.GetGeneration()).To(BeEquivalentTo(1))
	_, hasTemplate, _ := unstructured.NestedMap(stored.Object, "spec", "template")
	g.Expect(hasTemplate).To(BeFalse(), "nothing was added")
	g.Expect(writes.In(ns)).To(BeZero())
}
