// Package gitops holds the scenarios of Outrigger's coexistence with GitOps tools, checked with the tools' own
// write paths against a real kube-apiserver with Outrigger's manager running:
//   - Flux's kustomize-controller applies server-side under the field manager kustomize-controller, with
//     force-conflicts: played here by the real kubectl (`kubectl apply --server-side`), which sends the same
//     apply patch;
//   - Argo CD syncs with client-side `kubectl apply` (the last-applied-configuration annotation) by default, or
//     server-side with the sync option ServerSideApply=true (field manager argocd-controller); and it decides
//     "in sync" with gitops-engine's diff package, called here as its controller calls it.
//
// Each suite runs every scenario with the manager in its admission mode, so that both modes answer the same
// questions: test/integration with the webhook (on every Kubernetes the README promises, `make test-oldest`
// included), test/admission with the MutatingAdmissionPolicies, which only Kubernetes 1.36 and later serve. The
// package holds no test itself. docs/gitops.md explains what the scenarios measure.
package gitops

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/controlplane"
	"github.com/outrigger-dev/outrigger/test/argocdhealth"
	"github.com/outrigger-dev/outrigger/test/envsuite"
	"github.com/outrigger-dev/outrigger/test/profilecases"
)

const (
	timeout  = 20 * time.Second
	interval = 50 * time.Millisecond
)

// Mode is how the manager under test admits workloads.
type Mode string

const (
	// Webhook: the manager serves the mutating webhook (failurePolicy Ignore: while it is down, the apiserver
	// admits workloads as they come).
	Webhook Mode = "webhook"
	// Policy: the manager compiles the profiles into MutatingAdmissionPolicies, which the apiserver runs itself,
	// the manager up or down.
	Policy Mode = "policy"
)

// Cluster is a suite's control plane with Outrigger's manager running in Mode, as the scenarios use it.
type Cluster struct {
	Mode Mode
	Env  *controlplane.Env
	// Client reads straight from the apiserver, not from a cache.
	Client client.Client
	// Writes counts the manager's writes to workloads.
	Writes *envsuite.WriteCounter
	// StopManager stops the manager (the apiserver, and the policies it wrote, stay); StartManager starts it again
	// and returns once it is ready.
	StopManager  func()
	StartManager func() error
	// InstallRolloutCRD installs Argo Rollouts' Rollout CRD, unless it is already.
	InstallRolloutCRD func() error

	mu         sync.Mutex
	namespaces []string
}

// Scenario is one coexistence check, run on a Cluster.
type Scenario struct {
	Name string
	Run  func(t *testing.T, c *Cluster)
}

// Scenarios are every coexistence check; each suite runs them all.
var Scenarios = []Scenario{
	{"FluxReapplyKeepsSidecarsAndGeneration", fluxReapply},
	{"ArgoCDClientSideApplyKeepsSidecarsAndGeneration", argoCDClientSideApply},
	{"FluxOptOutLabelTakesTheSidecarsAwayAndBack", fluxOptOutLabel},
	{"OutriggerDownDuringAReapply", outriggerDownDuringAReapply},
	{"ArgoCDDiffReportsTheInjectedWorkloadInSync", argoCDDiffInSync},
	{"ArgoCDHealthScriptReadsLiveProfiles", argoCDHealthScript},
}

// Namespaces are the namespaces the scenarios created, for a suite that deletes what they left.
func (c *Cluster) Namespaces() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.namespaces...)
}

func (c *Cluster) namespace(t *testing.T, labels map[string]string) string {
	ns := envsuite.NewNamespace(t, c.Client, labels)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.namespaces = append(c.namespaces, ns)
	return ns
}

func (c *Cluster) create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := c.Client.Create(context.Background(), o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
}

