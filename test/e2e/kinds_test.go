//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// Issue 13 on a real node: StatefulSets and DaemonSets, which a profile selects only when its workloadKinds name
// them (an empty list means Deployment, Job and CronJob), get their sidecars at admission; the kubelet starts the
// sidecars before the app and stops them after it; a profile change rolls a StatefulSet through, and one with
// updateStrategy OnDelete is reported as waiting for its pods to be deleted.

var setKinds = []v1alpha1.WorkloadKind{v1alpha1.KindStatefulSet, v1alpha1.KindDaemonSet}

// statefulSet is a StatefulSet written without sidecars: one app container, labelled app=name. Its serviceName
// names no Service: the StatefulSet controller does not need one to run pods, only their DNS names would.
// Parallel pod management starts the replicas at once (it does not change how updates roll: one pod at a time).
func statefulSet(ns, name string, replicas int32, app corev1.Container) *appsv1.StatefulSet {
	labels := map[string]string{"app": name}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To(replicas),
			ServiceName:         name,
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector:            &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To[int64](1),
					Containers:                    []corev1.Container{app},
				},
			},
		},
	}
}

// daemonSet is a DaemonSet written without sidecars: one app container, labelled app=name; one pod on the node.
func daemonSet(ns, name string, app corev1.Container) *appsv1.DaemonSet {
	labels := map[string]string{"app": name}
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To[int64](1),
					Containers:                    []corev1.Container{app},
				},
			},
		},
	}
}

// dumpSets logs the namespace's StatefulSets and DaemonSets when the test fails (the shared dump lists only
// Deployments); registered after k.namespace, so it runs before the namespace goes.
func (k *cluster) dumpSets(t *testing.T, ns string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var b strings.Builder
		var sets appsv1.StatefulSetList
		if k.List(ctx, &sets, client.InNamespace(ns)) == nil {
			for _, s := range sets.Items {
				st := s.Status
				fmt.Fprintf(&b, "StatefulSet %s (%s): generation %d observed %d, replicas %d updated %d ready %d, currentRevision %s updateRevision %s\n",
					s.Name, s.Spec.UpdateStrategy.Type, s.Generation, st.ObservedGeneration, st.Replicas, st.UpdatedReplicas,
					st.ReadyReplicas, st.CurrentRevision, st.UpdateRevision)
			}
		}
		var daemons appsv1.DaemonSetList
		if k.List(ctx, &daemons, client.InNamespace(ns)) == nil {
			for _, d := range daemons.Items {
				st := d.Status
				fmt.Fprintf(&b, "DaemonSet %s: generation %d observed %d, desired %d updated %d available %d\n", d.Name,
					d.Generation, st.ObservedGeneration, st.DesiredNumberScheduled, st.UpdatedNumberScheduled, st.NumberAvailable)
			}
		}
		t.Logf("---- the sets of namespace %s ----\n%s", ns, b.String())
	})
}

// waitProfile waits until Outrigger's status describes the profile's current generation and ok holds for it;
// the profile is left as last read.
func (k *cluster) waitProfile(t *testing.T, p *v1alpha1.SidecarProfile, timeout time.Duration, what string, ok func(*v1alpha1.SidecarProfile) bool) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("SidecarProfile %s %s", p.Name, what), func(ctx context.Context) (bool, string, error) {
		if err := k.Get(ctx, client.ObjectKeyFromObject(p), p); err != nil {
			return false, err.Error(), nil
		}
		return p.Status.ObservedGeneration == p.Generation && ok(p), countsString(p) + "; " + conditionsString(p), nil
	})
}

func countsString(p *v1alpha1.SidecarProfile) string {
	s := p.Status
	return fmt.Sprintf("matched %d injected %d upToDate %d rolledOut %d healthy %d", s.Matched, s.Injected, s.UpToDate, s.RolledOut, s.Healthy)
}

// readyTrue: Ready=True, stamped with the profile's current generation.
func readyTrue(p *v1alpha1.SidecarProfile) bool {
	c := condition(p, v1alpha1.ConditionReady)
	return c.Status == metav1.ConditionTrue && c.ObservedGeneration == p.Generation
}

