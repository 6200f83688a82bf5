package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// Every validation rule of the CRD: the apiserver refuses the profile with a message that names the field.
func TestValidation_InvalidProfilesAreRefusedNamingTheField(t *testing.T) {
	ns := newNamespace(t, nil)
	sidecar := func(name string) v1alpha1.Sidecar {
		return v1alpha1.Sidecar{Container: corev1.Container{Name: name, Image: "busybox:local"}}
	}
	volume := func(name string) v1alpha1.ProfileVolume {
		return v1alpha1.ProfileVolume{Volume: corev1.Volume{Name: name,
			VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	}
	many := func(n int, make func(i int) v1alpha1.Sidecar) []v1alpha1.Sidecar {
		var out []v1alpha1.Sidecar
		for i := 0; i < n; i++ {
			out = append(out, make(i))
		}
		return out
	}
	always, onFailure := corev1.ContainerRestartPolicyAlways, corev1.ContainerRestartPolicy("OnFailure")

	for _, tc := range []struct {
		name   string
		mutate func(*v1alpha1.SidecarProfileSpec)
		want   []string // substrings of the apiserver's message
	}{
		{"selector missing", func(s *v1alpha1.SidecarProfileSpec) { s.Selector = nil },
			[]string{"spec.selector", "Required value"}},
		{"no sidecars", func(s *v1alpha1.SidecarProfileSpec) { s.Sidecars = nil },
			[]string{"spec.sidecars", "Required value"}},
		{"empty sidecar list", func(s *v1alpha1.SidecarProfileSpec) { s.Sidecars = []v1alpha1.Sidecar{} },
			[]string{"spec.sidecars", "at least 1 items"}},
		{"too many sidecars", func(s *v1alpha1.SidecarProfileSpec) {
			s.Sidecars = many(11, func(i int) v1alpha1.Sidecar { return sidecar(fmt.Sprintf("s%d", i)) })
		}, []string{"spec.sidecars", "at most 10 items"}},
		{"duplicate sidecar names", func(s *v1alpha1.SidecarProfileSpec) {
			s.Sidecars = []v1alpha1.Sidecar{sidecar("proxy"), sidecar("proxy")}
		}, []string{"spec.sidecars[1]", "Duplicate value"}},
		{"sidecar name not a DNS label", func(s *v1alpha1.SidecarProfileSpec) {
			s.Sidecars = []v1alpha1.Sidecar{sidecar("Log_Shipper")}
		}, []string{"spec.sidecars[0]", "name must be a DNS label"}},
		{"sidecar name ending in a dash", func(s *v1alpha1.SidecarProfileSpec) {
			s.Sidecars = []v1alpha1.Sidecar{sidecar("proxy-")}
		}, []string{"spec.sidecars[0]", "name must be a DNS label"}},
		{"sidecar name longer than 63", func(s *v1alpha1.SidecarProfileSpec) {
			s.Sidecars = []v1alpha1.Sidecar{sidecar(strings.Repeat("a", 64))}
		}, []string{"spec.sidecars[0]", "name must be a DNS label"}},
		{"sidecar restartPolicy other than Always", func(s *v1alpha1.SidecarProfileSpec) {
			c := sidecar("proxy")
			c.RestartPolicy = &onFailure
			s.Sidecars = []v1alpha1.Sidecar{sidecar("ok"), c}
		}, []string{"spec.sidecars[1]", "restartPolicy must be left out or set to Always"}},
		{"duplicate volume names", func(s *v1alpha1.SidecarProfileSpec) {
			s.Volumes = []v1alpha1.ProfileVolume{volume("data"), volume("data")}
		}, []string{"spec.volumes[1]", "Duplicate value"}},
		{"volume name not a DNS label", func(s *v1alpha1.SidecarProfileSpec) {
			s.Volumes = []v1alpha1.ProfileVolume{volume("Data")}
		}, []string{"spec.volumes[0]", "name must be a DNS label"}},
		{"too many volumes", func(s *v1alpha1.SidecarProfileSpec) {
			for i := 0; i < 11; i++ {
				s.Volumes = append(s.Volumes, volume(fmt.Sprintf("v%d", i)))
			}
		}, []string{"spec.volumes", "at most 10 items"}},
		{"app mount of an undeclared volume", func(s *v1alpha1.SidecarProfileSpec) {
			s.AppContainerMounts = []v1alpha1.AppContainerMount{{Name: "logs", MountPath: "/logs"}}
		}, []string{"spec.appContainerMounts[].name must name a volume declared in spec.volumes"}},
		{"app mount with a relative path", func(s *v1alpha1.SidecarProfileSpec) {
			s.Volumes = []v1alpha1.ProfileVolume{volume("data")}
			s.AppContainerMounts = []v1alpha1.AppContainerMount{{Name: "data", MountPath: "opt"}}
		}, []string{"spec.appContainerMounts[0].mountPath", "should match '^/'"}},
		{"two app mounts at one path", func(s *v1alpha1.SidecarProfileSpec) {
			s.Volumes = []v1alpha1.ProfileVolume{volume("data"), volume("more")}
			s.AppContainerMounts = []v1alpha1.AppContainerMount{{Name: "data", MountPath: "/opt"}, {Name: "more", MountPath: "/opt"}}
		}, []string{"spec.appContainerMounts[1]", "Duplicate value"}},
		{"app mount path too long", func(s *v1alpha1.SidecarProfileSpec) {
			s.Volumes = []v1alpha1.ProfileVolume{volume("data")}
			s.AppContainerMounts = []v1alpha1.AppContainerMount{{Name: "data", MountPath: "/" + strings.Repeat("a", 1024)}}
		}, []string{"spec.appContainerMounts[0].mountPath", "Too long"}},
		{"unknown placement", func(s *v1alpha1.SidecarProfileSpec) { s.Placement = "Middle" },
			[]string{"spec.placement", "Unsupported value"}},
		{"unknown updatePolicy", func(s *v1alpha1.SidecarProfileSpec) { s.UpdatePolicy = "Always" },
			[]string{"spec.updatePolicy", "Unsupported value"}},
		{"unknown workload kind", func(s *v1alpha1.SidecarProfileSpec) { s.WorkloadKinds = []v1alpha1.WorkloadKind{"Pod"} },
			[]string{"spec.workloadKinds[0]", "Unsupported value"}},
		{"duplicate workload kind", func(s *v1alpha1.SidecarProfileSpec) {
			s.WorkloadKinds = []v1alpha1.WorkloadKind{v1alpha1.KindJob, v1alpha1.KindJob}
		}, []string{"spec.workloadKinds[1]", "Duplicate value"}},
		{"order out of range", func(s *v1alpha1.SidecarProfileSpec) { s.Order = 5000 },
			[]string{"spec.order", "less than or equal to 1000"}},
		{"selector with an unknown operator", func(s *v1alpha1.SidecarProfileSpec) {
			s.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Like", Values: []string{"x"}}}}
		}, []string{"spec.selector", "operator must be one of In, NotIn, Exists, DoesNotExist"}},
		{"selector In without values", func(s *v1alpha1.SidecarProfileSpec) {
			s.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpIn}}}
		}, []string{"spec.selector", "values must be non-empty for In and NotIn"}},
		{"selector Exists with values", func(s *v1alpha1.SidecarProfileSpec) {
			s.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpExists, Values: []string{"x"}}}}
		}, []string{"spec.selector", "empty for Exists and DoesNotExist"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			spec := sidecarSpec("web", "proxy")
			spec.Sidecars[0].RestartPolicy = &always // allowed: restartPolicy Always may be written out
			tc.mutate(&spec)
			err := k8s.Create(context.Background(), newProfile(ns, "invalid", spec))
			g.Expect(err).To(HaveOccurred(), "the apiserver accepted an invalid profile")
			for _, want := range tc.want {
				g.Expect(err.Error()).To(ContainSubstring(want))
			}
		})
	}

	t.Run("cluster profile namespaceSelector with an unknown operator", func(t *testing.T) {
		g := NewWithT(t)
		cp := &v1alpha1.ClusterSidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: "invalid"},
			Spec: v1alpha1.ClusterSidecarProfileSpec{SidecarProfileSpec: sidecarSpec("web", "proxy"),
				NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: "Like"}}}}}
		err := k8s.Create(context.Background(), cp)
		g.Expect(err).To(HaveOccurred())
		g.Expect(err.Error()).To(ContainSubstring("spec.namespaceSelector"))
	})

	t.Run("a valid profile is accepted and defaulted", func(t *testing.T) {
		g := NewWithT(t)
		p := newProfile(ns, "valid", sidecarSpec("web", "proxy"))
		g.Expect(k8s.Create(context.Background(), p)).To(Succeed())
		var got v1alpha1.SidecarProfile
		g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(p), &got)).To(Succeed())
		g.Expect(got.Spec.Placement).To(Equal(v1alpha1.PlacementBeforeInitContainers))
		g.Expect(got.Spec.UpdatePolicy).To(Equal(v1alpha1.UpdatePolicyRollout))
	})
}
