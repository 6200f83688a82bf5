package integration

import (
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// Deployments created after their profiles get the sidecars at admission, at generation 1, and the reconciler
// writes nothing to them afterwards, neither on a resync (every workload reconciled again) nor after a manager
// restart: Outrigger never fights the apiserver's defaults or itself.
func TestDeployment_NoWritesOnResyncOrRestart(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, nil)
	const n = 10
	log := logShipperSpec()
	log.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "web"}}
	log.Order = 1
	proxy := sidecarSpec("", "proxy")
	proxy.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "web"}}
	create(t, newProfile(ns, "logshipper", log), newProfile(ns, "proxy", proxy))
	g.Eventually(func(g Gomega) { // the manager has seen both profiles
		g.Expect(getProfile(g, ns, "logshipper").Status.ObservedGeneration).To(BeEquivalentTo(1))
		g.Expect(getProfile(g, ns, "proxy").Status.ObservedGeneration).To(BeEquivalentTo(1))
	}, timeout, interval).Should(Succeed())
	for i := 0; i < n; i++ {
		create(t, newDeployment(ns, fmt.Sprintf("web-%d", i), func(d *appsv1.Deployment) {
			d.Labels["tier"], d.Spec.Template.Labels["tier"] = "web", "web"
		}))
	}

	converged := func(g Gomega) {
		for _, name := range []string{"logshipper", "proxy"} {
			st := getProfile(g, ns, name).Status
			g.Expect(condition(st, v1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
			g.Expect(st.UpToDate).To(BeEquivalentTo(n))
		}
	}
	g.Eventually(converged, timeout, interval).Should(Succeed())
	g.Expect(writes.In(ns)).To(BeZero(), "the webhook injected every Deployment at creation; the reconciler had nothing to write")
	generations := map[string]int64{}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("web-%d", i)
		d := getDeployment(g, ns, name)
		g.Expect(d.Generation).To(BeEquivalentTo(1), "%s was not created with its sidecars", name)
		g.Expect(initContainerNames(d)).To(Equal([]string{"proxy", "logshipper"}), "order 0 before order 1")
		generations[name] = d.Generation
	}

	// Resync: a change to the profiles that does not change what they render makes every workload reconcile.
	before := writes.In(ns)
	for _, name := range []string{"logshipper", "proxy"} {
		updateProfile(g, ns, name, func(p *v1alpha1.SidecarProfile) {
			p.Annotations = map[string]string{"touched": time.Now().String()}
			p.Spec.Order++ // reconciles every workload; the placement of the two profiles stays the same
		})
	}
	g.Consistently(func() int { return writes.In(ns) }, "2s", interval).Should(Equal(before),
		"a resync must not write to Deployments")

	// Restart: the new manager lists and reconciles everything from scratch.
	stopManager()
	g.Expect(startManager()).To(Succeed())
	g.Consistently(func() int { return writes.In(ns) }, "3s", interval).Should(Equal(before),
		"a restart must not write to Deployments")
	g.Eventually(converged, timeout, interval).Should(Succeed())
	for name, gen := range generations {
		g.Expect(getDeployment(g, ns, name).Generation).To(Equal(gen), "%s rolled out again", name)
	}
}
