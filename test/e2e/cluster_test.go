//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/admission/policy"
	"github.com/outrigger-dev/outrigger/internal/catalog"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// The images of the local cluster (hack/e2e/images.sh): Debian's static busybox, imported under two tags so that
// a profile can change its sidecar's image without another image.
const (
	busybox  = "busybox:local"
	busybox2 = "busybox:local2"
)

// cluster is the local e2e cluster: a controller-runtime client for objects, a clientset for container logs.
type cluster struct {
	client.WithWatch
	cs   *kubernetes.Clientset
	path string
	// admission is how Outrigger gives new workloads their sidecars there: admissionWebhook or admissionPolicy.
	admission string
}

// The admission modes of E2E_ADMISSION, which hack/e2e/up.sh installs (make test-e2e-policy sets policy).
const (
	// admissionWebhook: the mutating webhook injects (the default).
	admissionWebhook = "webhook"
	// admissionPolicy: config/components/admission-policy, the manager with --admission=policy. It compiles the
	// profiles into MutatingAdmissionPolicies that the apiserver runs itself; there is no mutating webhook.
	admissionPolicy = "policy"
)

func admissionMode() (string, error) {
	switch m := os.Getenv("E2E_ADMISSION"); m {
	case "", admissionWebhook:
		return admissionWebhook, nil
	case admissionPolicy:
		return m, nil
	default:
		return "", fmt.Errorf("E2E_ADMISSION=%q: must be %s or %s", m, admissionWebhook, admissionPolicy)
	}
}

var (
	connectOnce sync.Once
	theCluster  *cluster
	connectErr  error
)

func kubeconfigPath() string {
	if p := os.Getenv("E2E_KUBECONFIG"); p != "" {
		return p
	}
	// go test runs in the package directory, test/e2e.
	p, _ := filepath.Abs(filepath.Join("..", "..", ".e2e", "kubeconfig"))
	return p
}

// connect returns the cluster, or fails the test (never skips it) with what to do.
func connect(t *testing.T) *cluster {
	t.Helper()
	connectOnce.Do(func() { theCluster, connectErr = dial(kubeconfigPath()) })
	if connectErr != nil {
		t.Fatalf("the e2e cluster is not reachable: %v\nStart it with `make e2e-up` (make test-e2e does it for you).", connectErr)
	}
	return theCluster
}

func dial(path string) (*cluster, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var nodes corev1.NodeList
	if err := c.List(ctx, &nodes); err != nil {
		return nil, fmt.Errorf("%s (kubeconfig %s): %w", cfg.Host, path, err)
	}
	ready := 0
	for _, n := range nodes.Items {
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				ready++
			}
		}
	}
	if ready == 0 {
		return nil, fmt.Errorf("%s has no Ready node", cfg.Host)
	}
	var profiles v1alpha1.SidecarProfileList
	if err := c.List(ctx, &profiles, client.Limit(1)); err != nil {
		return nil, fmt.Errorf("Outrigger's CRDs are not installed: %w", err)
	}
	mode, err := admissionMode()
	if err != nil {
		return nil, err
	}
	if err := checkAdmission(ctx, c, mode); err != nil {
		return nil, err
	}
	return &cluster{WithWatch: c, cs: cs, path: path, admission: mode}, nil
}