// attention returns the profile's needsAttention entry for the workload with the reason, if there is one.
func attention(p *v1alpha1.SidecarProfile, kind v1alpha1.WorkloadKind, name, reason string) (v1alpha1.WorkloadAttention, bool) {
	for _, a := range p.Status.NeedsAttention {
		if a.Kind == kind && a.Namespace == p.Namespace && a.Name == name && a.Reason == reason {
			return a, true
		}
	}
	return v1alpha1.WorkloadAttention{}, false
}

// sidecarImage returns the image of the pod spec's init container of that name, "" when there is none.
func sidecarImage(spec *corev1.PodSpec, name string) string {
	for _, c := range spec.InitContainers {
		if c.Name == name {
			return c.Image
		}
	}
	return ""
}

// stopAndCheck deletes the pod, with the streams of its containers' logs opened first (the logs go with the pod),
// and returns a function that waits for the containers to exit and checks from their logs that the sidecar
// (trapScript) started before the app (trapScript) and, once the app had exited, got SIGTERM and stopped ~3 s
// after it, as TestStartAndStopOrder checks it for a Deployment's pod. Several pods stop at once this way, in one
// test: their checks are called one after the other.
func (k *cluster) stopAndCheck(t *testing.T, pod *corev1.Pod, sidecarName string) func() {
	t.Helper()
	containers := []string{sidecarName, "app"}
	wait := k.follow(t, pod.Namespace, pod.Name, containers...)
	if err := k.Delete(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		logs := wait()
		t.Logf("pod %s:", pod.Name)
		timeline(t, logs)
		side, appl := logs[sidecarName], logs["app"]
		between(t, pod.Name+": the app's start", find(t, side, sidecarName, sidecarName+" started"), find(t, appl, "app", "app started"),
			time.Nanosecond, 10*time.Second)
		termApp, endApp := find(t, appl, "app", "app got TERM"), find(t, appl, "app", "app")
		term, end := find(t, side, sidecarName, sidecarName+" got TERM"), find(t, side, sidecarName, sidecarName)
		between(t, pod.Name+": the app's exit", termApp, endApp, minStopGap, trapSleep+time.Second)
		between(t, pod.Name+": "+sidecarName+"'s SIGTERM", endApp, term, time.Nanosecond, maxTermWait)
		between(t, pod.Name+": "+sidecarName+"'s name after the app's", endApp, end, minStopGap, maxStopGap)
		for _, c := range containers {
			if n := len(logs[c]); n != 3 {
				t.Errorf("%s: %s logged %d lines, want 3 (started, got TERM, its name): did it restart?", pod.Name, c, n)
			}
		}
	}
}

