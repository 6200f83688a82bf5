package admission

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/admission/policy"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/inject/injectcases"
	"github.com/outrigger-dev/outrigger/internal/selection"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// TestPoliciesStoreWhatTheEngineStores: every case is created once through the compiled policies and once
// pre-injected by the engine (what the webhook admits); the stored pod templates must be identical. The engine's
// own cases are checked together, so that the apiserver loads their policies once.
func TestPoliciesStoreWhatTheEngineStores(t *testing.T) {
	runs.Add(1)
	t.Cleanup(func() { deletePolicies(t) })
	cases := append(tableCases(), goldenCases(t)...)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { checkTogether(t, []equivalence{tc}, i) })
	}
	t.Run("engine cases", func(t *testing.T) { checkTogether(t, engineCases(), len(cases)) })
}

// engineCases are the engine's own cases (internal/inject/injectcases), as workloads of every kind served here (a
// case with claim templates as a StatefulSet only). They share a namespace, and so a policy of each kind, which
// holds every case's profiles: each selects the workloads of its case by the label engine-case.
func engineCases() []equivalence {
	const ns = "engine-cases"
	var out []equivalence
	for i, c := range injectcases.All() {
		label := map[string]string{"engine-case": fmt.Sprint(i)}
		var profiles []selection.Profile
		for _, p := range c.Profiles {
			profiles = append(profiles, asProfile(p, ns, label))
		}
		for _, kind := range served {
			if len(c.ClaimTemplates) > 0 && kind.Name != v1alpha1.KindStatefulSet {
				continue
			}
			obj := workloadOf(kind, ns, *c.Template, c.ClaimTemplates...)
			obj.SetLabels(label)
			obj.SetAnnotations(c.Annotations)
			out = append(out, equivalence{name: c.Name + "/" + string(kind.Name), profiles: profiles, obj: obj})
		}
	}
	return out
}

// asProfile is an engine case's profile as the cluster has it: a SidecarProfile in ns, selecting the workloads
// of every kind served here that have the labels.
func asProfile(p inject.Profile, ns string, labels map[string]string) selection.Profile {
	s := p.Spec.DeepCopy()
	s.Selector = &metav1.LabelSelector{MatchLabels: labels}
	s.WorkloadKinds = served.Names()
	if p.Ref.Kind == inject.KindSidecarProfile {
		return &v1alpha1.SidecarProfile{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: p.Ref.Name}, Spec: *s}
	}
	return &v1alpha1.ClusterSidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: p.Ref.Name}, Spec: v1alpha1.ClusterSidecarProfileSpec{SidecarProfileSpec: *s}}
}

// goldenCases are the CLI's golden manifests and profiles, and the seed example.
func goldenCases(t *testing.T) []equivalence {
	var out []equivalence
	for _, dir := range []string{"gitops", "kinds"} {
		base := filepath.Join("..", "..", "cmd", "outrigger", "testdata", dir)
		var profiles []selection.Profile
		for _, o := range readManifests(t, filepath.Join(base, "profiles")) {
			profiles = append(profiles, o.(selection.Profile))
		}
		nsLabels := map[string]map[string]string{}
		objs := readManifests(t, filepath.Join(base, "manifests"))
		for _, o := range objs {
			if ns, ok := o.(*corev1.Namespace); ok {
				nsLabels[ns.Name] = ns.Labels
			}
		}
		for _, o := range objs {
			if _, ok := o.(*corev1.Namespace); ok {
				continue
			}
			if _, ok := o.(*corev1.ConfigMap); ok {
				continue
			}
			if o.GetNamespace() == "" {
				o.SetNamespace("default")
			}
			out = append(out, equivalence{name: dir + "/" + o.GetName(), profiles: profiles, obj: o, nsLabels: nsLabels[o.GetNamespace()]})
		}
	}
	seedProfile := readManifests(t, filepath.Join("..", "..", "cmd", "outrigger", "testdata"))[0].(selection.Profile)
	seedProfile.SetNamespace("seed")
	for _, o := range readManifests(t, filepath.Join("..", "testdata", "seed")) {
		if o.GetName() != "" && (filepath.Base(o.GetName()) != "") {
			o.SetNamespace("seed")
			if isPlain(o) {
				out = append(out, equivalence{name: "seed/" + o.GetObjectKind().GroupVersionKind().Kind, profiles: []selection.Profile{seedProfile}, obj: o})
			}
		}
	}
	return out
}

