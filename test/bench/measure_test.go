package bench

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/admission/policy"
	"github.com/outrigger-dev/outrigger/internal/controlplane"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/requestmetrics"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// mutatingWebhook is the name of the configuration envtest installs from config/webhook/manifests.yaml.
const mutatingWebhook = "mutating-webhook-configuration"

// idle waits until the manager has reconciled at least minReconciles workloads of the measured kind since it
// started and has had nothing to do for two scrapes in a row, and returns the last scrape.
func (s *scale) idle(ctx context.Context, minReconciles int) controlplane.Metrics {
	deadline := time.Now().Add(waitTimeout)
	var last float64 = -1
	for {
		ms, err := s.mgr.Metrics()
		s.must(err)
		reconciles := ms.Sum("controller_runtime_reconcile_total", nil)
		busy := ms.Sum("workqueue_depth", nil) + ms.Sum("controller_runtime_active_workers", nil)
		done := ms.Sum("controller_runtime_reconcile_total", map[string]string{"controller": strings.ToLower(string(s.kind.Name))}) >= float64(minReconciles)
		if done && busy == 0 && reconciles == last {
			return ms
		}
		if time.Now().After(deadline) {
			s.b.Fatalf("the manager is still busy after %s; see %s", waitTimeout, s.logPath)
		}
		last = reconciles
		time.Sleep(time.Second)
	}
}

// workloadWrites is how many patches of workloads of a kind the manager made between two scrapes (before nil:
// since it started), and how many of them were refused with a conflict.
func workloadWrites(kind workload.Kind, before, after controlplane.Metrics) (writes, conflicts float64) {
	count := func(ms controlplane.Metrics, code string) float64 {
		if ms == nil {
			return 0
		}
		labels := map[string]string{"verb": "patch", "resource": kind.GVK.Group + "/" + kind.Resource}
		if code != "" {
			labels["code"] = code
		}
		return ms.Sum(requestmetrics.Name, labels)
	}
	return count(after, "") - count(before, ""), count(after, "409") - count(before, "409")
}

// writesByResource says how many writes of each verb and resource the manager made between two scrapes.
func writesByResource(before, after controlplane.Metrics) string {
	count := map[string]float64{}
	for _, ms := range []struct {
		m    controlplane.Metrics
		sign float64
	}{{before, -1}, {after, 1}} {
		f, ok := ms.m[requestmetrics.Name]
		if !ok {
			continue
		}
		for _, series := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range series.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			switch labels["verb"] {
			case "create", "update", "patch", "delete":
				count[labels["verb"]+" "+labels["resource"]+" "+labels["code"]] += ms.sign * series.GetCounter().GetValue()
			}
		}
	}
	keys := slices.Sorted(maps.Keys(count))
	var parts []string
	for _, k := range keys {
		if count[k] != 0 {
			parts = append(parts, fmt.Sprintf("%s: %.0f", k, count[k]))
		}
	}
	return strings.Join(parts, ", ")
}

