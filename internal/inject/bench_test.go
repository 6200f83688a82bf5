package inject_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
)

// BenchmarkInject measures one injection into a template with 3 app containers and 2 profiles: into the plain
// template (a workload's first injection, the admission webhook's case) and into the injected one, as the
// apiserver returns it (a resync that writes nothing, the reconcilers' usual case).
func BenchmarkInject(b *testing.B) {
	tmpl := podTemplate(
		withContainers(
			appContainer("web", volumeMount("cache", "/cache")),
			appContainer("worker"),
			appContainer("metrics"),
		),
		withInitContainers(userInit("migrate")),
		withVolumes(emptyDir("cache")),
		withLabel("app", "web"),
	)
	profiles := []inject.Profile{
		logShipper("logs"),
		clusterProfile("mesh", withOrder(-1), withPlacement(v1alpha1.PlacementAfterInitContainers),
			withSidecars(sidecar("proxy", "envoy:1", volumeMount("certs", "/etc/certs")), sidecar("agent", "agent:1")),
			withProfileVolumes(emptyDir("certs")), withAppMounts(appMount("certs", "/etc/certs", "web"))),
	}
	injected, err := inject.Inject(tmpl, profiles)
	if err != nil {
		b.Fatal(err)
	}
	resync := apiserverDefaults(injected.Template)

	for _, bc := range []struct {
		name        string
		tmpl        *corev1.PodTemplateSpec
		wantChanged bool
	}{
		{"fresh", tmpl, true},
		{"resync", resync, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				res, err := inject.Inject(bc.tmpl, profiles)
				if err != nil || res.Changed != bc.wantChanged {
					b.Fatalf("Inject: changed %v, error %v", res.Changed, err)
				}
			}
		})
	}
}