// isPlain: a seed workload before Outrigger (the seed also holds the hand-written injected ones).
func isPlain(o client.Object) bool {
	tmpl := kindOfObject(o).Template(o)
	return len(tmpl.Spec.InitContainers) == 0
}

// tableCases are the rules of admission beyond the engine's own cases (engineCases), one at a time: a mount path
// two profiles share, sidecars held back for a volume the pod lacks, selection (namespaces, selectors, opt-out,
// workloadKinds, updatePolicy) and every field of a container.
func tableCases() []equivalence {
	const ns = "cases"
	return []equivalence{
		{name: "a shared mount path in a container both target", obj: deployment(ns, withApp("second")),
			profiles: []selection.Profile{
				local(ns, "first", sidecars("a"), volumes("va"), mounts("va", "/shared", "app")),
				local(ns, "second", sidecars("b"), volumes("vb"), mounts("vb", "/shared", "second"), order(1)),
				local(ns, "third", sidecars("c"), volumes("vc"), mounts("vc", "/shared"), order(2)),
			}},
		{name: "a sidecar mounting a volume nobody declares is held back", obj: deployment(ns),
			profiles: []selection.Profile{local(ns, "broken", sidecars("ship"), sidecarMount("missing", "/m")), local(ns, "fine", sidecars("fine"))}},
		{name: "a sidecar mounting the workload's own volume", obj: deployment(ns, withVolume("data")),
			profiles: []selection.Profile{local(ns, "reader", sidecars("read"), sidecarMount("data", "/data"))}},
		{name: "a sidecar mounting another profile's volume, which is placed", obj: deployment(ns),
			profiles: []selection.Profile{local(ns, "owner", sidecars("own"), volumes("shared")), local(ns, "borrower", sidecars("borrow"), sidecarMount("shared", "/s"), order(1))}},
		{name: "a sidecar mounting another profile's volume, which conflicts", obj: deployment(ns, withInit("own")),
			profiles: []selection.Profile{local(ns, "owner", sidecars("own"), volumes("shared")), local(ns, "borrower", sidecars("borrow"), sidecarMount("shared", "/s"), order(1))}},
		{name: "SidecarProfiles of one name in two namespaces", obj: deployment(ns),
			profiles: []selection.Profile{local(ns, "logs", sidecars("mine")), local("elsewhere", "logs", sidecars("theirs"))}},
		{name: "selectors: matchExpressions", obj: deployment(ns, withLabels(map[string]string{"app": "web", "tier": "front"})),
			profiles: []selection.Profile{
				local(ns, "in", sidecars("in"), selector(expr("app", metav1.LabelSelectorOpIn, "web", "api"), expr("tier", metav1.LabelSelectorOpExists))),
				local(ns, "notin", sidecars("notin"), selector(expr("app", metav1.LabelSelectorOpNotIn, "web"))),
				local(ns, "absent", sidecars("absent"), selector(expr("gone", metav1.LabelSelectorOpDoesNotExist), expr("gone2", metav1.LabelSelectorOpNotIn, "x"))),
				local(ns, "labels", sidecars("labels"), matchLabels("tier", "back")),
			}},
		{name: "namespace selectors of cluster profiles", obj: deployment("team-a"), nsLabels: map[string]string{"team": "a"},
			profiles: []selection.Profile{
				cluster("team-a", sidecars("a"), namespaceSelector("team", "a")),
				cluster("team-b", sidecars("b"), namespaceSelector("team", "b")),
				local("other", "elsewhere", sidecars("c")),
			}},
		{name: "opted out", obj: deployment(ns, withLabels(map[string]string{v1alpha1.InjectLabel: v1alpha1.InjectDisabled})),
			profiles: []selection.Profile{local(ns, "p", sidecars("s"))}},
		{name: "workloadKinds", obj: deployment(ns), profiles: []selection.Profile{local(ns, "jobs", sidecars("s"), kinds(v1alpha1.KindJob))}},
		{name: "a full container: ports, probes, env, resources, security", obj: deployment(ns),
			profiles: []selection.Profile{local(ns, "proxy", fullSidecar())}},
		{name: "updatePolicy OnCreate", obj: deployment(ns), profiles: []selection.Profile{local(ns, "once", sidecars("s"), onCreate())}},
	}
}