// Flux: a workload injected by Outrigger, re-applied from Git by kustomize-controller (server-side apply,
// force-conflicts) with the manifest that has no sidecar, keeps its sidecars and its generation; Outrigger writes
// nothing. A commit that changes the workload makes exactly one new generation, with the sidecars. The same for
// Deployments, CronJobs, StatefulSets with volumeClaimTemplates and Argo Rollouts, injected at admission or by the
// reconciler.
func fluxReapply(t *testing.T, c *Cluster) {
	c.eachInjected(t, func(k *kubectlCLI, ns, m string) { k.fluxApply(ns, m, false) },
		func(g gomega.Gomega, k *kubectlCLI, ns string, w gitWorkload, how injectedBy, injected workloadState) {
			// Who owns the sidecars: what Outrigger added at admission belongs to no field manager (the apiserver
			// records managed fields before mutating admission runs, webhooks and policies alike); what the
			// reconciler added belongs to outrigger. Either way not to kustomize-controller, so its apply never
			// removes them.
			if how == atAdmission {
				g.Expect(injected.SidecarOwners).To(gomega.BeEmpty())
			} else {
				g.Expect(injected.SidecarOwners).To(gomega.Equal([]string{v1alpha1.FieldManager + " (Update)"}))
			}

			// Flux's drift detection sees none (its dry run goes through admission, which changes nothing), and so
			// does not even apply; when it applies anyway (a forced reconcile), nothing changes.
			g.Expect(k.fluxDrifted(g, ns, w.manifest, w)).To(gomega.BeFalse(), "Flux would see a drift")
			w0 := c.Writes.In(ns)
			g.Expect(k.fluxApply(ns, w.manifest, true)).To(gomega.ContainSubstring("serverside-applied"))
			c.expectUnchanged(g, ns, w, injected, w0)

			// A commit: one new generation, the sidecars kept, nothing for Outrigger to repair.
			g.Expect(k.fluxDrifted(g, ns, w.withNewImage(), w)).To(gomega.BeTrue(), "Flux must see the commit")
			k.fluxApply(ns, w.withNewImage(), true)
			changed := w.read(g, c, ns)
			g.Expect(changed.Generation).To(gomega.Equal(injected.Generation + 1))
			expectLogShipper(g, changed)
			g.Expect(changed.Template.Annotations).To(gomega.HaveKeyWithValue(v1alpha1.InjectionAnnotation, injected.Template.Annotations[v1alpha1.InjectionAnnotation]))
			c.expectUnchanged(g, ns, w, changed, w0)

			// And re-applying that commit again changes nothing.
			k.fluxApply(ns, w.withNewImage(), true)
			c.expectUnchanged(g, ns, w, changed, w0)
		})
}

// Argo CD's default sync: client-side `kubectl apply` of the Git manifest (last-applied-configuration) onto a
// workload Outrigger injected keeps the sidecars and the generation. For a Deployment or a CronJob kubectl finds
// nothing to send. It sends a patch, which changes nothing stored, in two cases:
//   - a StatefulSet's volumeClaimTemplates, on every re-apply, Outrigger or not: the apiserver fills in fields of
//     the claim templates (volumeMode, status), and the list is atomic, so kubectl's three-way merge finds it
//     different from Git and sends it whole, as Git has it; the apiserver fills the same fields in again. (The
//     patch also orders the app container's own mounts as Git does, which keeps Outrigger's mount after them.)
//   - a Rollout's containers: a custom resource has no strategic merge patch, and kubectl's JSON merge patch
//     replaces a list that differs, so it sends the app containers as Git has them, without Outrigger's mount.
//     The webhook puts the mount back within the request. The policies act only on a pod template without the
//     injection record, and this one keeps it: the apply rolls the Rollout out without the mount, and the
//     reconciler puts it back, one write and a second rollout (as with the webhook down, docs/gitops.md).
//     Server-side applies (Flux, ServerSideApply=true) merge the containers by name and keep the mount.
func argoCDClientSideApply(t *testing.T, c *Cluster) {
	c.eachInjected(t, func(k *kubectlCLI, ns, m string) { k.argoClientSideApply(ns, m) },
		func(g gomega.Gomega, k *kubectlCLI, ns string, w gitWorkload, _ injectedBy, injected workloadState) {
			reconcilerRepairs := w.mergePatch && c.Mode == Policy
			w0 := c.Writes.In(ns)
			g.Expect(k.argoClientSideApply(ns, w.manifest)).To(gomega.ContainSubstring(w.clientSideReapply))
			if reconcilerRepairs {
				repaired := c.repairedByTheReconciler(g, ns, w, injected.Generation+1, w0)
				g.Expect(equality.Semantic.DeepEqual(repaired.Template, injected.Template)).To(gomega.BeTrue(),
					"the repaired template is the one before the apply:\n%s", cmp.Diff(injected.Template, repaired.Template))
				injected, w0 = repaired, w0+1
			}
			c.expectUnchanged(g, ns, w, injected, w0)

			k.argoClientSideApply(ns, w.withNewImage())
			var changed workloadState
			if reconcilerRepairs {
				changed, w0 = c.repairedByTheReconciler(g, ns, w, injected.Generation+1, w0), w0+1
			} else {
				changed = w.read(g, c, ns)
				g.Expect(changed.Generation).To(gomega.Equal(injected.Generation + 1))
			}
			expectLogShipper(g, changed)
			c.expectUnchanged(g, ns, w, changed, w0)
		})
}

