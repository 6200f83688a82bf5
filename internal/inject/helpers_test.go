package inject_test

import (
	"encoding/json"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/inject/injectcases"
)

// The fixture builders are those the shared cases are written in (injectcases), under the short names these
// tests read with.
var (
	podTemplate        = injectcases.PodTemplate
	withContainers     = injectcases.WithContainers
	withInitContainers = injectcases.WithInitContainers
	withVolumes        = injectcases.WithVolumes
	withLabel          = injectcases.WithLabel
	withAnnotation     = injectcases.WithAnnotation
	appContainer       = injectcases.AppContainer
	userInit           = injectcases.UserInit
	sidecar            = injectcases.Sidecar
	emptyDir           = injectcases.EmptyDir
	volumeMount        = injectcases.VolumeMount
	appMount           = injectcases.AppMount
	profile            = injectcases.Profile
	clusterProfile     = injectcases.ClusterProfile
	withSidecars       = injectcases.WithSidecars
	withProfileVolumes = injectcases.WithProfileVolumes
	profileSidecar     = injectcases.ProfileSidecar
	profileVolume      = injectcases.ProfileVolume
	withAppMounts      = injectcases.WithAppMounts
	withOrder          = injectcases.WithOrder
	withPlacement      = injectcases.WithPlacement
	asKeepOnly         = injectcases.AsKeepOnly
	logShipper         = injectcases.LogShipper
	withSpec           = injectcases.WithSpec
)

// mustInject injects and fails the test on an error.
func mustInject(t testing.TB, tmpl *corev1.PodTemplateSpec, profiles ...inject.Profile) inject.Result {
	t.Helper()
	res, err := inject.Inject(tmpl, profiles)
	if err != nil {
		t.Fatalf("Inject: %v", err)
	}
	return res
}

// mustRemove removes and fails the test on an error.
func mustRemove(t testing.TB, tmpl *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
	t.Helper()
	out, err := inject.Remove(tmpl)
	if err != nil {
		t.Fatalf("Remove: %v", err)
	}
	return out
}

// mustRecord reads the injection record and fails the test on an error.
func mustRecord(t testing.TB, tmpl *corev1.PodTemplateSpec) inject.Record {
	t.Helper()
	rec, err := inject.ReadRecord(tmpl)
	if err != nil {
		t.Fatalf("ReadRecord: %v", err)
	}
	return rec
}

// profileResult returns the result for p, failing the test when there is none.
func profileResult(t testing.TB, res inject.Result, p inject.Profile) inject.ProfileResult {
	t.Helper()
	pr, ok := res.Profile(p.Ref)
	if !ok {
		t.Fatalf("no result for %s in %+v", p.Ref, res.Profiles)
	}
	return pr
}

// expectTemplate fails the test when got is not semantically want, showing both.
func expectTemplate(t testing.TB, what string, want, got *corev1.PodTemplateSpec) {
	t.Helper()
	if !equality.Semantic.DeepEqual(want, got) {
		t.Fatalf("%s: templates differ\nwant: %s\ngot:  %s", what, dump(want), dump(got))
	}
}

// withoutOutriggerMarks returns a copy of tmpl without Outrigger's annotation and label.
func withoutOutriggerMarks(tmpl *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
	out := tmpl.DeepCopy()
	delete(out.Annotations, v1alpha1.InjectionAnnotation)
	delete(out.Labels, v1alpha1.InjectedLabel)
	return out
}

func dump(v any) string {
	raw, err := json.MarshalIndent(v, "      ", "  ")
	if err != nil {
		return err.Error()
	}
	return string(raw)
}

func containerNames(cs []corev1.Container) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

func volumeNames(vs []corev1.Volume) []string {
	out := []string{}
	for _, v := range vs {
		out = append(out, v.Name)
	}
	return out
}

func mountPaths(ms []corev1.VolumeMount) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.Name+":"+m.MountPath)
	}
	return out
}

// findContainer, findVolume and findMount return the item of a name (a path), or nil.
func findContainer(cs []corev1.Container, name string) *corev1.Container {
	return find(cs, func(c corev1.Container) bool { return c.Name == name })
}

func findVolume(vs []corev1.Volume, name string) *corev1.Volume {
	return find(vs, func(v corev1.Volume) bool { return v.Name == name })
}

func findMount(ms []corev1.VolumeMount, path string) *corev1.VolumeMount {
	return find(ms, func(m corev1.VolumeMount) bool { return m.MountPath == path })
}

func find[T any](items []T, match func(T) bool) *T {
	if i := slices.IndexFunc(items, match); i >= 0 {
		return &items[i]
	}
	return nil
}
