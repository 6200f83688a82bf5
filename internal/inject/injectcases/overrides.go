package injectcases

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
)

// OverridableShipper is the log shipper with 64Mi/128Mi of memory and LOG_LEVEL=info (POD from the downward API),
// whose memory (the limit at most 1Gi), cpu request and LOG_LEVEL, POD and EXTRA a workload may override.
func OverridableShipper(name string) inject.Profile {
	return WithSpec(LogShipper(name), func(s *v1alpha1.SidecarProfileSpec) {
		c := &s.Sidecars[0].Container
		c.Resources = corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
		}
		c.Env = []corev1.EnvVar{
			{Name: "LOG_LEVEL", Value: "info"},
			{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		}
		ceiling := resource.MustParse("1Gi")
		s.Overrides = []v1alpha1.SidecarOverride{{
			Sidecar: "logshipper",
			Resources: []v1alpha1.ResourceOverride{
				{Name: "requests.memory"}, {Name: "limits.memory", Max: &ceiling}, {Name: "requests.cpu"},
			},
			Env: []string{"LOG_LEVEL", "POD", "EXTRA"},
		}}
	})
}

// Asking is the annotations of a workload that asks for overrides, each "<sidecar>.<field>=value".
func Asking(kv ...string) map[string]string {
	out := map[string]string{}
	for _, s := range kv {
		k, v, _ := strings.Cut(s, "=")
		out[v1alpha1.OverrideAnnotationPrefix+k] = v
	}
	return out
}

// Overrides are the cases of workloads that ask for overrides of their sidecars' values: applied, refused, of a
// second profile, of none.
func Overrides() []Case {
	app := func() *corev1.PodTemplateSpec { return PodTemplate(WithContainers(AppContainer("app"))) }
	return []Case{
		{
			Name: "every kind of override applied", Template: app(), Profiles: []inject.Profile{OverridableShipper("logs")},
			Annotations: Asking("logshipper.limits.memory=512Mi", "logshipper.requests.memory=256Mi", "logshipper.requests.cpu=250m",
				"logshipper.env.LOG_LEVEL=debug", "logshipper.env.POD=fixed", "logshipper.env.EXTRA=a \"quoted\" <value> & more"),
		},
		{
			Name: "refused: above the ceiling, not a quantity, negative, not allowed, another sidecar", Template: app(),
			Profiles: []inject.Profile{OverridableShipper("logs")},
			Annotations: Asking("logshipper.limits.memory=2Gi", "logshipper.requests.memory=lots", "logshipper.requests.cpu=-1",
				"logshipper.limits.cpu=1", "logshipper.env.SECRET=x", "logshipper.image=evil:1", "other.limits.memory=1Gi"),
		},
		{
			Name: "a request above the limit refuses both", Template: app(), Profiles: []inject.Profile{OverridableShipper("logs")},
			Annotations: Asking("logshipper.requests.memory=512Mi", "logshipper.limits.memory=256Mi", "logshipper.env.LOG_LEVEL=warn"),
		},
		{
			Name: "a request above the profile's limit", Template: app(), Profiles: []inject.Profile{OverridableShipper("logs")},
			Annotations: Asking("logshipper.requests.memory=200Mi"),
		},
		{
			Name: "overrides allowed, none asked", Template: app(), Profiles: []inject.Profile{OverridableShipper("logs")},
			Annotations: map[string]string{"team": "blue"},
		},
		{
			Name: "the second profile's sidecar", Template: app(),
			Profiles: []inject.Profile{
				Profile("mesh", WithOrder(-1), WithSidecars(Sidecar("proxy", "envoy:1"))),
				OverridableShipper("logs"),
			},
			Annotations: Asking("logshipper.limits.memory=1Gi", "proxy.limits.memory=1Gi"),
		},
	}
}