// checkAdmission checks that Outrigger runs in the admission mode the tests were told, with its self-managed
// certificate in place (once it has set the caBundle of its webhook configurations: in policy mode only the
// profiles' validating one is installed).
func checkAdmission(ctx context.Context, c client.Client, mode string) error {
	mutating := &admissionregistrationv1.MutatingWebhookConfiguration{}
	err := c.Get(ctx, types.NamespacedName{Name: "outrigger-mutating-webhook-configuration"}, mutating)
	if mode == admissionPolicy {
		if err == nil {
			return errors.New("E2E_ADMISSION=policy, but Outrigger's mutating webhook configuration is installed, so the " +
				"webhook injects: reinstall Outrigger in policy mode with `make e2e-up E2E_ADMISSION=policy`")
		}
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("Outrigger's mutating webhook configuration: %w", err)
		}
		validating := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		if err := c.Get(ctx, types.NamespacedName{Name: "outrigger-validating-webhook-configuration"}, validating); err != nil {
			return fmt.Errorf("Outrigger's validating webhook configuration: %w", err)
		}
		if len(validating.Webhooks) == 0 || len(validating.Webhooks[0].ClientConfig.CABundle) == 0 {
			return errors.New("Outrigger has not set the caBundle of its validating webhook configuration: is it running?")
		}
		return nil
	}
	if apierrors.IsNotFound(err) {
		return errors.New("Outrigger has no mutating webhook configuration: is it installed in policy mode? " +
			"Set E2E_ADMISSION=policy, or reinstall it in webhook mode with `make e2e-up`")
	}
	if err != nil {
		return fmt.Errorf("Outrigger's webhook configuration: %w", err)
	}
	if len(mutating.Webhooks) == 0 || len(mutating.Webhooks[0].ClientConfig.CABundle) == 0 {
		return errors.New("Outrigger has not set the caBundle of its webhook configuration: is it running?")
	}
	// Policies left by policy mode would inject too, and hide what the webhook does (or fails to do).
	var policies admissionregistrationv1.MutatingAdmissionPolicyList
	if err := c.List(ctx, &policies, client.MatchingLabels{policy.ManagedByLabel: policy.ManagedBy}); err != nil && !meta.IsNoMatchError(err) {
		return fmt.Errorf("listing Outrigger's admission policies: %w", err)
	}
	if len(policies.Items) > 0 {
		return fmt.Errorf("in webhook mode, %d admission policies of Outrigger's policy mode are left (%s, ...): `make e2e-up` "+
			"reinstalls Outrigger in webhook mode and deletes them", len(policies.Items), policies.Items[0].Name)
	}
	return nil
}

// ---- namespaces and diagnostics ----------------------------------------------------------------------------

// namespace creates a namespace for one test, deleted when the test ends (kept with E2E_KEEP=1); when the test
// fails, what is in it is logged first.
func (k *cluster) namespace(t *testing.T, prefix string) string {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-" + prefix + "-"}}
	if err := k.Create(ctx, ns); err != nil {
		t.Fatalf("creating a namespace: %v", err)
	}
	t.Logf("namespace %s", ns.Name)
	t.Cleanup(func() {
		if t.Failed() {
			k.dump(t, ns.Name)
		}
		if os.Getenv("E2E_KEEP") == "1" {
			t.Logf("E2E_KEEP=1: namespace %s kept", ns.Name)
			return
		}
		_ = k.Delete(context.Background(), ns)
	})
	// Pods are refused until the controller-manager has made the namespace's default ServiceAccount.
	waitFor(t, 30*time.Second, "the default ServiceAccount of "+ns.Name, func(ctx context.Context) (bool, string, error) {
		err := k.Get(ctx, types.NamespacedName{Namespace: ns.Name, Name: "default"}, &corev1.ServiceAccount{})
		return err == nil, fmt.Sprint(err), nil
	})
	return ns.Name
}