// Workloads.

// workloadOf is a workload of the kind, w in ns, labelled app=w, with the pod template given and what the kind
// needs beside it: a selector of the template's labels (app=w, for a template without any), a StatefulSet's claim
// templates, restartPolicy Never for a Job's pods and a CronJob's schedule.
func workloadOf(kind workload.Kind, ns string, tmpl corev1.PodTemplateSpec, claims ...string) client.Object {
	meta := metav1.ObjectMeta{Namespace: ns, Name: "w", Labels: map[string]string{"app": "w"}}
	tmpl = *tmpl.DeepCopy()
	switch kind.Name {
	case v1alpha1.KindJob:
		tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
		return &batchv1.Job{ObjectMeta: meta, Spec: batchv1.JobSpec{Template: tmpl}}
	case v1alpha1.KindCronJob:
		tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
		return &batchv1.CronJob{ObjectMeta: meta, Spec: batchv1.CronJobSpec{Schedule: "*/5 * * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}}}}
	}
	if len(tmpl.Labels) == 0 {
		tmpl.Labels = map[string]string{"app": "w"}
	}
	selector := &metav1.LabelSelector{MatchLabels: tmpl.Labels}
	switch kind.Name {
	case v1alpha1.KindDeployment:
		return &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Selector: selector, Template: tmpl}}
	case v1alpha1.KindDaemonSet:
		return &appsv1.DaemonSet{ObjectMeta: meta, Spec: appsv1.DaemonSetSpec{Selector: selector, Template: tmpl}}
	case v1alpha1.KindStatefulSet:
		return &appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{Selector: selector, Template: tmpl,
			VolumeClaimTemplates: claimTemplates(claims)}}
	}
	return unstructuredWorkload(kind, meta, tmpl, selector)
}

// unstructuredWorkload is a workload of a kind read as unstructured, with the kind's own fields beside its
// template, which the policies must leave as they are: an Argo Rollout's strategy, a Widget's size and a Lambda's
// runtime.
func unstructuredWorkload(kind workload.Kind, meta metav1.ObjectMeta, tmpl corev1.PodTemplateSpec, selector *metav1.LabelSelector) client.Object {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetGroupVersionKind(kind.GVK)
	u.SetNamespace(meta.Namespace)
	u.SetName(meta.Name)
	u.SetLabels(meta.Labels)
	set := func(value any, fields ...string) {
		if err := unstructured.SetNestedField(u.Object, value, fields...); err != nil {
			panic(err)
		}
	}
	set(jsonOf(&tmpl), fieldsOf(kind.TemplatePath)...)
	own := map[v1alpha1.WorkloadKind]struct {
		selector []string
		field    []string
		value    any
	}{
		v1alpha1.KindRollout: {[]string{"spec", "selector"}, []string{"spec", "strategy"},
			map[string]any{"canary": map[string]any{"steps": []any{map[string]any{"pause": map[string]any{}}}}}},
		"Widget": {[]string{"spec", "runner", "selector"}, []string{"spec", "size"}, int64(3)},
		"Lambda": {[]string{"spec", "function", "selector"}, []string{"spec", "function", "runtime"}, "go"},
	}[kind.Name]
	set(jsonOf(selector), own.selector...)
	set(own.value, own.field...)
	return u
}