// eachInjected runs check on every Git workload, each in a namespace of its own, synced from Git with sync and
// injected at admission or by the reconciler: once each way.
func (c *Cluster) eachInjected(t *testing.T, sync func(k *kubectlCLI, ns, manifest string),
	check func(g gomega.Gomega, k *kubectlCLI, ns string, w gitWorkload, how injectedBy, injected workloadState)) {
	for _, w := range c.gitWorkloads(t) {
		for _, how := range []injectedBy{atAdmission, byReconciler} {
			t.Run(string(w.kind.Name)+", "+string(how), func(t *testing.T) {
				g := gomega.NewWithT(t)
				ns := c.namespace(t, nil)
				k := c.kubectl(t)
				check(g, k, ns, w, how, c.syncAndInject(t, g, ns, w, how, func(m string) { sync(k, ns, m) }))
			})
		}
	}
}

// The opt-out label, committed to Git and applied by Flux, takes the sidecars away in one rollout, and further
// re-applies change nothing; taking the label out of Git gives them back, in one more rollout. The same for each
// kind the coexistence scenarios re-apply.
func fluxOptOutLabel(t *testing.T, c *Cluster) {
	for _, w := range c.gitWorkloads(t) {
		t.Run(string(w.kind.Name), func(t *testing.T) {
			g := gomega.NewWithT(t)
			ns := c.namespace(t, nil)
			k := c.kubectl(t)
			injected := c.syncAndInject(t, g, ns, w, atAdmission, func(m string) { k.fluxApply(ns, m, false) })
			g.Expect(w.withOptOut()).NotTo(gomega.Equal(w.manifest))

			// The webhook takes the sidecars away within the apply's request. A policy only adds, so in policy mode
			// the reconciler takes them away: one write. One rollout either way.
			removals := 0
			if c.Mode == Policy {
				removals = 1
			}
			k.fluxApply(ns, w.withOptOut(), true)
			var optedOut workloadState
			g.Eventually(func(g gomega.Gomega) {
				optedOut = w.read(g, c, ns)
				g.Expect(optedOut.sidecars()).To(gomega.BeEmpty())
				g.Expect(optedOut.Template.Annotations).NotTo(gomega.HaveKey(v1alpha1.InjectionAnnotation))
				g.Expect(c.Writes.In(ns)).To(gomega.Equal(removals))
			}, timeout, interval).Should(gomega.Succeed())
			g.Expect(optedOut.Generation).To(gomega.Equal(injected.Generation+1), "one rollout takes the sidecars away")
			k.fluxApply(ns, w.withOptOut(), true)
			c.expectUnchanged(g, ns, w, optedOut, removals)

			k.fluxApply(ns, w.manifest, true)
			var back workloadState
			g.Eventually(func(g gomega.Gomega) {
				back = w.read(g, c, ns)
				g.Expect(back.sidecars()).To(gomega.Equal([]string{"logshipper"}))
			}, timeout, interval).Should(gomega.Succeed())
			g.Expect(back.Generation).To(gomega.Equal(optedOut.Generation+1), "one rollout brings them back")
			g.Expect(equality.Semantic.DeepEqual(back.Template, injected.Template)).To(gomega.BeTrue(), cmp.Diff(injected.Template, back.Template))
			t.Logf("opt-out: generation %d (injected) -> %d (label committed, sidecars removed by %d writes of Outrigger) -> %d (label removed)",
				injected.Generation, optedOut.Generation, removals, back.Generation)
			c.expectUnchanged(g, ns, w, back, removals) // admission gave them back, within the request
		})
	}
}