// dump logs the profiles, workloads, pods and events of a namespace, for a failed test.
func (k *cluster) dump(t *testing.T, ns string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var b strings.Builder
	fmt.Fprintf(&b, "---- what namespace %s holds ----\n", ns)
	var profiles v1alpha1.SidecarProfileList
	if k.List(ctx, &profiles, client.InNamespace(ns)) == nil {
		for _, p := range profiles.Items {
			y, _ := yaml.Marshal(p.Status)
			fmt.Fprintf(&b, "SidecarProfile %s (generation %d) status:\n%s", p.Name, p.Generation, y)
		}
	}
	var deps appsv1.DeploymentList
	if k.List(ctx, &deps, client.InNamespace(ns)) == nil {
		for _, d := range deps.Items {
			fmt.Fprintf(&b, "Deployment %s: generation %d observed %d, replicas %d updated %d available %d\n", d.Name,
				d.Generation, d.Status.ObservedGeneration, d.Status.Replicas, d.Status.UpdatedReplicas, d.Status.AvailableReplicas)
		}
	}
	var pods corev1.PodList
	if k.List(ctx, &pods, client.InNamespace(ns)) == nil {
		for _, p := range pods.Items {
			fmt.Fprintf(&b, "Pod %s: phase %s, deleting %v\n", p.Name, p.Status.Phase, p.DeletionTimestamp != nil)
			for _, s := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
				st, _ := json.Marshal(s.State)
				fmt.Fprintf(&b, "  %s image %s ready %v restarts %d state %s\n", s.Name, s.Image, s.Ready, s.RestartCount, st)
			}
		}
	}
	var events corev1.EventList
	if k.List(ctx, &events, client.InNamespace(ns)) == nil {
		at := func(e *corev1.Event) time.Time {
			if !e.LastTimestamp.IsZero() {
				return e.LastTimestamp.Time
			}
			return e.EventTime.Time
		}
		sort.SliceStable(events.Items, func(i, j int) bool { return at(&events.Items[i]).Before(at(&events.Items[j])) })
		for _, e := range events.Items {
			fmt.Fprintf(&b, "event %s %s/%s %s: %s\n", at(&e).Format("15:04:05"), e.InvolvedObject.Kind,
				e.InvolvedObject.Name, e.Reason, e.Message)
		}
	}
	t.Log(b.String())
}

// ---- waiting ---------------------------------------------------------------------------------------------------