// A profile listing workloadKinds [StatefulSet, DaemonSet] injects a StatefulSet of 2 replicas and a DaemonSet as
// they are created, and not a Deployment it also selects; a profile with the same selector and no workloadKinds
// injects the Deployment and not the sets. In each of the sets' pods the sidecar starts before the app and stops
// after it.
func TestStatefulSetAndDaemonSetSidecarsStartFirstAndStopLast(t *testing.T) {
	t.Parallel()
	k := connect(t)
	ns := k.namespace(t, "sets")
	k.dumpSets(t, ns)
	ctx := context.Background()

	profile := k.createProfile(t, ns, "agent", v1alpha1.SidecarProfileSpec{
		Selector:      &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpExists}}},
		WorkloadKinds: setKinds,
		Sidecars:      []v1alpha1.Sidecar{sidecar("agent", trapScript("agent"))},
	})
	// The same selector with no workloadKinds: Deployment, Job and CronJob only, as before StatefulSets and
	// DaemonSets were kinds, so an upgrade of Outrigger gives the sets no sidecar nobody asked for.
	k.createProfile(t, ns, "defaults", v1alpha1.SidecarProfileSpec{
		Selector: profile.Spec.Selector,
		Sidecars: []v1alpha1.Sidecar{sidecar("default-agent", idleScript("default-agent started"))},
	})
	// The pods' grace period must outlast the app's 3 s and then the sidecar's 3 s.
	sts := statefulSet(ns, "db", 2, app(trapScript("app")))
	sts.Spec.Template.Spec.TerminationGracePeriodSeconds = ptr.To[int64](30)
	ds := daemonSet(ns, "node-agent", app(trapScript("app")))
	ds.Spec.Template.Spec.TerminationGracePeriodSeconds = ptr.To[int64](30)
	// Selected by both, a kind only the defaults list; no replica, so no pod.
	dep := deployment(ns, "web", 0, app(idleScript("app started")))
	for _, o := range []client.Object{sts, ds, dep} {
		if err := k.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for kind, spec := range map[string]*corev1.PodSpec{"StatefulSet": &sts.Spec.Template.Spec, "DaemonSet": &ds.Spec.Template.Spec} {
		if got := sidecarNames(spec); !slices.Equal(got, []string{"agent"}) {
			t.Errorf("the %s as created has native sidecars %v, want [agent]", kind, got)
		}
	}
	if got := sidecarNames(&dep.Spec.Template.Spec); !slices.Equal(got, []string{"default-agent"}) {
		t.Errorf("the Deployment as created has native sidecars %v, want [default-agent]: profile agent lists only %v", got, setKinds)
	}
	if t.Failed() {
		t.FailNow()
	}

	dbPods := k.readyPods(t, ns, sts.Name, 2)
	dsPods := k.readyPods(t, ns, ds.Name, 1)
	k.waitProfile(t, profile, 60*time.Second, "Ready with the StatefulSet and the DaemonSet rolled out and healthy", func(p *v1alpha1.SidecarProfile) bool {
		s := p.Status
		return readyTrue(p) && s.Matched == 2 && s.UpToDate == 2 && s.RolledOut == 2 && s.Healthy == 2
	})
	if len(profile.Status.NeedsAttention) > 0 {
		t.Errorf("the profile is Ready with needsAttention %+v", profile.Status.NeedsAttention)
	}

	// Both pods of the StatefulSet and the DaemonSet's, stopped at once.
	var checks []func()
	for _, pod := range append(dbPods, dsPods...) {
		checks = append(checks, k.stopAndCheck(t, &pod, "agent"))
	}
	for _, check := range checks {
		check()
	}
}

