package integration

import (
	"sync"
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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