// jsonOf is v as its Go type encodes it, as a client sends it.
func jsonOf(v any) map[string]any {
	out, err := runtime.DefaultUnstructuredConverter.ToUnstructured(v)
	if err != nil {
		panic(err)
	}
	return out
}

// fieldsOf is a JSON pointer's path of fields.
func fieldsOf(pointer string) []string {
	return strings.Split(strings.TrimPrefix(pointer, "/"), "/")
}

func claimTemplates(names []string) []corev1.PersistentVolumeClaim {
	var out []corev1.PersistentVolumeClaim
	for _, n := range names {
		out = append(out, corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: n},
			Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}})
	}
	return out
}

type podMod func(*corev1.PodTemplateSpec, *metav1.ObjectMeta)

func baseTemplate(mods ...podMod) (corev1.PodTemplateSpec, metav1.ObjectMeta) {
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "w"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}
	meta := metav1.ObjectMeta{Labels: map[string]string{"app": "w"}}
	for _, m := range mods {
		m(&tmpl, &meta)
	}
	return tmpl, meta
}

func deployment(ns string, mods ...podMod) client.Object {
	tmpl, meta := baseTemplate(mods...)
	obj := workloadOf(workload.Deployment, ns, tmpl)
	obj.SetLabels(meta.Labels)
	return obj
}

// jobTemplate is a Job's pod template, without labels.
func jobTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}
}

func job(ns string) client.Object { return workloadOf(workload.Job, ns, jobTemplate()) }

func cronJob(ns string) client.Object { return workloadOf(workload.CronJob, ns, jobTemplate()) }

func withInit(name string) podMod {
	return func(t *corev1.PodTemplateSpec, _ *metav1.ObjectMeta) {
		t.Spec.InitContainers = append(t.Spec.InitContainers, corev1.Container{Name: name, Image: "init:1"})
	}
}

func withApp(name string) podMod {
	return func(t *corev1.PodTemplateSpec, _ *metav1.ObjectMeta) {
		t.Spec.Containers = append(t.Spec.Containers, corev1.Container{Name: name, Image: "app:1"})
	}
}

func withVolume(name string) podMod {
	return func(t *corev1.PodTemplateSpec, _ *metav1.ObjectMeta) {
		t.Spec.Volumes = append(t.Spec.Volumes, injectcases.EmptyDir(name))
	}
}

func withLabels(labels map[string]string) podMod {
	return func(_ *corev1.PodTemplateSpec, m *metav1.ObjectMeta) {
		for k, v := range labels {
			m.Labels[k] = v
		}
	}
}

// Profiles.

type specMod func(*v1alpha1.SidecarProfileSpec)

func spec(mods ...specMod) v1alpha1.SidecarProfileSpec {
	s := v1alpha1.SidecarProfileSpec{Selector: &metav1.LabelSelector{}}
	for _, m := range mods {
		m(&s)
	}
	return s
}

func local(ns, name string, mods ...specMod) selection.Profile {
	return &v1alpha1.SidecarProfile{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec(mods...)}
}

func cluster(name string, mods ...specMod) selection.Profile {
	p := &v1alpha1.ClusterSidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: name}}
	p.Spec.SidecarProfileSpec = spec(mods...)
	if p.Spec.Selector != nil && p.Spec.Selector.MatchLabels["ns-selector"] != "" {
		p.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{p.Spec.Selector.MatchLabels["ns-key"]: p.Spec.Selector.MatchLabels["ns-selector"]}}
		p.Spec.Selector = &metav1.LabelSelector{}
	}
	return p
}

func sidecars(names ...string) specMod {
	return func(s *v1alpha1.SidecarProfileSpec) {
		for _, n := range names {
			s.Sidecars = append(s.Sidecars, v1alpha1.Sidecar{Container: corev1.Container{Name: n, Image: "sidecar:1"}})
		}
	}
}