// waitFor polls cond every 200 ms until it holds, and fails the test after timeout with cond's last description
// of what it saw.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) (bool, string, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	last := ""
	for {
		ok, state, err := cond(ctx)
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		last = state
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not after %v; last seen: %s", what, timeout, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ---- profiles --------------------------------------------------------------------------------------------------

// sidecar is a busybox container running script with sh -c.
func sidecar(name, script string) v1alpha1.Sidecar {
	return v1alpha1.Sidecar{Container: corev1.Container{Name: name, Image: busybox, Command: []string{"sh", "-c", script}}}
}

// trapScript is the script of BEHAVIOUR.md's start and stop order: say it started; on SIGTERM say so, wait 3 s,
// print the name and exit 0.
func trapScript(name string) string {
	return fmt.Sprintf(`echo "%[1]s started"; trap 'echo "%[1]s got TERM"; sleep 3; echo "%[1]s"; exit 0' TERM; sleep 100000 & wait`, name)
}

// idleScript prints a line and waits for SIGTERM, on which it exits at once.
func idleScript(line string) string {
	return fmt.Sprintf(`echo "%s"; trap 'exit 0' TERM; sleep 100000 & wait`, line)
}

// createProfile creates a SidecarProfile and waits until Outrigger has seen it (status.observedGeneration) and, in
// policy mode, until the apiserver runs its policies, so that the workloads created next are injected at admission.
func (k *cluster) createProfile(t *testing.T, ns, name string, spec v1alpha1.SidecarProfileSpec) *v1alpha1.SidecarProfile {
	t.Helper()
	p := &v1alpha1.SidecarProfile{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
	if err := k.Create(context.Background(), p); err != nil {
		t.Fatalf("creating SidecarProfile %s: %v", name, err)
	}
	return k.waitObserved(t, p)
}

// waitObserved waits until Outrigger's status describes the profile's current generation and, in policy mode,
// until the apiserver gives new workloads what the profile now gives them (waitAdmits); it returns the profile.
func (k *cluster) waitObserved(t *testing.T, p *v1alpha1.SidecarProfile) *v1alpha1.SidecarProfile {
	t.Helper()
	got := &v1alpha1.SidecarProfile{}
	waitFor(t, 60*time.Second, "Outrigger to observe SidecarProfile "+p.Name, func(ctx context.Context) (bool, string, error) {
		if err := k.Get(ctx, client.ObjectKeyFromObject(p), got); err != nil {
			return false, err.Error(), nil
		}
		return got.Status.ObservedGeneration == got.Generation,
			fmt.Sprintf("generation %d, status.observedGeneration %d", got.Generation, got.Status.ObservedGeneration), nil
	})
	if k.admission == admissionPolicy {
		k.waitAdmits(t, got)
	}
	return got
}

// waitAdmits waits until the apiserver runs the profile's admission policies: until a server-side dry-run create
// of a workload of each kind the profile selects (of those a probe is made for here), labelled to match its
// selector, comes back as the profile gives new workloads now (admitted): with the sidecars and the injection
// record of that revision, or without the profile when it gives none. A policy the manager stored is not yet a
// policy the apiserver's admission runs: the apiserver reads policies through an informer and compiles them, so a
// workload created right after the profile could miss its sidecars.
func (k *cluster) waitAdmits(t *testing.T, p *v1alpha1.SidecarProfile) {
	t.Helper()
	labels, err := matchingLabels(p.Spec.Selector)
	if err != nil {
		t.Fatalf("SidecarProfile %s: no probe workload matches its selector: %v", p.Name, err)
	}
	start := time.Now()
	for _, name := range []v1alpha1.WorkloadKind{v1alpha1.KindDeployment, v1alpha1.KindJob, v1alpha1.KindCronJob,
		v1alpha1.KindStatefulSet, v1alpha1.KindDaemonSet} {
		if !p.Spec.SelectsKind(name) {
			continue
		}
		kind, _ := workload.ByName(name)
		waitFor(t, 60*time.Second, fmt.Sprintf("the apiserver to give a new %s what SidecarProfile %s gives new workloads", name, p.Name),
			func(ctx context.Context) (bool, string, error) {
				want, err := k.admitted(ctx, p, kind)
				if err != nil {
					return false, err.Error(), nil
				}
				obj, tmpl := probeWorkload(name, p.Namespace, labels)
				if err := k.Create(ctx, obj, client.DryRunAll); err != nil {
					return false, "dry-run create: " + err.Error(), nil
				}
				got, hash := sidecarNames(&tmpl.Spec), injectedHash(t, tmpl.Annotations, p.Name)
				ok := hash == want.revision
				for _, s := range want.sidecars {
					ok = ok && slices.Contains(got, s)
				}
				return ok, fmt.Sprintf("want %s; the dry-run %s has native sidecars %v and records the profile at revision %q", want, name, got, hash), nil
			})
	}
	t.Logf("the apiserver runs the policies of SidecarProfile %s %v after Outrigger observed it", p.Name,
		time.Since(start).Round(time.Millisecond))
}

// admission is what a new workload gets from a profile: the revision its injection record names ("" for none of
// the profile's sidecars) and the sidecars of that revision.
type admission struct {
	revision string
	sidecars []string
}

func (a admission) String() string {
	if a.revision == "" {
		return "no sidecars of the profile"
	}
	return fmt.Sprintf("sidecars %v at revision %s", a.sidecars, a.revision)
}

// admitted is what the policies compiled from the profile as it is now give a new workload of the kind. The
// manager compiles the spec catalog.AdmissionSpec returns, which is asked here too, so that which revision a new
// workload gets is decided in one place: the current spec's, for a new profile or a change that reaches new
// workloads at once; the stable one's while a rollout in waves has a wave left to open, as a new workload's place
// in the order is unknown at admission (revision.Unranked).
func (k *cluster) admitted(ctx context.Context, p *v1alpha1.SidecarProfile, kind workload.Kind) (admission, error) {
	now := &v1alpha1.SidecarProfile{}
	if err := k.Get(ctx, client.ObjectKeyFromObject(p), now); err != nil {
		return admission{}, err
	}
	// A SidecarProfile's revisions are kept in its own namespace: the catalog needs no RevisionNamespace.
	spec := catalog.Catalog{Reader: k.WithWatch}.AdmissionSpec(ctx, now, kind.Immutable)
	if spec == nil {
		return admission{}, nil
	}
	a := admission{revision: inject.Revision(spec)}
	for _, s := range spec.Sidecars {
		a.sidecars = append(a.sidecars, s.Name)
	}
	return a, nil
}

// matchingLabels are labels that the selector selects: its matchLabels, and for each expression a value it takes.
func matchingLabels(sel *metav1.LabelSelector) (map[string]string, error) {
	out := map[string]string{}
	if sel == nil {
		return out, nil
	}
	maps.Copy(out, sel.MatchLabels)
	for _, e := range sel.MatchExpressions {
		switch e.Operator {
		case metav1.LabelSelectorOpIn:
			if len(e.Values) > 0 {
				out[e.Key] = e.Values[0]
			}
		case metav1.LabelSelectorOpExists:
			if _, ok := out[e.Key]; !ok {
				out[e.Key] = "e2e-probe"
			}
		}
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, err
	}
	if !s.Matches(k8slabels.Set(out)) {
		return nil, fmt.Errorf("labels %v do not match selector %s", out, s)
	}
	return out, nil
}

// probeWorkload is a workload of the kind labelled labels, to dry-run create, and its pod template (where the
// response of the create lands).
func probeWorkload(kind v1alpha1.WorkloadKind, ns string, labels map[string]string) (client.Object, *corev1.PodTemplateSpec) {
	om := metav1.ObjectMeta{Namespace: ns, GenerateName: "policy-probe-", Labels: labels}
	podLabels := map[string]string{"e2e-probe": "policy"}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{app("true")}}}
	selector := &metav1.LabelSelector{MatchLabels: podLabels}
	switch kind {
	case v1alpha1.KindJob:
		tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
		j := &batchv1.Job{ObjectMeta: om, Spec: batchv1.JobSpec{Template: tmpl}}
		return j, &j.Spec.Template
	case v1alpha1.KindCronJob:
		tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
		c := &batchv1.CronJob{ObjectMeta: om, Spec: batchv1.CronJobSpec{Schedule: "0 0 1 1 *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}}}}
		return c, &c.Spec.JobTemplate.Spec.Template
	case v1alpha1.KindStatefulSet:
		s := &appsv1.StatefulSet{ObjectMeta: om, Spec: appsv1.StatefulSetSpec{Selector: selector, Template: tmpl}}
		return s, &s.Spec.Template
	case v1alpha1.KindDaemonSet:
		d := &appsv1.DaemonSet{ObjectMeta: om, Spec: appsv1.DaemonSetSpec{Selector: selector, Template: tmpl}}
		return d, &d.Spec.Template
	default:
		d := &appsv1.Deployment{ObjectMeta: om, Spec: appsv1.DeploymentSpec{Selector: selector, Template: tmpl}}
		return d, &d.Spec.Template
	}
}

func selectApp(app string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}
}

// condition returns the profile's condition of the type, or a zero one with status Unknown.
func condition(p *v1alpha1.SidecarProfile, typ string) metav1.Condition {
	if c := meta.FindStatusCondition(p.Status.Conditions, typ); c != nil {
		return *c
	}
	return metav1.Condition{Type: typ, Status: metav1.ConditionUnknown}
}

func conditionsString(p *v1alpha1.SidecarProfile) string {
	var parts []string
	for _, c := range p.Status.Conditions {
		parts = append(parts, fmt.Sprintf("%s=%s/%s (gen %d): %s", c.Type, c.Status, c.Reason, c.ObservedGeneration, c.Message))
	}
	return fmt.Sprintf("generation %d observed %d; %s; needsAttention %+v", p.Generation, p.Status.ObservedGeneration,
		strings.Join(parts, "; "), p.Status.NeedsAttention)
}

// ---- workloads and pods ----------------------------------------------------------------------------------------

// deployment is a Deployment written without sidecars: one app container, labelled app=name.
func deployment(ns, name string, replicas int32, app corev1.Container) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To[int64](30),
					Containers:                    []corev1.Container{app},
				},
			},
		},
	}
}