// A profile image change rolls a StatefulSet of 2 replicas through: the profile goes Reconciling, then Ready with
// the StatefulSet counted rolled out, and by then both pods run the new revision with the new image.
func TestProfileChangeRollsThroughAStatefulSet(t *testing.T) {
	t.Parallel()
	k := connect(t)
	ns := k.namespace(t, "sts-rollout")
	k.dumpSets(t, ns)
	ctx := context.Background()
	const replicas = 2

	profile := k.createProfile(t, ns, "agent", v1alpha1.SidecarProfileSpec{
		Selector: selectApp("db"), WorkloadKinds: setKinds,
		Sidecars: []v1alpha1.Sidecar{sidecar("agent", idleScript("agent started"))},
	})
	sts := statefulSet(ns, "db", replicas, app(idleScript("app started")))
	if err := k.Create(ctx, sts); err != nil {
		t.Fatal(err)
	}
	oldHash := injectedHash(t, sts.Spec.Template.Annotations, "agent")
	if oldHash == "" {
		t.Fatalf("the StatefulSet as created carries no injection of profile agent: %v", sts.Spec.Template.Annotations)
	}
	for _, p := range k.readyPods(t, ns, sts.Name, replicas) {
		if h := injectedHash(t, p.Annotations, "agent"); h != oldHash {
			t.Fatalf("pod %s has revision %q of profile agent, want %q", p.Name, h, oldHash)
		}
	}
	k.waitProfile(t, profile, 60*time.Second, "Ready with the StatefulSet rolled out", func(p *v1alpha1.SidecarProfile) bool {
		return readyTrue(p) && p.Status.RolledOut == 1
	})

	history := k.watchProfiles(t, ns)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the profile's statuses, as watched:\n%s", history)
		}
	})
	patch := client.MergeFrom(profile.DeepCopy())
	profile.Spec.Sidecars[0].Image = busybox2
	changed := time.Now()
	if err := k.Patch(ctx, profile, patch); err != nil {
		t.Fatal(err)
	}
	gen := profile.Generation
	k.waitProfile(t, profile, 3*time.Minute, "Ready for the new generation with the StatefulSet rolled out", func(p *v1alpha1.SidecarProfile) bool {
		return readyTrue(p) && p.Status.Matched == 1 && p.Status.UpToDate == 1 && p.Status.RolledOut == 1
	})
	t.Logf("profile changed -> Ready, rolled out, in %v: %s", time.Since(changed).Round(time.Millisecond), countsString(profile))

	// Right when Ready: the StatefulSet is rolled out and both of its pods run the new revision and image.
	if err := k.Get(ctx, client.ObjectKeyFromObject(sts), sts); err != nil {
		t.Fatal(err)
	}
	newHash := injectedHash(t, sts.Spec.Template.Annotations, "agent")
	if newHash == "" || newHash == oldHash {
		t.Fatalf("the StatefulSet's template carries revision %q of profile agent after the change, want a new one (was %q)", newHash, oldHash)
	}
	if st := sts.Status; st.ObservedGeneration < sts.Generation || st.UpdatedReplicas != replicas || st.ReadyReplicas != replicas ||
		st.CurrentRevision != st.UpdateRevision {
		t.Errorf("profile Ready but the StatefulSet is not rolled out: %+v", st)
	}
	pods, err := k.pods(ctx, ns, sts.Name, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) != replicas {
		t.Errorf("profile Ready with %d live pods, want %d: %s", len(pods), replicas, podsState(pods, nil))
	}
	for _, p := range pods {
		if h := injectedHash(t, p.Annotations, "agent"); h != newHash {
			t.Errorf("profile Ready but pod %s has revision %q, want %q", p.Name, h, newHash)
		}
		if rev := p.Labels[appsv1.ControllerRevisionHashLabelKey]; rev != sts.Status.UpdateRevision {
			t.Errorf("pod %s is at StatefulSet revision %s, want %s", p.Name, rev, sts.Status.UpdateRevision)
		}
		// The spec, not the status: both tags are one image, which the runtime reports by its first tag.
		image := sidecarImage(&p.Spec, "agent")
		if s, ok := containerStatus(&p, "agent"); !ok || !s.Ready || image != busybox2 {
			t.Errorf("pod %s: agent ready %v with image %q, want ready with %s", p.Name, s.Ready, image, busybox2)
		}
	}
	// On the way: Reconciling=True for the new generation, before Ready.
	readyIndex, _ := history.first(func(s profileState) bool {
		return s.observedGeneration == gen && s.ready.Status == metav1.ConditionTrue && s.ready.ObservedGeneration == gen
	})
	reconciling, _ := history.first(func(s profileState) bool {
		return s.observedGeneration == gen && s.reconciling.Status == metav1.ConditionTrue
	})
	if reconciling < 0 || (readyIndex >= 0 && reconciling > readyIndex) {
		t.Errorf("the profile was never Reconciling for generation %d before Ready; history:\n%s", gen, history)
	}
}