func volumes(names ...string) specMod {
	return func(s *v1alpha1.SidecarProfileSpec) {
		for _, n := range names {
			s.Volumes = append(s.Volumes, v1alpha1.ProfileVolume{Volume: injectcases.EmptyDir(n)})
		}
	}
}

func mounts(volume, path string, containers ...string) specMod {
	return func(s *v1alpha1.SidecarProfileSpec) {
		s.AppContainerMounts = append(s.AppContainerMounts, v1alpha1.AppContainerMount{Name: volume, MountPath: path, Containers: containers})
	}
}

// sidecarMount mounts a volume into the profile's last sidecar.
func sidecarMount(volume, path string) specMod {
	return func(s *v1alpha1.SidecarProfileSpec) {
		last := &s.Sidecars[len(s.Sidecars)-1]
		last.VolumeMounts = append(last.VolumeMounts, corev1.VolumeMount{Name: volume, MountPath: path})
	}
}

func order(o int32) specMod { return func(s *v1alpha1.SidecarProfileSpec) { s.Order = o } }

func onCreate() specMod {
	return func(s *v1alpha1.SidecarProfileSpec) { s.UpdatePolicy = v1alpha1.UpdatePolicyOnCreate }
}

func kinds(ks ...v1alpha1.WorkloadKind) specMod {
	return func(s *v1alpha1.SidecarProfileSpec) { s.WorkloadKinds = ks }
}

func expr(key string, op metav1.LabelSelectorOperator, values ...string) metav1.LabelSelectorRequirement {
	return metav1.LabelSelectorRequirement{Key: key, Operator: op, Values: values}
}

func selector(reqs ...metav1.LabelSelectorRequirement) specMod {
	return func(s *v1alpha1.SidecarProfileSpec) { s.Selector = &metav1.LabelSelector{MatchExpressions: reqs} }
}

func matchLabels(k, v string) specMod {
	return func(s *v1alpha1.SidecarProfileSpec) {
		s.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{k: v}}
	}
}

// namespaceSelector marks the selector for cluster() to turn into a namespaceSelector.
func namespaceSelector(k, v string) specMod {
	return func(s *v1alpha1.SidecarProfileSpec) {
		s.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"ns-key": k, "ns-selector": v}}
	}
}

func fullSidecar() specMod {
	return func(s *v1alpha1.SidecarProfileSpec) {
		uid := int64(1000)
		s.Sidecars = append(s.Sidecars, v1alpha1.Sidecar{Container: corev1.Container{
			Name: "proxy", Image: "envoy:1.30", Args: []string{"--config", "/etc/envoy.yaml", "--log-level", "info"},
			Ports: []corev1.ContainerPort{{Name: "admin", ContainerPort: 9901}, {ContainerPort: 15001, Protocol: corev1.ProtocolTCP}},
			Env: []corev1.EnvVar{{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
				{Name: "QUOTE", Value: "say \"hi\" \\ to <everyone> & 'all'\n"}},
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
				Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")}},
			StartupProbe:   &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(15001)}}, PeriodSeconds: 1, FailureThreshold: 30},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromString("admin")}}},
			SecurityContext: &corev1.SecurityContext{RunAsUser: &uid, RunAsNonRoot: ptrTo(true), ReadOnlyRootFilesystem: ptrTo(true),
				Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
		}})
	}
}

func ptrTo[T any](v T) *T { return &v }

// deletePolicies deletes every policy and binding the test wrote.
func deletePolicies(t *testing.T) {
	ctx := context.Background()
	mine := client.MatchingLabels{policy.ManagedByLabel: policy.ManagedBy}
	for _, obj := range []client.Object{&admissionregistrationv1.MutatingAdmissionPolicy{}, &admissionregistrationv1.MutatingAdmissionPolicyBinding{}} {
		if err := k8s.DeleteAllOf(ctx, obj, mine); err != nil {
			t.Errorf("deleting the test's policies: %v", err)
		}
	}
}