// measureAdmission times creating Deployments without any webhook configured, with the sidecar already in (what
// the bigger object costs), with a webhook that does nothing (what calling any webhook costs the apiserver),
// with one answering a precomputed patch, through the MutatingAdmissionPolicy Outrigger compiles, and through
// Outrigger's webhook (a profile selects them, so each is injected), taking turns in two rounds so that none gets
// the warmer apiserver. The manager runs only for its webhook's round, so its controllers process none of the
// other sets while they are timed; the policy's round needs no manager at all.
func (s *scale) measureAdmission(ctx context.Context) admissionResult {
	var r admissionResult
	s.must(s.c.Create(ctx, admissionProfile()))
	s.waitObserved(ctx, "bench-admission")
	outriggers := &admissionregistrationv1.MutatingWebhookConfiguration{}
	s.must(s.c.Get(ctx, client.ObjectKey{Name: mutatingWebhook}, outriggers))
	fixed, err := sidecarPatch(setFixedPatch)
	s.must(err)
	noop, err := startNoopWebhook(s.env.WebhookInstallOptions.LocalServingCertDir, s.env.WebhookInstallOptions.LocalServingHost, fixed)
	s.must(err)
	defer noop.stop()
	compiled, floor := admissionPolicy(s.b), floorPolicy()
	half := s.n / 2
	for round := range 2 {
		s.stopManager()
		s.setWebhook(ctx, nil)
		s.waitWebhook(ctx, false)
		s.logf("admission: creating %d Deployments without a webhook", half)
		r.Without.add(s.timeCreate(ctx, setControl, round*half, half))
		s.logf("admission: creating %d Deployments that carry the sidecar already, without a webhook", half)
		done := s.profileAPIServer(fmt.Sprintf("preinjected%d", round))
		r.PreInjected.add(s.timeCreatePreInjected(ctx, round*half, half))
		done()

		s.withPolicy(ctx, compiled, setPolicy, injectedNow, func() {
			s.logf("admission: creating %d Deployments through Outrigger's MutatingAdmissionPolicy, the manager stopped", half)
			done := s.profileAPIServer(fmt.Sprintf("policy%d", round))
			r.Policy.add(s.timeCreate(ctx, setPolicy, round*half, half))
			done()
		})
		s.withPolicy(ctx, floor, setFloor, markedByFloor, func() {
			s.logf("admission: creating %d Deployments through a one-operation MutatingAdmissionPolicy", half)
			done := s.profileAPIServer(fmt.Sprintf("floor%d", round))
			r.Floor.add(s.timeCreate(ctx, setFloor, round*half, half))
			done()
		})

		s.setWebhook(ctx, noop.configuration(outriggers, noop.url))
		s.waitWebhook(ctx, false)
		s.logf("admission: creating %d Deployments with a no-op webhook", half)
		r.Noop.add(s.timeCreate(ctx, setNoop, round*half, half))

		s.setWebhook(ctx, noop.configuration(outriggers, noop.fixedURL))
		s.waitWebhook(ctx, true)
		s.logf("admission: creating %d Deployments with a webhook answering a precomputed sidecar patch", half)
		r.FixedPatch.add(s.timeCreate(ctx, setFixedPatch, round*half, half))

		s.startManager(ctx)
		s.idle(ctx, 0) // it lists and reconciles what exists before the round is timed
		s.setWebhook(ctx, outriggers)
		s.waitWebhook(ctx, true)
		s.logf("admission: creating %d Deployments with Outrigger's webhook", half)
		before, err := s.mgr.Metrics()
		s.must(err)
		done = s.profileCPU(fmt.Sprintf("admission%d", round))
		r.With.add(s.timeCreate(ctx, setAdmission, round*half, half))
		done()
		after, err := s.mgr.Metrics()
		s.must(err)
		calls := map[string]string{"webhook": "/mutate-workloads"}
		s.logf("admission: the manager answered %.0f admission requests for them", after.Sum("controller_runtime_webhook_requests_total", calls)-before.Sum("controller_runtime_webhook_requests_total", calls))
	}
	r.Created = 2 * half
	r.InjectedAtCreation = s.countInjectedAtCreation(ctx, setAdmission)
	r.PolicyInjectedAtCreation = s.countInjectedAtCreation(ctx, setPolicy)
	s.cleanUpAdmission(ctx)
	return r
}

// admissionPolicy is the MutatingAdmissionPolicy of Deployments that Outrigger's manager compiles for the
// admission profile, narrowed to the policy set (the others are measured without it).
func admissionPolicy(b *testing.B) policy.Compiled {
	p := admissionProfile()
	p.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{setLabel: setPolicy}}
	in, err := policy.FromProfile(p, &p.Spec.SidecarProfileSpec)
	if err != nil {
		b.Fatal(err)
	}
	cs, err := policy.Compile(workload.Deployment, []policy.Profile{in}, policy.Options{})
	if err != nil || len(cs) != 1 {
		b.Fatalf("compiling the admission policy: %d policies, %v", len(cs), err)
	}
	return cs[0]
}

// withPolicy runs do while a policy and its binding are in place, with the warning policy compiled beside it if
// any (policy mode installs both, so both are measured): it writes them, waits until the apiserver runs the
// mutating one (the warning policy, written first, is loaded by then), and after do deletes them and waits until
// it no longer does. Dry-run creates of the set's Deployments show it; took says whether the policy changed one.
func (s *scale) withPolicy(ctx context.Context, c policy.Compiled, set string, took func(*appsv1.Deployment) bool, do func()) {
	objs := []client.Object{c.Policy, c.Binding}
	if c.Warnings.Policy != nil {
		objs = append([]client.Object{c.Warnings.Policy, c.Warnings.Binding}, objs...)
	}
	for _, o := range objs {
		s.must(s.c.Create(ctx, o.DeepCopyObject().(client.Object)))
	}
	s.waitPolicy(ctx, c.Policy.Name, set, took, true)
	do()
	for _, o := range objs {
		s.must(s.c.Delete(ctx, o.DeepCopyObject().(client.Object)))
	}
	s.waitPolicy(ctx, c.Policy.Name, set, took, false)
}

