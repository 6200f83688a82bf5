package mutation_test

import (
	"encoding/json"
	"strings"
	"testing"

	jsonpatchv4 "gopkg.in/evanphx/json-patch.v4"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/mutation"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

func profile(name string, mounts ...corev1.VolumeMount) inject.Profile {
	return inject.Profile{Ref: inject.ProfileRef{Kind: inject.KindSidecarProfile, Name: name}, Spec: &v1alpha1.SidecarProfileSpec{
		Selector: &metav1.LabelSelector{},
		Sidecars: []v1alpha1.Sidecar{{Container: corev1.Container{Name: name, Image: "busybox", VolumeMounts: mounts}}},
	}}
}

func deployment() *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app", Image: "app"}},
		}}},
	}
}

// A profile whose sidecar mounts a volume nobody declares is held back, with a warning naming the mount; the
// others are injected, and the patch applied to the object gives the injected template.
func TestCompute_HoldsBackAProfileThatWouldInvalidateThePod(t *testing.T) {
	d := deployment()
	m, err := mutation.Compute(workload.Deployment, d, []inject.Profile{
		profile("shipper", corev1.VolumeMount{Name: "logs", MountPath: "/logs"}), profile("proxy"),
	})
	if err != nil {
		t.Fatal(err)
	}
	shipper := inject.ProfileRef{Kind: inject.KindSidecarProfile, Name: "shipper"}
	if len(m.Held) != 1 || !strings.Contains(m.Held[shipper], `sidecar "shipper" (spec.sidecars[0].volumeMounts[0].name) mounts volume "logs"`) {
		t.Errorf("held = %v", m.Held)
	}
	if len(m.Warnings) != 1 || !strings.HasPrefix(m.Warnings[0], "Outrigger did not inject SidecarProfile/shipper: ") {
		t.Errorf("warnings = %q", m.Warnings)
	}
	if got := m.Result.Template.Spec.InitContainers; len(got) != 1 || got[0].Name != "proxy" {
		t.Errorf("init containers = %+v, want the proxy only", got)
	}
	raw, _ := json.Marshal(d)
	patch, _ := json.Marshal(m.Patch)
	p, err := jsonpatchv4.DecodePatch(patch)
	if err != nil {
		t.Fatal(err)
	}
	patched, err := p.Apply(raw)
	if err != nil {
		t.Fatal(err)
	}
	var got appsv1.Deployment
	if err := json.Unmarshal(patched, &got); err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(&got.Spec.Template, m.Result.Template) {
		t.Errorf("the patched template is not the engine's:\n%+v\n%+v", got.Spec.Template, m.Result.Template)
	}
	var want corev1.PodTemplateSpec
	if err := json.Unmarshal(m.TemplateJSON, &want); err != nil || !equality.Semantic.DeepEqual(&want, m.Result.Template) {
		t.Errorf("TemplateJSON is not the injected template (%v)", err)
	}
	if d.Spec.Template.Spec.InitContainers != nil {
		t.Error("the object was modified")
	}
}

func TestCompute_NothingToDo(t *testing.T) {
	m, err := mutation.Compute(workload.Deployment, deployment(), nil)
	if err != nil || m.Changed || m.Patch != nil || len(m.Warnings) > 0 {
		t.Errorf("mutation = %+v, %v; want no change", m, err)
	}
}