// With Outrigger down (the manager stopped; the webhook's failurePolicy Ignore admits every request, while the
// policies keep running in the apiserver):
//   - a Flux re-apply of the Git manifest, or an Argo CD client-side one, keeps the sidecars and the generation,
//     and a commit that changes the Deployment is one rollout that keeps them: neither tool owns the sidecars, so
//     neither removes them, and admission is not needed;
//   - only a write of the whole object without them (`kubectl replace`, Argo CD's Replace=true sync option)
//     removes them. With Outrigger up, admission puts them back in that same request, and the Deployment does
//     not change. With the webhook down, the Deployment rolls out without its sidecars, and once Outrigger is
//     back the reconciler re-adds them: a second rollout. The policies need no manager: the replace is repaired
//     within the request, as with Outrigger up.
func outriggerDownDuringAReapply(t *testing.T, c *Cluster) {
	g := gomega.NewWithT(t)
	w := c.gitDeployment(t)
	k := c.kubectl(t)
	fluxNS, argoNS, replaceNS := c.namespace(t, nil), c.namespace(t, nil), c.namespace(t, nil)
	flux := c.syncAndInject(t, g, fluxNS, w, atAdmission, func(m string) { k.fluxApply(fluxNS, m, false) })
	argo := c.syncAndInject(t, g, argoNS, w, atAdmission, func(m string) { k.argoClientSideApply(argoNS, m) })
	replaced := c.syncAndInject(t, g, replaceNS, w, atAdmission, func(m string) { k.fluxApply(replaceNS, m, false) })

	// Outrigger up: a replace of the whole object without the sidecars is repaired within the request.
	k.replace(g, replaceNS, w.manifest)
	c.expectUnchanged(g, replaceNS, w, replaced, 0)

	c.StopManager()
	managerUp := false
	defer func() {
		if !managerUp {
			g.Expect(c.StartManager()).To(gomega.Succeed())
		}
	}()
	k.fluxApply(fluxNS, w.manifest, true)
	g.Expect(k.argoClientSideApply(argoNS, w.manifest)).To(gomega.ContainSubstring("unchanged"))
	for ns, before := range map[string]workloadState{fluxNS: flux, argoNS: argo} {
		now := w.read(g, c, ns)
		g.Expect(now.Generation).To(gomega.Equal(before.Generation), "a re-apply with Outrigger down is not a rollout")
		g.Expect(equality.Semantic.DeepEqual(now.Template, before.Template)).To(gomega.BeTrue(), cmp.Diff(before.Template, now.Template))
	}
	k.fluxApply(fluxNS, w.withNewImage(), true)
	k.argoClientSideApply(argoNS, w.withNewImage())
	committed := map[string]workloadState{}
	for ns, before := range map[string]workloadState{fluxNS: flux, argoNS: argo} {
		now := w.read(g, c, ns)
		g.Expect(now.Generation).To(gomega.Equal(before.Generation+1), "the commit's own rollout, and only that")
		g.Expect(now.sidecars()).To(gomega.Equal([]string{"logshipper"}), "kept without admission")
		committed[ns] = now
	}

	k.replace(g, replaceNS, w.manifest)
	w0 := c.Writes.In(replaceNS)
	if c.Mode == Policy {
		// A replace while the manager is down: the policies put the sidecars back within the request.
		c.expectUnchanged(g, replaceNS, w, replaced, w0)
		g.Expect(c.StartManager()).To(gomega.Succeed())
		managerUp = true
		c.expectUnchanged(g, replaceNS, w, replaced, w0)
	} else {
		// A replace while the webhook is down: the sidecars go, one rollout.
		stripped := w.read(g, c, replaceNS)
		g.Expect(stripped.Generation).To(gomega.Equal(replaced.Generation+1), "rollout without the sidecars")
		g.Expect(stripped.sidecars()).To(gomega.BeEmpty())

		g.Expect(c.StartManager()).To(gomega.Succeed())
		managerUp = true
		var repaired workloadState
		g.Eventually(func(g gomega.Gomega) {
			repaired = w.read(g, c, replaceNS)
			g.Expect(repaired.sidecars()).To(gomega.Equal([]string{"logshipper"}))
			g.Expect(c.Writes.In(replaceNS)).To(gomega.Equal(w0 + 1))
		}, timeout, interval).Should(gomega.Succeed())
		g.Expect(repaired.Generation).To(gomega.Equal(stripped.Generation+1), "the reconciler's repair is a second rollout")
		g.Expect(equality.Semantic.DeepEqual(repaired.Template, replaced.Template)).To(gomega.BeTrue(),
			"the repaired template is the one before the outage:\n%s", cmp.Diff(replaced.Template, repaired.Template))
		t.Logf("replace during the outage: generation %d (injected) -> %d (sidecars removed) -> %d (re-added by the reconciler)",
			replaced.Generation, stripped.Generation, repaired.Generation)
	}

	// Back up, Outrigger finds nothing to do on the workloads Flux and Argo CD re-applied during the outage.
	for ns, before := range committed {
		c.expectUnchanged(g, ns, w, before, c.Writes.In(ns))
	}
}