func app(script string) corev1.Container {
	return corev1.Container{Name: "app", Image: busybox, Command: []string{"sh", "-c", script}}
}

// initContainerNames lists a pod spec's init containers that are native sidecars.
func sidecarNames(spec *corev1.PodSpec) []string {
	var names []string
	for _, c := range spec.InitContainers {
		if ptr.Deref(c.RestartPolicy, "") == corev1.ContainerRestartPolicyAlways {
			names = append(names, c.Name)
		}
	}
	return names
}

// pods lists the pods labelled app=name; with live, only those not being deleted.
func (k *cluster) pods(ctx context.Context, ns, name string, live bool) ([]corev1.Pod, error) {
	var list corev1.PodList
	if err := k.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{"app": name}); err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if !live || p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// readyPods waits until the Deployment has n live pods, all Ready, and returns them.
func (k *cluster) readyPods(t *testing.T, ns, name string, n int) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	waitFor(t, 90*time.Second, fmt.Sprintf("%d Ready pods of %s", n, name), func(ctx context.Context) (bool, string, error) {
		var err error
		if pods, err = k.pods(ctx, ns, name, true); err != nil {
			return false, err.Error(), nil
		}
		ready := 0
		for i := range pods {
			if podReady(&pods[i]) {
				ready++
			}
		}
		return len(pods) == n && ready == n, podsState(pods, nil), nil
	})
	return pods
}

