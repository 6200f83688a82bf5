package pitfall

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
)

// Only Outrigger's sidecars are judged, each piece of advice names the profile that injected the sidecar, and
// Profiles limits the advice to the profiles asked about.
func TestPitfalls_JudgeOnlyTheSidecarsOfTheProfilesAsked(t *testing.T) {
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
	always := corev1.ContainerRestartPolicyAlways
	tmpl := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
		Containers:     []corev1.Container{{Name: "app", Image: "app:1"}},
		InitContainers: []corev1.Container{{Name: "own", Image: "own:1", RestartPolicy: &always, StartupProbe: probe}}}}
	mesh := inject.ProfileRef{Kind: inject.KindClusterSidecarProfile, Name: "mesh"}
	spec := func(name string) *v1alpha1.SidecarProfileSpec {
		return &v1alpha1.SidecarProfileSpec{Sidecars: []v1alpha1.Sidecar{{Container: corev1.Container{Name: name, Image: "x:1",
			RestartPolicy: &always, StartupProbe: probe}}}}
	}
	res, err := inject.Inject(tmpl, []inject.Profile{{Ref: logs, Spec: spec("shipper")}, {Ref: mesh, Spec: spec("proxy")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		profiles []inject.ProfileRef
		want     []string // profile/sidecar
	}{
		{"every profile of the record", nil, []string{"ClusterSidecarProfile/mesh/proxy", "SidecarProfile/logs/shipper"}},
		{"one profile", []inject.ProfileRef{logs}, []string{"SidecarProfile/logs/shipper"}},
		{"a profile the workload does not carry", []inject.ProfileRef{{Kind: inject.KindSidecarProfile, Name: "other"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, a := range Check(Input{Object: job(res.Template), Template: res.Template, Profiles: tc.profiles}) {
				got = append(got, a.Profile.String()+"/"+a.Sidecar)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("advice about %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("advice about %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestPitfalls_NoAdviceWithoutARecord(t *testing.T) {
	tmpl := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To[int64](0),
		Containers: []corev1.Container{{Name: "app"}}}}
	if got := Check(Input{Object: job(tmpl), Template: tmpl}); len(got) != 0 {
		t.Errorf("advice on a template Outrigger did not inject: %+v", got)
	}
	if got := Check(Input{Object: job(tmpl)}); len(got) != 0 {
		t.Errorf("advice without a template: %+v", got)
	}
}