// Argo CD's own diff code (gitops-engine's diff package) reports a workload Outrigger injected as in sync with
// the Git manifest that has no sidecar, in each diff strategy, without ignoreDifferences or
// managedFieldsManagers: after a client-side sync (the default) and after a server-side sync
// (ServerSideApply=true), injected at admission or by the reconciler; for a Deployment, a StatefulSet with a
// volumeClaimTemplate and an Argo Rollout. A real drift (the workload scaled in the cluster) is reported, so "in
// sync" is not the diff seeing nothing.
func argoCDDiffInSync(t *testing.T, c *Cluster) {
	rollout := c.gitRollout(t)
	argo := c.argoCD(t, rollout.kind.GVK)
	for _, w := range []gitWorkload{c.gitDeployment(t), gitStatefulSet(), rollout} {
		for _, sync := range []struct {
			name  string
			apply func(k *kubectlCLI, ns, manifest string)
			modes []argoDiffMode
		}{
			{"client-side sync", func(k *kubectlCLI, ns, m string) { k.argoClientSideApply(ns, m) },
				[]argoDiffMode{legacyDiff, serverSideDiff, serverSideDiffWithWebhooks}},
			{"ServerSideApply=true sync", func(k *kubectlCLI, ns, m string) {
				k.run(m, "apply", "--server-side", "--field-manager="+argoManager, "--force-conflicts", "-n", ns, "-f", "-")
			}, []argoDiffMode{structuredMergeDiff, serverSideDiff, serverSideDiffWithWebhooks}},
		} {
			for _, how := range []injectedBy{atAdmission, byReconciler} {
				t.Run(string(w.kind.Name)+", "+sync.name+", "+string(how), func(t *testing.T) {
					g := gomega.NewWithT(t)
					ns := c.namespace(t, nil)
					k := c.kubectl(t)
					c.syncAndInject(t, g, ns, w, how, func(m string) { sync.apply(k, ns, m) })
					live := c.settled(g, ns, w)
					for _, mode := range sync.modes {
						outOfSync, d := argo.diff(t, k, ns, w.manifest, live, mode)
						g.Expect(outOfSync).To(gomega.BeFalse(), "%s (%s) reports the injected %s out of sync:\n%s", mode.name, mode.settings, w.kind.Name, d)
					}

					// A drift Argo CD must see: someone scales the workload by hand.
					k.run("", "scale", w.kind.GroupResource().String()+"/"+w.name, "-n", ns, "--replicas=3")
					drifted := c.settled(g, ns, w)
					for _, mode := range sync.modes {
						outOfSync, d := argo.diff(t, k, ns, w.manifest, drifted, mode)
						g.Expect(outOfSync).To(gomega.BeTrue(), "%s misses a real drift", mode.name)
						g.Expect(d).To(gomega.ContainSubstring("replicas"), mode.name)
					}
				})
			}
		}
	}
}