func containerStatus(p *corev1.Pod, name string) (corev1.ContainerStatus, bool) {
	for _, s := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
		if s.Name == name {
			return s, true
		}
	}
	return corev1.ContainerStatus{}, false
}

// injection is what Outrigger records on a pod template (and so on each pod) in the annotation
// sidecars.outrigger.dev/injection: per profile, its revision hash and what it added.
type injection struct {
	Profiles []struct {
		Kind           string   `json:"kind"`
		Name           string   `json:"name"`
		Hash           string   `json:"hash"`
		InitContainers []string `json:"initContainers"`
	} `json:"profiles"`
}

// injectedHash returns the revision of the SidecarProfile name recorded in the annotations, "" when none is.
func injectedHash(t *testing.T, annotations map[string]string, profile string) string {
	t.Helper()
	raw, ok := annotations[v1alpha1.InjectionAnnotation]
	if !ok {
		return ""
	}
	var rec injection
	if err := json.Unmarshal([]byte(raw), &rec); err != nil {
		t.Fatalf("annotation %s is not valid JSON: %v: %s", v1alpha1.InjectionAnnotation, err, raw)
	}
	for _, p := range rec.Profiles {
		if p.Kind == "SidecarProfile" && p.Name == profile {
			return p.Hash
		}
	}
	return ""
}

// ---- logs ------------------------------------------------------------------------------------------------------

// line is a container's log line with the time the container runtime read it (kubectl logs --timestamps).
type line struct {
	At   time.Time
	Text string
}

func (l line) String() string { return l.At.Format("15:04:05.000") + " " + l.Text }

func parseLines(r io.Reader) ([]line, error) {
	var out []line
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		ts, text, _ := strings.Cut(sc.Text(), " ")
		at, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return out, fmt.Errorf("log line without a timestamp: %q", sc.Text())
		}
		out = append(out, line{At: at, Text: text})
	}
	return out, sc.Err()
}

// logs returns a container's log lines with their timestamps; with previous, those of its previous instance.
func (k *cluster) logs(ctx context.Context, ns, pod, container string, previous bool) ([]line, error) {
	rc, err := k.cs.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: container, Timestamps: true, Previous: previous}).Stream(ctx)
	if err != nil {
		return nil, fmt.Errorf("logs of %s/%s: %w", pod, container, err)
	}
	defer rc.Close()
	return parseLines(rc)
}