// waitPolicy waits until dry-run creates of a set's Deployments are (active) or are no longer changed by a policy.
func (s *scale) waitPolicy(ctx context.Context, name, set string, took func(*appsv1.Deployment) bool, active bool) {
	for i := range 300 {
		d := deployment(set, 90000+i, 1)
		d.Name = fmt.Sprintf("%s-probe-%v-%d", set, active, i)
		s.must(s.c.Create(ctx, d, client.DryRunAll))
		if took(d) == active {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.b.Fatalf("the policy %s did not take effect (want active=%v)", name, active)
}

func injectedNow(d *appsv1.Deployment) bool { return len(d.Spec.Template.Spec.InitContainers) > 0 }

// floorAnnotation is what the one-operation policy adds.
const floorAnnotation = "bench.outrigger.dev/floor"

func markedByFloor(d *appsv1.Deployment) bool { return d.Annotations[floorAnnotation] != "" }

// floorPolicy is the least a MutatingAdmissionPolicy can do: one JSON patch operation, a constant annotation on
// the Deployment itself, no variable and no match condition, and never reinvoked (with IfNeeded and no match
// condition to stop it, the apiserver would apply it a second time when it reinvokes the mutating plugins after
// the first mutation). What it costs over no admission at all is the apiserver's own price of mutating an object
// by policy, whatever the policy computes; Outrigger's policy is measured against it.
func floorPolicy() policy.Compiled {
	const name = "bench-floor"
	p := &admissionregistrationv1.MutatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{
			MatchConstraints: &admissionregistrationv1.MatchResources{
				ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{setLabel: setFloor}},
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"}},
				}}},
			},
			Mutations: []admissionregistrationv1.Mutation{{PatchType: admissionregistrationv1.PatchTypeJSONPatch,
				JSONPatch: &admissionregistrationv1.JSONPatch{
					Expression: `[JSONPatch{op: "add", path: "/metadata/annotations", value: {"` + floorAnnotation + `": "true"}}]`}}},
			FailurePolicy:      ptr.To(admissionregistrationv1.Fail),
			ReinvocationPolicy: admissionregistrationv1.NeverReinvocationPolicy,
		}}
	b := &admissionregistrationv1.MutatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{PolicyName: name}}
	return policy.Compiled{Policy: p, Binding: b}
}

// setWebhook replaces the mutating webhook configuration (nil: none).
func (s *scale) setWebhook(ctx context.Context, c *admissionregistrationv1.MutatingWebhookConfiguration) {
	err := s.c.Delete(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: mutatingWebhook}})
	s.must(client.IgnoreNotFound(err))
	if c != nil {
		c = c.DeepCopy()
		c.ResourceVersion, c.UID = "", ""
		s.must(s.c.Create(ctx, c))
	}
}

// timeCreatePreInjected times creating Deployments as they are after injection (as `outrigger inject` renders
// them for a GitOps repository): what storing the bigger object costs, without any webhook call.
func (s *scale) timeCreatePreInjected(ctx context.Context, from, n int) cost {
	spec := admissionProfile().Spec
	profiles := []inject.Profile{{Ref: admissionRef, Spec: &spec.SidecarProfileSpec}}
	ds := make([]*appsv1.Deployment, n)
	for i := range ds {
		ds[i] = deployment(setPreInjected, from+i, namespaces)
		res, err := inject.Inject(&ds[i].Spec.Template, profiles)
		s.must(err)
		ds[i].Spec.Template = *res.Template
	}
	return costOf(func() {
		s.must(parallel(ctx, n, createWorkers, func(ctx context.Context, i int) error { return s.c.Create(ctx, ds[i]) }))
	})
}

func (s *scale) timeCreate(ctx context.Context, set string, from, n int) cost {
	return costOf(func() {
		s.must(createWorkloads(ctx, s.c, workload.Deployment, set, from, n, namespaces, createWorkers))
	})
}