// The health script Argo CD runs (config/argocd/resource_customizations) reads profiles as Outrigger writes them
// on a real apiserver: Healthy when Ready, Degraded when Stalled by a conflict, for both kinds.
func argoCDHealthScript(t *testing.T, c *Cluster) {
	root := filepath.Join(c.Env.Root, "config", "argocd", "resource_customizations")
	read := func(g gomega.Gomega, obj client.Object, kind string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion(v1alpha1.GroupVersion.String())
		u.SetKind(kind)
		g.Expect(c.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), u)).To(gomega.Succeed())
		return u
	}
	evaluate := func(g gomega.Gomega, obj client.Object, kind string) argocdhealth.Status {
		script, err := argocdhealth.LoadScript(root, v1alpha1.GroupVersion.Group, kind)
		g.Expect(err).NotTo(gomega.HaveOccurred())
		st, err := argocdhealth.Evaluate(script, read(g, obj, kind))
		g.Expect(err).NotTo(gomega.HaveOccurred())
		return st
	}
	// message is what the profile's status says in a condition of the type, "" without one.
	message := func(g gomega.Gomega, obj client.Object, typ string) string {
		conditions, _, _ := unstructured.NestedSlice(read(g, obj, "SidecarProfile").Object, "status", "conditions")
		for _, cond := range conditions {
			if cond := cond.(map[string]any); cond["type"] == typ {
				return cond["message"].(string)
			}
		}
		return ""
	}

	t.Run("SidecarProfile", func(t *testing.T) {
		g := gomega.NewWithT(t)
		ns := c.namespace(t, nil)
		c.create(t, profilecases.NewDeployment(ns, "web"), profilecases.NewDeployment(ns, "clash", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Name = "proxy-clash"
		}))
		healthy := profilecases.NewProfile(ns, "proxy", profilecases.SidecarSpec("web", "proxy"))
		clash := profilecases.NewProfile(ns, "clash", profilecases.SidecarSpec("clash", "proxy-clash"))
		c.create(t, healthy, clash)
		g.Eventually(func(g gomega.Gomega) {
			g.Expect(evaluate(g, healthy, "SidecarProfile")).To(gomega.Equal(argocdhealth.Status{Status: argocdhealth.Healthy,
				Message: message(g, healthy, v1alpha1.ConditionReady)}))
		}, timeout, interval).Should(gomega.Succeed())
		g.Eventually(func(g gomega.Gomega) {
			st := evaluate(g, clash, "SidecarProfile")
			g.Expect(st.Status).To(gomega.Equal(argocdhealth.Degraded))
			g.Expect(st.Message).To(gomega.Equal(message(g, clash, v1alpha1.ConditionStalled)))
			g.Expect(st.Message).To(gomega.ContainSubstring("proxy-clash"))
		}, timeout, interval).Should(gomega.Succeed())
	})

	t.Run("ClusterSidecarProfile", func(t *testing.T) {
		g := gomega.NewWithT(t)
		team := "gitops-" + rand.String(6)
		ns := c.namespace(t, map[string]string{"team": team})
		c.create(t, profilecases.NewDeployment(ns, "api"))
		spec := profilecases.SidecarSpec("api", "agent-"+team)
		p := &v1alpha1.ClusterSidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: "agent-" + team}, Spec: v1alpha1.ClusterSidecarProfileSpec{
			SidecarProfileSpec: spec, NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": team}}}}
		c.create(t, p)
		t.Cleanup(func() { _ = c.Client.Delete(context.Background(), p) })
		g.Eventually(func(g gomega.Gomega) {
			g.Expect(evaluate(g, p, "ClusterSidecarProfile").Status).To(gomega.Equal(argocdhealth.Healthy))
		}, timeout, interval).Should(gomega.Succeed())
	})
}
