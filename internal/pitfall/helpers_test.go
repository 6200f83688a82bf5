package pitfall

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/advice"
	"github.com/outrigger-dev/outrigger/internal/inject"
)

// logs is the profile of the test sidecars.
var logs = inject.ProfileRef{Kind: inject.KindSidecarProfile, Name: "logs"}

// injected returns a pod template with an app container "app" and the profile's sidecars, injected by the engine
// so that the template carries the real injection record.
func injected(t *testing.T, mods func(*corev1.PodSpec), sidecars ...corev1.Container) *corev1.PodTemplateSpec {
	t.Helper()
	tmpl := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}
	if mods != nil {
		mods(&tmpl.Spec)
	}
	always := corev1.ContainerRestartPolicyAlways
	spec := &v1alpha1.SidecarProfileSpec{}
	for _, s := range sidecars {
		s.RestartPolicy = &always
		if s.Image == "" {
			s.Image = "sidecar:1"
		}
		spec.Sidecars = append(spec.Sidecars, v1alpha1.Sidecar{Container: s})
	}
	res, err := inject.Inject(tmpl, []inject.Profile{{Ref: logs, Spec: spec}})
	if err != nil {
		t.Fatal(err)
	}
	return res.Template
}

func job(tmpl *corev1.PodTemplateSpec, mods ...func(*batchv1.JobSpec)) client.Object {
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "work", Namespace: "shop"}, Spec: batchv1.JobSpec{Template: *tmpl}}
	for _, m := range mods {
		m(&j.Spec)
	}
	return j
}

func cronJob(tmpl *corev1.PodTemplateSpec, mods ...func(*batchv1.JobSpec)) client.Object {
	c := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: "shop"}}
	c.Spec.JobTemplate.Spec.Template = *tmpl
	for _, m := range mods {
		m(&c.Spec.JobTemplate.Spec)
	}
	return c
}

func deployment(tmpl *corev1.PodTemplateSpec, replicas int32) client.Object {
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Template: *tmpl}}
}

// check runs Check on a workload of the kind its object is.
func check(obj client.Object, tmpl *corev1.PodTemplateSpec, ns Namespace) []advice.Advice {
	gvk := appsv1.SchemeGroupVersion.WithKind("Deployment")
	switch obj.(type) {
	case *batchv1.Job:
		gvk = batchv1.SchemeGroupVersion.WithKind("Job")
	case *batchv1.CronJob:
		gvk = batchv1.SchemeGroupVersion.WithKind("CronJob")
	}
	return Check(Input{Object: obj, GVK: gvk, Template: tmpl, Namespace: ns})
}

func resources(requests, limits corev1.ResourceList) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{Requests: requests, Limits: limits}
}

func list(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i+1 < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func never(s *corev1.PodSpec) { s.RestartPolicy = corev1.RestartPolicyNever }

// checkObj checks a workload against an empty namespace.
func checkObj(obj client.Object) []advice.Advice {
	switch o := obj.(type) {
	case *batchv1.Job:
		return check(o, &o.Spec.Template, Namespace{})
	case *batchv1.CronJob:
		return check(o, &o.Spec.JobTemplate.Spec.Template, Namespace{})
	case *appsv1.Deployment:
		return check(o, &o.Spec.Template, Namespace{})
	}
	return nil
}