// waitObserved waits until the manager has seen a cluster profile (its status names its generation).
func (s *scale) waitObserved(ctx context.Context, name string) {
	for range 600 {
		p := &v1alpha1.ClusterSidecarProfile{}
		s.must(s.c.Get(ctx, client.ObjectKey{Name: name}, p))
		if p.Status.ObservedGeneration == p.Generation {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.b.Fatalf("the manager did not observe profile %s", name)
}

// waitWebhook waits until the apiserver calls the webhook (active) or no longer does: it creates probe
// Deployments, which a profile selects, until they come back with (or without) the sidecar.
func (s *scale) waitWebhook(ctx context.Context, active bool) {
	for i := range 300 {
		d := deployment(setAdmission, 90000+i, 1)
		d.Name = fmt.Sprintf("probe-%v-%d", active, i)
		s.must(s.c.Create(ctx, d))
		injected := len(d.Spec.Template.Spec.InitContainers) > 0
		s.must(s.c.Delete(ctx, d))
		if injected == active {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.b.Fatalf("the webhook configuration change did not take effect (want active=%v)", active)
}

// admissionRef is the profile of the admission measurement.
var admissionRef = inject.ProfileRef{Kind: inject.KindClusterSidecarProfile, Name: "bench-admission"}

// admissionProfile selects the Deployments Outrigger's webhook injects, and those created with the sidecar
// already in (pre-injected, or by the fixed-patch webhook): otherwise the reconciler would remove their sidecars
// (it removes what a profile that does not select a workload injected) while they are being created.
func admissionProfile() *v1alpha1.ClusterSidecarProfile {
	p := clusterProfile(workload.Deployment, admissionRef.Name, setAdmission)
	p.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: setLabel, Operator: metav1.LabelSelectorOpIn, Values: []string{setAdmission, setPreInjected, setFixedPatch, setPolicy}}}}
	return p
}

// countInjectedAtCreation counts a set's Deployments that have the sidecar at generation 1.
func (s *scale) countInjectedAtCreation(ctx context.Context, set string) int {
	var l appsv1.DeploymentList
	s.must(s.c.List(ctx, &l, client.MatchingLabels{setLabel: set}))
	n := 0
	for _, d := range l.Items {
		if d.Generation == 1 && len(d.Spec.Template.Spec.InitContainers) == 1 {
			n++
		}
	}
	return n
}

// cleanUpAdmission deletes what the admission measurement made, so that it weighs on nothing after.
func (s *scale) cleanUpAdmission(ctx context.Context) {
	for i := range namespaces {
		for _, set := range []string{setControl, setPreInjected, setNoop, setFixedPatch, setAdmission, setPolicy, setFloor} {
			s.must(s.c.DeleteAllOf(ctx, &appsv1.Deployment{}, client.InNamespace(namespaceName(i)), client.MatchingLabels{setLabel: set}))
		}
	}
	s.must(s.c.Delete(ctx, &v1alpha1.ClusterSidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: "bench-admission"}}))
	for range 600 {
		err := s.c.Get(ctx, client.ObjectKey{Name: "bench-admission"}, &v1alpha1.ClusterSidecarProfile{})
		if apierrors.IsNotFound(err) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.b.Fatal("profile bench-admission was not deleted (its finalizer stayed)")
}

// measureMemory fills the cluster with pods, some of them from injected Deployments (they carry Outrigger's
// label, record and sidecar statuses), and reads the manager's heap after a garbage collection, and its RSS.
func (s *scale) measureMemory(ctx context.Context) *memoryResult {
	counts := podCounts()
	total, injected := counts[0], min(counts[1], s.n)
	var l appsv1.DeploymentList
	s.must(s.c.List(ctx, &l, client.MatchingLabels{setLabel: setOutrigger}))
	s.logf("memory: creating %d pods, %d of them injected", total, injected)
	s.must(parallel(ctx, total, createWorkers, func(ctx context.Context, i int) error {
		var pod *corev1.Pod
		if i < injected {
			pod = podOf(&l.Items[i].Spec.Template, l.Items[i].Namespace, l.Items[i].Name)
		} else {
			d := deployment("plain", i, namespaces)
			pod = podOf(&d.Spec.Template, d.Namespace, d.Name)
		}
		if err := s.c.Create(ctx, pod); err != nil {
			return err
		}
		pod.Status = runningStatus(pod)
		return s.c.Status().Update(ctx, pod)
	}))
	s.idle(ctx, 0)
	resp, err := http.Get(s.mgr.PprofURL + "/debug/pprof/heap?gc=1") // collects garbage first
	s.must(err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	ms, err := s.mgr.Metrics()
	s.must(err)
	rss, err := s.mgr.RSS()
	s.must(err)
	return &memoryResult{Pods: total, InjectedPods: injected,
		HeapBytes: ms.Sum("go_memstats_heap_alloc_bytes", nil), RSSBytes: float64(rss)}
}

func podOf(t *corev1.PodTemplateSpec, namespace, owner string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: owner + "-7d4b9c-x2x5k", Namespace: namespace, Labels: t.Labels, Annotations: t.Annotations},
		Spec:       *t.Spec.DeepCopy(),
	}
}

// runningStatus is what the kubelet reports for a pod whose containers all run and are ready.
func runningStatus(pod *corev1.Pod) corev1.PodStatus {
	now := metav1.Now()
	st := corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1", StartTime: &now, QOSClass: corev1.PodQOSBurstable,
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now}}}
	running := func(c corev1.Container) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: c.Image + "@sha256:0123456789abcdef",
			ContainerID: "containerd://0123456789abcdef", Ready: true, Started: new(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}
	}
	for _, c := range pod.Spec.InitContainers {
		st.InitContainerStatuses = append(st.InitContainerStatuses, running(c))
	}
	for _, c := range pod.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, running(c))
	}
	return st
}