// A StatefulSet with updateStrategy OnDelete gets the changed profile's sidecars in its template, but its pods
// keep the old ones until they are deleted: the profile reports it as waiting for its pods to be deleted (with the
// command), counts it up to date but not rolled out, and is not held Reconciling for it. Once its pods are deleted,
// it is rolled out.
func TestOnDeleteStatefulSetIsReportedWaitingForPodDeletion(t *testing.T) {
	t.Parallel()
	k := connect(t)
	ns := k.namespace(t, "ondelete")
	k.dumpSets(t, ns)
	ctx := context.Background()
	const replicas = 2

	profile := k.createProfile(t, ns, "agent", v1alpha1.SidecarProfileSpec{
		Selector: selectApp("db"), WorkloadKinds: setKinds,
		Sidecars: []v1alpha1.Sidecar{sidecar("agent", idleScript("agent started"))},
	})
	sts := statefulSet(ns, "db", replicas, app(idleScript("app started")))
	sts.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	if err := k.Create(ctx, sts); err != nil {
		t.Fatal(err)
	}
	oldHash := injectedHash(t, sts.Spec.Template.Annotations, "agent")
	if oldHash == "" {
		t.Fatalf("the StatefulSet as created carries no injection of profile agent: %v", sts.Spec.Template.Annotations)
	}
	k.readyPods(t, ns, sts.Name, replicas)
	k.waitProfile(t, profile, 60*time.Second, "Ready with the StatefulSet rolled out", func(p *v1alpha1.SidecarProfile) bool {
		return readyTrue(p) && p.Status.RolledOut == 1
	})

	patch := client.MergeFrom(profile.DeepCopy())
	profile.Spec.Sidecars[0].Image = busybox2
	if err := k.Patch(ctx, profile, patch); err != nil {
		t.Fatal(err)
	}
	var entry v1alpha1.WorkloadAttention
	k.waitProfile(t, profile, 2*time.Minute, "reporting the StatefulSet waiting for its pods to be deleted", func(p *v1alpha1.SidecarProfile) bool {
		var ok bool
		entry, ok = attention(p, v1alpha1.KindStatefulSet, sts.Name, v1alpha1.ReasonWaitingForPodDeletion)
		return ok
	})
	t.Logf("SidecarProfile agent: %s; %s", countsString(profile), conditionsString(profile))
	if s := profile.Status; s.Matched != 1 || s.UpToDate != 1 || s.RolledOut != 0 {
		t.Errorf("waiting for pod deletion: %s, want matched 1, upToDate 1, rolledOut 0", countsString(profile))
	}
	if c := condition(profile, v1alpha1.ConditionReconciling); c.Status != metav1.ConditionFalse {
		t.Errorf("Reconciling=%s/%s while the StatefulSet waits for its pods to be deleted, want False: %s", c.Status, c.Reason, c.Message)
	}
	if want := fmt.Sprintf("kubectl -n %s delete pod %s-1", ns, sts.Name); !strings.Contains(entry.Message, want) {
		t.Errorf("the needsAttention entry does not give the command %q: %+v", want, entry)
	}
	// The StatefulSet's template carries the new revision; its pods, untouched, the old one.
	if err := k.Get(ctx, client.ObjectKeyFromObject(sts), sts); err != nil {
		t.Fatal(err)
	}
	newHash := injectedHash(t, sts.Spec.Template.Annotations, "agent")
	if newHash == "" || newHash == oldHash {
		t.Fatalf("the StatefulSet's template carries revision %q of profile agent after the change, want a new one (was %q)", newHash, oldHash)
	}
	pods, err := k.pods(ctx, ns, sts.Name, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		if h := injectedHash(t, p.Annotations, "agent"); h != oldHash {
			t.Errorf("pod %s has revision %q with updateStrategy OnDelete and no pod deleted, want the old %q", p.Name, h, oldHash)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// What the message says to do. Deleted together (the message says one at a time, for a database's sake), the
	// pods come back with the new sidecar, and the StatefulSet then counts as rolled out. (This cluster's
	// StatefulSet controller then sets status.currentRevision to updateRevision for OnDelete too; 1.29's does not:
	// kubernetes/kubernetes#73492, fixed by #136833.)
	for i := range replicas {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s-%d", sts.Name, i)}}
		if err := k.Delete(ctx, pod); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 90*time.Second, "both pods replaced, Ready, with the new revision", func(ctx context.Context) (bool, string, error) {
		pods, err := k.pods(ctx, ns, sts.Name, true)
		if err != nil {
			return false, err.Error(), nil
		}
		n := 0
		for _, p := range pods {
			if podReady(&p) && injectedHash(t, p.Annotations, "agent") == newHash {
				n++
			}
		}
		return n == replicas, podsState(pods, nil), nil
	})
	k.waitProfile(t, profile, 60*time.Second, "Ready with the StatefulSet rolled out, needing no attention", func(p *v1alpha1.SidecarProfile) bool {
		return readyTrue(p) && p.Status.RolledOut == 1 && len(p.Status.NeedsAttention) == 0
	})
	for _, p := range k.readyPods(t, ns, sts.Name, replicas) {
		if image := sidecarImage(&p.Spec, "agent"); image != busybox2 {
			t.Errorf("pod %s runs agent with image %q, want %s", p.Name, image, busybox2)
		}
	}
}
