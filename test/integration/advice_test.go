package integration

import (
	"context"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// A Job whose podFailurePolicy matches exit code 143 from any container is created and injected all the same;
// the pitfall reaches the admission warnings, the profile's needsAttention (no condition changes) and a Warning
// event on the Job, once.
func TestAdvice_PitfallReachesWarningsStatusAndEventsAndBlocksNothing(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, nil)
	spec := sidecarSpec("work", "proxy")
	spec.WorkloadKinds = []v1alpha1.WorkloadKind{v1alpha1.KindJob}
	create(t, newProfile(ns, "proxy", spec))
	waitUntilSeen(g, ns, "proxy")

	job := newJob(ns, "work")
	job.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
		Action:      batchv1.PodFailurePolicyActionFailJob,
		OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{143}},
	}}}
	var warnings []string
	g.Expect(warningClient(&warnings).Create(context.Background(), job)).To(Succeed())
	g.Expect(strings.Join(warnings, "\n")).To(And(
		ContainSubstring("Outrigger: SidecarProfile/proxy: spec.podFailurePolicy.rules[0] (action FailJob) matches exit codes in [143]"),
		ContainSubstring(`set spec.podFailurePolicy.rules[0].onExitCodes.containerName to "job"`),
		ContainSubstring("(PodFailurePolicyMatchesSidecars)")))
	g.Expect(initContainerNamesOf(getJob(g, ns, "work").Spec.Template)).To(Equal([]string{"proxy"}))

	g.Eventually(func(g Gomega) {
		st := getProfile(g, ns, "proxy").Status
		g.Expect(st.NeedsAttention).To(ConsistOf(And(HaveField("Kind", v1alpha1.KindJob), HaveField("Name", "work"),
			HaveField("Reason", v1alpha1.ReasonPodFailurePolicyMatchesSidecars),
			HaveField("Message", ContainSubstring("set spec.podFailurePolicy.rules[0].onExitCodes.containerName")))))
		// The Job never runs here (no nodes), so Ready waits for its rollout, not for the advice.
		g.Expect(condition(st, v1alpha1.ConditionReady).Reason).To(Equal(v1alpha1.ReasonRollingOut))
		g.Expect(condition(st, v1alpha1.ConditionStalled).Status).To(Equal(metav1.ConditionFalse))
		g.Expect(condition(st, v1alpha1.ConditionDegraded).Status).To(Equal(metav1.ConditionFalse))
	}, timeout, interval).Should(Succeed())

	adviceEvents := func(g Gomega) []eventsv1.Event {
		var evs eventsv1.EventList
		g.Expect(k8s.List(context.Background(), &evs, client.InNamespace(ns))).To(Succeed())
		var out []eventsv1.Event
		for _, e := range evs.Items {
			if e.Reason == v1alpha1.EventPodFailurePolicyMatchesSidecars {
				out = append(out, e)
			}
		}
		return out
	}
	g.Eventually(func(g Gomega) {
		evs := adviceEvents(g)
		g.Expect(evs).To(HaveLen(1))
		g.Expect(evs[0]).To(And(HaveField("Type", corev1.EventTypeWarning), HaveField("Regarding.Kind", "Job"),
			HaveField("Regarding.Name", "work"), HaveField("Regarding.UID", getJob(g, ns, "work").UID),
			HaveField("Related.Name", "proxy"), HaveField("Note", ContainSubstring("SidecarProfile/proxy: spec.podFailurePolicy"))))
	}, timeout, interval).Should(Succeed())

	// The profile is reconciled again (a label on it is a new generation's worth of nothing: touch its spec), and
	// the advice, already in its status, is not told again.
	updateProfile(g, ns, "proxy", func(p *v1alpha1.SidecarProfile) { p.Spec.Order = 5 })
	waitUntilSeen(g, ns, "proxy")
	g.Consistently(func(g Gomega) {
		evs := adviceEvents(g)
		g.Expect(evs).To(HaveLen(1))
		g.Expect(evs[0].Series).To(BeNil())
	}, "2s", interval).Should(Succeed())
}

// A namespace whose ResourceQuota limits limits.memory refuses pods with a sidecar that sets no memory limit: the
// manager reads the quota from its cache (with its own RBAC) and says so at admission and in the status, and
// once the quota goes, the advice goes too.
func TestAdvice_AQuotaTheSidecarsBreakIsToldAndForgottenWhenItGoes(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, nil)
	quota := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "compute"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceLimitsMemory: resource.MustParse("4Gi")}}}
	create(t, quota)
	create(t, newProfile(ns, "proxy", sidecarSpec("web", "proxy")))
	waitUntilSeen(g, ns, "proxy")

	// The webhook reads the quota from the manager's cache, which may not have seen it yet.
	g.Eventually(func(g Gomega) {
		var warnings []string
		g.Expect(warningClient(&warnings).Create(context.Background(), newDeployment(ns, "web"), client.DryRunAll)).To(Succeed())
		g.Expect(strings.Join(warnings, "\n")).To(ContainSubstring(`Outrigger: SidecarProfile/proxy: sidecar "proxy": ResourceQuota compute has a hard limits.memory`))
	}, timeout, interval).Should(Succeed())
	var warnings []string
	g.Expect(warningClient(&warnings).Create(context.Background(), newDeployment(ns, "web"))).To(Succeed())
	g.Expect(strings.Join(warnings, "\n")).To(ContainSubstring("set resources.limits.memory on the sidecar in the profile (QuotaRefusesSidecars)"))
	g.Expect(initContainerNames(getDeployment(g, ns, "web"))).To(Equal([]string{"proxy"}))

	g.Eventually(func(g Gomega) {
		g.Expect(getProfile(g, ns, "proxy").Status.NeedsAttention).To(ConsistOf(And(HaveField("Name", "web"),
			HaveField("Sidecar", "proxy"), HaveField("Reason", v1alpha1.ReasonQuotaRefusesSidecars))))
	}, timeout, interval).Should(Succeed())

	g.Expect(k8s.Delete(context.Background(), quota)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(getProfile(g, ns, "proxy").Status.NeedsAttention).To(BeEmpty())
	}, timeout, interval).Should(Succeed())
}