// follow streams the logs of the pod's containers (from their start) until they exit, and returns a function
// that waits for the streams to end and returns the lines per container. The streams are open when it returns.
func (k *cluster) follow(t *testing.T, ns, pod string, containers ...string) func() map[string][]line {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	var wg sync.WaitGroup
	var mu sync.Mutex
	out := map[string][]line{}
	var errs []error
	for _, c := range containers {
		rc, err := k.cs.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: c, Timestamps: true, Follow: true}).Stream(ctx)
		if err != nil {
			cancel()
			t.Fatalf("following the logs of %s/%s: %v", pod, c, err)
		}
		wg.Go(func() {
			defer rc.Close()
			lines, err := parseLines(rc)
			mu.Lock()
			defer mu.Unlock()
			out[c] = lines
			if err != nil && ctx.Err() == nil {
				errs = append(errs, fmt.Errorf("%s: %w", c, err))
			}
		})
	}
	return func() map[string][]line {
		t.Helper()
		wg.Wait()
		timedOut := ctx.Err() != nil
		cancel()
		if timedOut {
			t.Fatalf("the containers of %s did not all exit in 2 minutes: %v", pod, out)
		}
		if len(errs) > 0 {
			t.Fatalf("reading the logs of %s: %v", pod, errors.Join(errs...))
		}
		return out
	}
}

// find returns the first line whose text is text.
func find(t *testing.T, lines []line, who, text string) line {
	t.Helper()
	for _, l := range lines {
		if l.Text == text {
			return l
		}
	}
	t.Fatalf("%s never logged %q; its log:\n%s", who, text, dumpLines(lines))
	return line{}
}

func dumpLines(lines []line) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("  " + l.String() + "\n")
	}
	return b.String()
}

// timeline logs the lines of several containers merged in time order, for the test's output.
func timeline(t *testing.T, byContainer map[string][]line) {
	t.Helper()
	type entry struct {
		line
		who string
	}
	var all []entry
	for who, lines := range byContainer {
		for _, l := range lines {
			all = append(all, entry{l, who})
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].At.Before(all[j].At) })
	var b strings.Builder
	for _, e := range all {
		fmt.Fprintf(&b, "  %s  %-16s %s\n", e.At.Format("15:04:05.000"), e.who, e.Text)
	}
	t.Logf("container logs, by the kubelet's timestamps:\n%s", b.String())
}

// between fails the test unless later comes after earlier by at least min and at most max.
func between(t *testing.T, what string, earlier, later line, min, max time.Duration) {
	t.Helper()
	d := later.At.Sub(earlier.At)
	if d < min || d > max {
		t.Errorf("%s: %v after %q, want between %v and %v (%s, then %s)", what, d.Round(time.Millisecond), earlier.Text, min, max, earlier, later)
	}
}

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }

func jobConditions(j *batchv1.Job) string {
	var parts []string
	for _, c := range j.Status.Conditions {
		parts = append(parts, fmt.Sprintf("%s=%s (%s)", c.Type, c.Status, c.Reason))
	}
	return fmt.Sprintf("active %d succeeded %d failed %d; conditions %v", j.Status.Active, j.Status.Succeeded, j.Status.Failed, parts)
}

// podsState describes pods in one line: name, phase, Ready, and each container's restarts and state.
func podsState(pods []corev1.Pod, err error) string {
	if err != nil {
		return err.Error()
	}
	var parts []string
	for i := range pods {
		p := &pods[i]
		s := fmt.Sprintf("%s %s ready=%v", p.Name, p.Status.Phase, podReady(p))
		for _, c := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
			state := "waiting"
			switch {
			case c.State.Running != nil:
				state = "running"
			case c.State.Terminated != nil:
				state = fmt.Sprintf("exited %d", c.State.Terminated.ExitCode)
			case c.State.Waiting != nil:
				state = c.State.Waiting.Reason
			}
			s += fmt.Sprintf(" [%s %s ready=%v restarts=%d]", c.Name, state, c.Ready, c.RestartCount)
		}
		parts = append(parts, s)
	}
	return fmt.Sprintf("%d pods: %s", len(pods), strings.Join(parts, "; "))
}
