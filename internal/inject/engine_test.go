package inject

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

const seedDir = "../../test/testdata/seed"

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(raw, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func seedProfile(t *testing.T) Profile {
	t.Helper()
	var sp v1alpha1.SidecarProfile
	readYAML(t, filepath.Join("testdata", "logshipper-profile.yaml"), &sp)
	return Profile{Ref: ProfileRef{Kind: KindSidecarProfile, Name: sp.Name}, Spec: &sp.Spec}
}

func TestInject_TurnsSeedPlainWorkloadsIntoTheirHandWrittenLogShipperVersions(t *testing.T) {
	deploymentTemplate := func(file string) func(*testing.T) *corev1.PodTemplateSpec {
		return func(t *testing.T) *corev1.PodTemplateSpec {
			var d appsv1.Deployment
			readYAML(t, filepath.Join(seedDir, file), &d)
			return &d.Spec.Template
		}
	}
	jobTemplate := func(file string) func(*testing.T) *corev1.PodTemplateSpec {
		return func(t *testing.T) *corev1.PodTemplateSpec {
			var j batchv1.Job
			readYAML(t, filepath.Join(seedDir, file), &j)
			return &j.Spec.Template
		}
	}
	for _, tc := range []struct {
		name        string
		plain, want func(*testing.T) *corev1.PodTemplateSpec
	}{
		{"deployment", deploymentTemplate("deployment-plain.yaml"), deploymentTemplate("deployment-logshipper.yaml")},
		{"job", jobTemplate("job-plain.yaml"), jobTemplate("job-logshipper.yaml")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := seedProfile(t)
			if Revision(p.Spec) != Revision(logShipper("x").Spec) {
				t.Fatalf("testdata/logshipper-profile.yaml and the logShipper fixture differ")
			}
			plain := tc.plain(t)
			res := mustInject(t, plain, p)
			if !res.Changed {
				t.Errorf("Changed = false, want true")
			}
			if pr := profileResult(t, res, p); pr.Outcome != Injected || pr.RecordedRevision != Revision(p.Spec) {
				t.Errorf("result = %+v, want Injected at %s", pr, Revision(p.Spec))
			}
			if res.Template.Labels[v1alpha1.InjectedLabel] != "true" {
				t.Errorf("label %s = %q, want \"true\"", v1alpha1.InjectedLabel, res.Template.Labels[v1alpha1.InjectedLabel])
			}
			if _, ok := res.Template.Annotations[v1alpha1.InjectionAnnotation]; !ok {
				t.Errorf("annotation %s is missing", v1alpha1.InjectionAnnotation)
			}
			expectTemplate(t, "injected seed", tc.want(t), withoutOutriggerMarks(res.Template))
			expectTemplate(t, "removed again", tc.plain(t), mustRemove(t, res.Template))
		})
	}
}

func TestInject_SetsRestartPolicyAlwaysOnEverySidecar(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	explicit := sidecar("explicit", "img:1")
	explicit.RestartPolicy = &always
	tmpl := podTemplate(withContainers(appContainer("app")), withInitContainers(userInit("migrate")))
	a := profile("a", withSidecars(sidecar("one", "img:1"), explicit))
	b := clusterProfile("b", withSidecars(sidecar("two", "img:2")), withPlacement(v1alpha1.PlacementAfterInitContainers))

	res := mustInject(t, tmpl, a, b)

	injected := map[string]bool{"one": true, "explicit": true, "two": true}
	for _, c := range res.Template.Spec.InitContainers {
		switch {
		case injected[c.Name] && (c.RestartPolicy == nil || *c.RestartPolicy != always):
			t.Errorf("sidecar %s: restartPolicy = %v, want Always", c.Name, c.RestartPolicy)
		case !injected[c.Name] && c.RestartPolicy != nil:
			t.Errorf("the workload's init container %s got restartPolicy %v", c.Name, *c.RestartPolicy)
		}
		delete(injected, c.Name)
	}
	if len(injected) > 0 {
		t.Errorf("sidecars not injected: %v", injected)
	}
	if a.Spec.Sidecars[0].RestartPolicy != nil {
		t.Errorf("Inject set restartPolicy on the profile's spec: it must not modify its input")
	}
}

func TestInject_PlacesProfilesByAscendingOrderThenNameThenKind(t *testing.T) {
	one := func(p string) func(*Profile) { return withSidecars(sidecar(p, "img:1")) }
	profiles := []Profile{
		profile("a", one("a-order1"), withOrder(1)),
		profile("b", one("b-ns")),
		clusterProfile("b", one("b-cluster")),
		profile("c", one("c")),
		clusterProfile("z", one("z-order-1"), withOrder(-1)),
	}
	wantInit := []string{"z-order-1", "b-cluster", "b-ns", "c", "migrate", "a-order1"}
	wantResults := []ProfileRef{
		{KindClusterSidecarProfile, "z"}, {KindClusterSidecarProfile, "b"}, {KindSidecarProfile, "b"},
		{KindSidecarProfile, "c"}, {KindSidecarProfile, "a"},
	}
	// a-order1 is placed after the workload's init container, to show that order decides within a placement.
	profiles[0] = withSpec(profiles[0], func(s *v1alpha1.SidecarProfileSpec) { s.Placement = v1alpha1.PlacementAfterInitContainers })
	tmpl := podTemplate(withContainers(appContainer("app")), withInitContainers(userInit("migrate")))

	var first *corev1.PodTemplateSpec
	for _, perm := range permutations(len(profiles)) {
		given := make([]Profile, len(perm))
		for i, j := range perm {
			given[i] = profiles[j]
		}
		res := mustInject(t, tmpl, given...)
		if got := containerNames(res.Template.Spec.InitContainers); !slices.Equal(got, wantInit) {
			t.Fatalf("profiles given as %v: init containers = %v, want %v", perm, got, wantInit)
		}
		var gotRefs []ProfileRef
		for _, pr := range res.Profiles {
			gotRefs = append(gotRefs, pr.Ref)
		}
		if !slices.Equal(gotRefs, wantResults) {
			t.Fatalf("profiles given as %v: results in order %v, want %v", perm, gotRefs, wantResults)
		}
		if first == nil {
			first = res.Template
		} else {
			expectTemplate(t, "result for a different profile order", first, res.Template)
			if first.Annotations[v1alpha1.InjectionAnnotation] != res.Template.Annotations[v1alpha1.InjectionAnnotation] {
				t.Fatalf("the record depends on the order the profiles are given in")
			}
		}
	}
}

// permutations returns every permutation of 0..n-1.
func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

func TestInject_PlacesSidecarsRelativeToTheWorkloadsInitContainers(t *testing.T) {
	before, after := v1alpha1.PlacementBeforeInitContainers, v1alpha1.PlacementAfterInitContainers
	for _, tc := range []struct {
		name       string
		placements map[string]v1alpha1.Placement // profile name -> placement; each profile has sidecar "<name>-sc"
		userInits  []string
		want       []string
		wantRecord map[string]v1alpha1.Placement
	}{
		{
			name:       "default is before the workload's init containers",
			placements: map[string]v1alpha1.Placement{"p": ""},
			userInits:  []string{"init1", "init2"},
			want:       []string{"p-sc", "init1", "init2"},
			wantRecord: map[string]v1alpha1.Placement{"p": before},
		},
		{
			name:       "BeforeInitContainers",
			placements: map[string]v1alpha1.Placement{"p": before},
			userInits:  []string{"init1", "init2"},
			want:       []string{"p-sc", "init1", "init2"},
			wantRecord: map[string]v1alpha1.Placement{"p": before},
		},
		{
			name:       "AfterInitContainers",
			placements: map[string]v1alpha1.Placement{"p": after},
			userInits:  []string{"init1", "init2"},
			want:       []string{"init1", "init2", "p-sc"},
			wantRecord: map[string]v1alpha1.Placement{"p": after},
		},
		{
			name:       "AfterInitContainers without init containers of the workload",
			placements: map[string]v1alpha1.Placement{"p": after},
			want:       []string{"p-sc"},
			wantRecord: map[string]v1alpha1.Placement{"p": after},
		},
		{
			name:       "one profile before and one after, each group in profile order",
			placements: map[string]v1alpha1.Placement{"a": after, "b": before, "c": after, "d": ""},
			userInits:  []string{"init1"},
			want:       []string{"b-sc", "d-sc", "init1", "a-sc", "c-sc"},
			wantRecord: map[string]v1alpha1.Placement{"a": after, "b": before, "c": after, "d": before},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := podTemplate(withContainers(appContainer("app")))
			for _, n := range tc.userInits {
				withInitContainers(userInit(n))(tmpl)
			}
			var profiles []Profile
			for name, pl := range tc.placements {
				profiles = append(profiles, profile(name, withSidecars(sidecar(name+"-sc", "img:1")), withPlacement(pl)))
			}
			res := mustInject(t, tmpl, profiles...)
			if got := containerNames(res.Template.Spec.InitContainers); !slices.Equal(got, tc.want) {
				t.Errorf("init containers = %v, want %v", got, tc.want)
			}
			for _, e := range mustRecord(t, res.Template).Profiles {
				if e.Placement != tc.wantRecord[e.Name] {
					t.Errorf("recorded placement of %s = %q, want %q", e.Name, e.Placement, tc.wantRecord[e.Name])
				}
			}
			expectTemplate(t, "removed again", tmpl, mustRemove(t, res.Template))
		})
	}
}

func TestInject_MountsProfileVolumesIntoAppContainers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mounts  []v1alpha1.AppContainerMount
		want    map[string][]string // app container -> its mounts afterwards
		wantRec []MountRef
	}{
		{
			name:   "no containers named: every app container",
			mounts: []v1alpha1.AppContainerMount{appMount("data", "/opt")},
			want: map[string][]string{
				"web": {"own:/srv", "data:/opt"}, "worker": {"data:/opt"}, "metrics": {"data:/opt"},
			},
			wantRec: []MountRef{{"web", "/opt"}, {"worker", "/opt"}, {"metrics", "/opt"}},
		},
		{
			name:   "only the app containers named",
			mounts: []v1alpha1.AppContainerMount{appMount("data", "/opt", "metrics", "web")},
			want: map[string][]string{
				"web": {"own:/srv", "data:/opt"}, "worker": {}, "metrics": {"data:/opt"},
			},
			wantRec: []MountRef{{"web", "/opt"}, {"metrics", "/opt"}},
		},
		{
			name:   "a named container that does not exist is skipped",
			mounts: []v1alpha1.AppContainerMount{appMount("data", "/opt", "worker", "gone")},
			want: map[string][]string{
				"web": {"own:/srv"}, "worker": {"data:/opt"}, "metrics": {},
			},
			wantRec: []MountRef{{"worker", "/opt"}},
		},
		{
			name:   "only containers that do not exist: nothing mounted, the sidecar still injected",
			mounts: []v1alpha1.AppContainerMount{appMount("data", "/opt", "gone")},
			want: map[string][]string{
				"web": {"own:/srv"}, "worker": {}, "metrics": {},
			},
		},
		{
			name:   "init containers are not app containers",
			mounts: []v1alpha1.AppContainerMount{appMount("data", "/opt", "migrate")},
			want: map[string][]string{
				"web": {"own:/srv"}, "worker": {}, "metrics": {},
			},
		},
		{
			name: "several mounts keep the profile's order, subPath and readOnly",
			mounts: []v1alpha1.AppContainerMount{
				{Name: "data", MountPath: "/b", SubPath: "sub", ReadOnly: true, Containers: []string{"web"}},
				appMount("data", "/a", "web"),
			},
			want: map[string][]string{
				"web": {"own:/srv", "data:/b", "data:/a"}, "worker": {}, "metrics": {},
			},
			wantRec: []MountRef{{"web", "/b"}, {"web", "/a"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := podTemplate(
				withContainers(appContainer("web", volumeMount("own", "/srv")), appContainer("worker"), appContainer("metrics")),
				withInitContainers(userInit("migrate")),
				withVolumes(emptyDir("own")),
			)
			p := profile("p", withSidecars(sidecar("sc", "img:1", volumeMount("data", "/data"))),
				withProfileVolumes(emptyDir("data")), withAppMounts(tc.mounts...))

			res := mustInject(t, tmpl, p)

			if pr := profileResult(t, res, p); pr.Outcome != Injected {
				t.Fatalf("outcome = %s (%v), want Injected", pr.Outcome, pr.Conflicts)
			}
			for _, c := range res.Template.Spec.Containers {
				if got := mountPaths(c.VolumeMounts); !slices.Equal(got, tc.want[c.Name]) {
					t.Errorf("mounts of %s = %v, want %v", c.Name, got, tc.want[c.Name])
				}
			}
			for _, c := range res.Template.Spec.InitContainers {
				if c.Name == "migrate" && len(c.VolumeMounts) > 0 {
					t.Errorf("init container migrate got mounts %v", mountPaths(c.VolumeMounts))
				}
			}
			if got := mustRecord(t, res.Template).Profiles[0].Mounts; !slices.Equal(got, tc.wantRec) {
				t.Errorf("recorded mounts = %v, want %v", got, tc.wantRec)
			}
			for _, c := range res.Template.Spec.Containers {
				for _, m := range c.VolumeMounts {
					if m.MountPath == "/b" && (m.SubPath != "sub" || !m.ReadOnly) {
						t.Errorf("mount /b in %s = %+v, want subPath sub, readOnly", c.Name, m)
					}
				}
			}
			expectTemplate(t, "removed again", tmpl, mustRemove(t, res.Template))
		})
	}
}

// scenarios are templates and profile sets most invariant tests run over.
func scenarios() []struct {
	name     string
	tmpl     *corev1.PodTemplateSpec
	profiles []Profile
} {
	return []struct {
		name     string
		tmpl     *corev1.PodTemplateSpec
		profiles []Profile
	}{
		{
			name:     "one profile, plain template",
			tmpl:     podTemplate(withContainers(appContainer("app"))),
			profiles: []Profile{logShipper("logs")},
		},
		{
			name: "two profiles, both placements, template with its own init containers, volumes, labels, annotations",
			tmpl: podTemplate(
				withContainers(appContainer("web", volumeMount("cache", "/cache")), appContainer("worker")),
				withInitContainers(userInit("migrate"), userInit("seed")),
				withVolumes(emptyDir("cache"), emptyDir("tmp")),
				withLabel("app", "web"), withAnnotation("team", "core"),
			),
			profiles: []Profile{
				logShipper("logs"),
				clusterProfile("mesh", withOrder(-1), withSidecars(sidecar("proxy", "envoy:1"), sidecar("agent", "agent:1")),
					withPlacement(v1alpha1.PlacementAfterInitContainers)),
			},
		},
		{
			name: "a conflicting profile next to an injected one",
			tmpl: podTemplate(withContainers(appContainer("app")), withVolumes(emptyDir("data"))),
			profiles: []Profile{
				logShipper("logs"),
				profile("metrics", withSidecars(sidecar("exporter", "exporter:1"))),
			},
		},
		{
			name: "no app containers matched",
			tmpl: podTemplate(withContainers(appContainer("app"))),
			profiles: []Profile{
				profile("p", withSidecars(sidecar("sc", "img:1")), withProfileVolumes(emptyDir("v")),
					withAppMounts(appMount("v", "/v", "other"))),
			},
		},
	}
}

func TestInject_IsIdempotent(t *testing.T) {
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			first := mustInject(t, sc.tmpl, sc.profiles...)
			if !first.Changed {
				t.Fatalf("first injection: Changed = false")
			}
			second := mustInject(t, first.Template, sc.profiles...)
			if second.Changed {
				t.Errorf("second injection: Changed = true")
			}
			expectTemplate(t, "second injection", first.Template, second.Template)
			if !slices.EqualFunc(first.Profiles, second.Profiles, func(a, b ProfileResult) bool {
				return a.Ref == b.Ref && a.Outcome == b.Outcome && a.RecordedRevision == b.RecordedRevision &&
					len(a.Conflicts) == len(b.Conflicts)
			}) {
				t.Errorf("results differ: first %+v, second %+v", first.Profiles, second.Profiles)
			}
		})
	}
}

func TestInject_IgnoresFieldsTheApiserverDefaulted(t *testing.T) {
	cmVolume := corev1.Volume{Name: "config", VolumeSource: corev1.VolumeSource{
		ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}},
	}}
	p := logShipper("logs", withProfileVolumes(cmVolume))
	tmpl := podTemplate(withContainers(appContainer("app")))
	injected := mustInject(t, tmpl, p).Template

	// What the apiserver returns after storing the injected template.
	defaulted := injected.DeepCopy()
	for i := range defaulted.Spec.InitContainers {
		c := &defaulted.Spec.InitContainers[i]
		c.TerminationMessagePath = corev1.TerminationMessagePathDefault
		c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
		c.ImagePullPolicy = corev1.PullAlways
	}
	for i := range defaulted.Spec.Volumes {
		if cm := defaulted.Spec.Volumes[i].ConfigMap; cm != nil {
			mode := corev1.ConfigMapVolumeSourceDefaultMode
			cm.DefaultMode = &mode
		}
	}
	for i := range defaulted.Spec.Containers {
		c := &defaulted.Spec.Containers[i]
		c.TerminationMessagePath = corev1.TerminationMessagePathDefault
		c.ImagePullPolicy = corev1.PullIfNotPresent
	}

	res := mustInject(t, defaulted, p)
	if res.Changed {
		t.Errorf("Changed = true on a template that differs only by apiserver defaults: every resync would write")
	}
	expectTemplate(t, "defaulted template", defaulted, res.Template)
}

func TestInject_RestoresInjectedItemsEditedByHand(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*corev1.PodTemplateSpec)
	}{
		{"sidecar image", func(t *corev1.PodTemplateSpec) { t.Spec.InitContainers[0].Image = "alpine:edited" }},
		{"sidecar restartPolicy removed", func(t *corev1.PodTemplateSpec) { t.Spec.InitContainers[0].RestartPolicy = nil }},
		{"sidecar command", func(t *corev1.PodTemplateSpec) { t.Spec.InitContainers[0].Command = []string{"sleep", "1"} }},
		{"sidecar moved after the workload's init container", func(t *corev1.PodTemplateSpec) {
			ic := t.Spec.InitContainers
			ic[0], ic[1] = ic[1], ic[0]
		}},
		{"volume source", func(t *corev1.PodTemplateSpec) {
			for i := range t.Spec.Volumes {
				if t.Spec.Volumes[i].Name == "data" {
					t.Spec.Volumes[i].VolumeSource = corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp"}}
				}
			}
		}},
		{"app mount made read-only", func(t *corev1.PodTemplateSpec) {
			ms := t.Spec.Containers[0].VolumeMounts
			ms[len(ms)-1].ReadOnly = true
		}},
		{"sidecar deleted", func(t *corev1.PodTemplateSpec) { t.Spec.InitContainers = t.Spec.InitContainers[1:] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := podTemplate(withContainers(appContainer("app")), withInitContainers(userInit("migrate")))
			p := logShipper("logs")
			injected := mustInject(t, tmpl, p).Template
			edited := injected.DeepCopy()
			tc.edit(edited)
			if equality.Semantic.DeepEqual(edited, injected) {
				t.Fatalf("the edit changed nothing")
			}

			res := mustInject(t, edited, p)

			if !res.Changed {
				t.Errorf("Changed = false, want true")
			}
			if pr := profileResult(t, res, p); pr.Outcome != Injected {
				t.Errorf("outcome = %s, want Injected", pr.Outcome)
			}
			expectTemplate(t, "restored", injected, res.Template)
		})
	}
}

func TestRemove_GivesBackTheTemplateBeforeInjection(t *testing.T) {
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			injected := mustInject(t, sc.tmpl, sc.profiles...)
			expectTemplate(t, "Remove(Inject(t))", sc.tmpl, mustRemove(t, injected.Template))

			none := mustInject(t, injected.Template)
			expectTemplate(t, "Inject(Inject(t), nil)", sc.tmpl, none.Template)
			if !none.Changed || len(none.Profiles) != 0 {
				t.Errorf("Inject(.., nil): Changed = %v, results %v; want true and none", none.Changed, none.Profiles)
			}
			if _, ok := none.Template.Annotations[v1alpha1.InjectionAnnotation]; ok {
				t.Errorf("annotation %s left behind", v1alpha1.InjectionAnnotation)
			}
			if _, ok := none.Template.Labels[v1alpha1.InjectedLabel]; ok {
				t.Errorf("label %s left behind", v1alpha1.InjectedLabel)
			}
		})
	}
	t.Run("a template never injected is left as it is", func(t *testing.T) {
		tmpl := scenarios()[1].tmpl
		res := mustInject(t, tmpl)
		if res.Changed {
			t.Errorf("Changed = true")
		}
		expectTemplate(t, "Remove", tmpl, mustRemove(t, tmpl))
	})
}

func TestInject_RemovesTheItemsOfAProfileNoLongerGiven(t *testing.T) {
	tmpl := podTemplate(
		withContainers(appContainer("app", volumeMount("cache", "/cache"))),
		withInitContainers(userInit("migrate")),
		withVolumes(emptyDir("cache")),
	)
	logs := logShipper("logs")
	mesh := clusterProfile("mesh", withSidecars(sidecar("proxy", "envoy:1")),
		withProfileVolumes(emptyDir("certs")), withAppMounts(appMount("certs", "/certs")),
		withPlacement(v1alpha1.PlacementAfterInitContainers))
	both := mustInject(t, tmpl, logs, mesh).Template

	res := mustInject(t, both, mesh)

	expectTemplate(t, "only mesh", mustInject(t, tmpl, mesh).Template, res.Template)
	if got, want := containerNames(res.Template.Spec.InitContainers), []string{"migrate", "proxy"}; !slices.Equal(got, want) {
		t.Errorf("init containers = %v, want %v", got, want)
	}
	if got, want := volumeNames(res.Template.Spec.Volumes), []string{"cache", "certs"}; !slices.Equal(got, want) {
		t.Errorf("volumes = %v, want %v", got, want)
	}
	if got, want := mountPaths(res.Template.Spec.Containers[0].VolumeMounts), []string{"cache:/cache", "certs:/certs"}; !slices.Equal(got, want) {
		t.Errorf("mounts = %v, want %v", got, want)
	}
	if refs := mustRecord(t, res.Template).Refs(); !slices.Equal(refs, []ProfileRef{mesh.Ref}) {
		t.Errorf("recorded profiles = %v, want only %v", refs, mesh.Ref)
	}
}

func TestInject_ReplacesTheItemsOfAChangedProfile(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		change                   func(*v1alpha1.SidecarProfileSpec)
		wantInit, wantVol, wantM []string
	}{
		{
			name:     "new image",
			change:   func(s *v1alpha1.SidecarProfileSpec) { s.Sidecars[0].Image = "alpine:3.22" },
			wantInit: []string{"logshipper", "migrate"}, wantVol: []string{"own", "data"},
			wantM: []string{"own:/srv", "data:/opt"},
		},
		{
			name:     "renamed sidecar",
			change:   func(s *v1alpha1.SidecarProfileSpec) { s.Sidecars[0].Name = "shipper" },
			wantInit: []string{"shipper", "migrate"}, wantVol: []string{"own", "data"},
			wantM: []string{"own:/srv", "data:/opt"},
		},
		{
			name: "removed volume and its mounts",
			change: func(s *v1alpha1.SidecarProfileSpec) {
				s.Volumes, s.AppContainerMounts, s.Sidecars[0].VolumeMounts = nil, nil, nil
			},
			wantInit: []string{"logshipper", "migrate"}, wantVol: []string{"own"}, wantM: []string{"own:/srv"},
		},
		{
			name:     "moved after the init containers",
			change:   func(s *v1alpha1.SidecarProfileSpec) { s.Placement = v1alpha1.PlacementAfterInitContainers },
			wantInit: []string{"migrate", "logshipper"}, wantVol: []string{"own", "data"},
			wantM: []string{"own:/srv", "data:/opt"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := podTemplate(withContainers(appContainer("app", volumeMount("own", "/srv"))),
				withInitContainers(userInit("migrate")), withVolumes(emptyDir("own")))
			v1 := logShipper("logs")
			v2 := withSpec(v1, tc.change)
			old := mustInject(t, tmpl, v1).Template

			res := mustInject(t, old, v2)

			pr := profileResult(t, res, v2)
			if pr.Outcome != Injected || pr.Revision == Revision(v1.Spec) || pr.RecordedRevision != pr.Revision {
				t.Errorf("result = %+v, want Injected in a new revision (old %s)", pr, Revision(v1.Spec))
			}
			if e, _ := mustRecord(t, res.Template).Entry(v2.Ref); e.Hash != Revision(v2.Spec) {
				t.Errorf("recorded hash = %s, want %s", e.Hash, Revision(v2.Spec))
			}
			if got := containerNames(res.Template.Spec.InitContainers); !slices.Equal(got, tc.wantInit) {
				t.Errorf("init containers = %v, want %v", got, tc.wantInit)
			}
			if got := volumeNames(res.Template.Spec.Volumes); !slices.Equal(got, tc.wantVol) {
				t.Errorf("volumes = %v, want %v", got, tc.wantVol)
			}
			if got := mountPaths(res.Template.Spec.Containers[0].VolumeMounts); !slices.Equal(got, tc.wantM) {
				t.Errorf("app mounts = %v, want %v", got, tc.wantM)
			}
			expectTemplate(t, "same as a fresh injection", mustInject(t, tmpl, v2).Template, res.Template)
		})
	}
}

func TestRevision_IgnoresFieldsThatDoNotChangeTheRendering(t *testing.T) {
	p := logShipper("logs")
	for name, change := range map[string]func(*v1alpha1.SidecarProfileSpec){
		"order":         func(s *v1alpha1.SidecarProfileSpec) { s.Order = 7 },
		"updatePolicy":  func(s *v1alpha1.SidecarProfileSpec) { s.UpdatePolicy = v1alpha1.UpdatePolicyOnCreate },
		"workloadKinds": func(s *v1alpha1.SidecarProfileSpec) { s.WorkloadKinds = []v1alpha1.WorkloadKind{v1alpha1.KindJob} },
		"explicit default placement": func(s *v1alpha1.SidecarProfileSpec) {
			s.Placement = v1alpha1.PlacementBeforeInitContainers
		},
	} {
		if Revision(withSpec(p, change).Spec) != Revision(p.Spec) {
			t.Errorf("changing %s changed the revision", name)
		}
	}
}

func TestInject_ReportsConflictsAndLeavesTheWorkloadsItemsAlone(t *testing.T) {
	for _, tc := range []struct {
		name     string
		tmpl     *corev1.PodTemplateSpec
		profiles []Profile
		opts     []Option
		// the profile expected to conflict, and its (first) conflict
		conflicted ProfileRef
		want       Conflict
		// init containers expected afterwards
		wantInit []string
	}{
		{
			name:       "sidecar named like an app container",
			tmpl:       podTemplate(withContainers(appContainer("app"), appContainer("logshipper"))),
			profiles:   []Profile{logShipper("logs")},
			conflicted: ProfileRef{KindSidecarProfile, "logs"},
			want:       Conflict{Field: "spec.sidecars[0].name", What: "container", Name: "logshipper", Owner: OwnerWorkload},
			wantInit:   []string{},
		},
		{
			name: "second sidecar named like an init container of the workload",
			tmpl: podTemplate(withContainers(appContainer("app")), withInitContainers(userInit("migrate"))),
			profiles: []Profile{profile("p", withSidecars(sidecar("fine", "img:1"),
				corev1.Container{Name: "migrate", Image: "img:2"}))},
			conflicted: ProfileRef{KindSidecarProfile, "p"},
			want:       Conflict{Field: "spec.sidecars[1].name", What: "container", Name: "migrate", Owner: OwnerWorkload},
			wantInit:   []string{"migrate"},
		},
		{
			name:       "volume named like a volume of the workload",
			tmpl:       podTemplate(withContainers(appContainer("app", volumeMount("data", "/var/data"))), withVolumes(emptyDir("data"))),
			profiles:   []Profile{logShipper("logs")},
			conflicted: ProfileRef{KindSidecarProfile, "logs"},
			want:       Conflict{Field: "spec.volumes[0].name", What: "volume", Name: "data", Owner: OwnerWorkload},
			wantInit:   []string{},
		},
		{
			name:       "volume named like a claim template of the StatefulSet",
			tmpl:       podTemplate(withContainers(appContainer("app", volumeMount("data", "/var/lib/db")))),
			profiles:   []Profile{logShipper("logs")},
			opts:       []Option{WorkloadVolumes("the StatefulSet's volumeClaimTemplates", "www", "data")},
			conflicted: ProfileRef{KindSidecarProfile, "logs"},
			want:       Conflict{Field: "spec.volumes[0].name", What: "volume", Name: "data", Owner: "the StatefulSet's volumeClaimTemplates"},
			wantInit:   []string{},
		},
		{
			name:       "mount path an app container already uses",
			tmpl:       podTemplate(withContainers(appContainer("app"), appContainer("web", volumeMount("html", "/opt"))), withVolumes(emptyDir("html"))),
			profiles:   []Profile{logShipper("logs")},
			conflicted: ProfileRef{KindSidecarProfile, "logs"},
			want: Conflict{Field: "spec.appContainerMounts[0].mountPath", What: "mount path", Name: "/opt",
				Container: "web", Owner: OwnerWorkload},
			wantInit: []string{},
		},
		{
			name: "two profiles with the same sidecar name: the one placed second conflicts",
			tmpl: podTemplate(withContainers(appContainer("app"))),
			profiles: []Profile{
				profile("b", withSidecars(sidecar("other", "img:1"), sidecar("proxy", "envoy:2"))),
				profile("a", withSidecars(sidecar("proxy", "envoy:1"))),
			},
			conflicted: ProfileRef{KindSidecarProfile, "b"},
			want:       Conflict{Field: "spec.sidecars[1].name", What: "container", Name: "proxy", Owner: "SidecarProfile/a"},
			wantInit:   []string{"proxy"},
		},
		{
			name: "order beats name: the profile with the lower order keeps the name",
			tmpl: podTemplate(withContainers(appContainer("app"))),
			profiles: []Profile{
				clusterProfile("b", withOrder(-1), withSidecars(sidecar("proxy", "envoy:2"))),
				profile("a", withSidecars(sidecar("proxy", "envoy:1"))),
			},
			conflicted: ProfileRef{KindSidecarProfile, "a"},
			want:       Conflict{Field: "spec.sidecars[0].name", What: "container", Name: "proxy", Owner: "ClusterSidecarProfile/b"},
			wantInit:   []string{"proxy"},
		},
		{
			name: "a profile that uses one sidecar name twice (the apiserver would refuse it)",
			tmpl: podTemplate(withContainers(appContainer("app"))),
			profiles: []Profile{
				profile("p", withSidecars(sidecar("twin", "img:1"), sidecar("twin", "img:2"))),
			},
			conflicted: ProfileRef{KindSidecarProfile, "p"},
			want:       Conflict{Field: "spec.sidecars[1].name", What: "container", Name: "twin", Owner: "SidecarProfile/p"},
			wantInit:   []string{},
		},
		{
			name: "two profiles with the same volume name",
			tmpl: podTemplate(withContainers(appContainer("app"))),
			profiles: []Profile{
				logShipper("a"),
				profile("b", withSidecars(sidecar("reader", "img:1")), withProfileVolumes(emptyDir("data"))),
			},
			conflicted: ProfileRef{KindSidecarProfile, "b"},
			want:       Conflict{Field: "spec.volumes[0].name", What: "volume", Name: "data", Owner: "SidecarProfile/a"},
			wantInit:   []string{"logshipper"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.tmpl.DeepCopy()
			inject := func(profiles []Profile) Result {
				t.Helper()
				res, err := Inject(tc.tmpl, profiles, tc.opts...)
				if err != nil {
					t.Fatalf("Inject: %v", err)
				}
				return res
			}
			res := inject(tc.profiles)
			expectTemplate(t, "the input", before, tc.tmpl)

			pr, ok := res.Profile(tc.conflicted)
			if !ok || pr.Outcome != Conflicted || len(pr.Conflicts) == 0 {
				t.Fatalf("result for %s = %+v, want Conflicted with conflicts", tc.conflicted, pr)
			}
			if pr.RecordedRevision != "" {
				t.Errorf("RecordedRevision = %q, want none", pr.RecordedRevision)
			}
			if got := pr.Conflicts[0]; got != tc.want {
				t.Errorf("conflict = %+v, want %+v", got, tc.want)
			}
			msg := pr.Conflicts[0].Message()
			for _, part := range []string{tc.want.Field, tc.want.Name, tc.want.Owner, "rename"} {
				if !strings.Contains(msg, part) {
					t.Errorf("message %q does not mention %q", msg, part)
				}
			}
			if tc.want.Container != "" && !strings.Contains(msg, tc.want.Container) {
				t.Errorf("message %q does not name the container %q", msg, tc.want.Container)
			}
			if _, recorded := mustRecord(t, res.Template).Entry(tc.conflicted); recorded {
				t.Errorf("the conflicted profile is recorded")
			}
			if got := containerNames(res.Template.Spec.InitContainers); !slices.Equal(got, tc.wantInit) {
				t.Errorf("init containers = %v, want %v", got, tc.wantInit)
			}
			// The workload's own items are all there, unchanged.
			stripped := mustRemove(t, res.Template)
			expectTemplate(t, "the workload's own items", before, stripped)
			// And a conflicted profile adds nothing: the result is what the other profiles give alone.
			var others []Profile
			for _, p := range tc.profiles {
				if p.Ref != tc.conflicted {
					others = append(others, p)
				}
			}
			expectTemplate(t, "without the conflicted profile", inject(others).Template, res.Template)
		})
	}
}

func TestConflict_MessageNamesTheFieldAndSaysToRename(t *testing.T) {
	for _, tc := range []struct {
		c    Conflict
		want string
	}{
		{
			Conflict{Field: "spec.sidecars[0].name", What: "container", Name: "app", Owner: OwnerWorkload},
			`container "app" (spec.sidecars[0].name) is already used by the workload: rename it in the profile`,
		},
		{
			Conflict{Field: "spec.appContainerMounts[1].mountPath", What: "mount path", Name: "/opt", Container: "web", Owner: "ClusterSidecarProfile/logs"},
			`mount path "/opt" (spec.appContainerMounts[1].mountPath) is already used in container "web" by ClusterSidecarProfile/logs: rename it in the profile`,
		},
	} {
		if got := tc.c.Message(); got != tc.want {
			t.Errorf("Message() = %q\nwant        %q", got, tc.want)
		}
	}
}

func TestInject_KeepsTheOldRevisionWhenTheNewOneConflicts(t *testing.T) {
	tmpl := podTemplate(withContainers(appContainer("app")), withInitContainers(userInit("migrate")))
	v1 := logShipper("logs")
	injected := mustInject(t, tmpl, v1).Template
	// The new revision adds a sidecar named like the workload's init container.
	v2 := withSpec(v1, func(s *v1alpha1.SidecarProfileSpec) {
		s.Sidecars = append(s.Sidecars, profileSidecar(corev1.Container{Name: "migrate", Image: "img:1"}))
	})

	res := mustInject(t, injected, v2)

	pr := profileResult(t, res, v2)
	if pr.Outcome != Conflicted || pr.RecordedRevision != Revision(v1.Spec) || pr.Revision != Revision(v2.Spec) {
		t.Errorf("result = %+v, want Conflicted, recorded revision %s (old), revision %s", pr, Revision(v1.Spec), Revision(v2.Spec))
	}
	want := Conflict{Field: "spec.sidecars[1].name", What: "container", Name: "migrate", Owner: OwnerWorkload}
	if len(pr.Conflicts) != 1 || pr.Conflicts[0] != want {
		t.Errorf("conflicts = %+v, want [%+v]", pr.Conflicts, want)
	}
	if res.Changed {
		t.Errorf("Changed = true: the old revision must stay as it is")
	}
	expectTemplate(t, "old revision kept", injected, res.Template)
	expectTemplate(t, "and still removable", tmpl, mustRemove(t, res.Template))

	again := mustInject(t, res.Template, v2)
	if again.Changed {
		t.Errorf("a second pass changed the template")
	}
}

func TestInject_KeepOnly(t *testing.T) {
	tmpl := podTemplate(withContainers(appContainer("app")))
	v1 := logShipper("logs")
	v2 := withSpec(v1, func(s *v1alpha1.SidecarProfileSpec) { s.Sidecars[0].Image = "alpine:3.22" })
	injectedV1 := mustInject(t, tmpl, v1).Template

	for _, tc := range []struct {
		name         string
		tmpl         *corev1.PodTemplateSpec
		profile      Profile
		wantOutcome  Outcome
		wantRecorded string
	}{
		{"injected in an older revision: kept as it is", injectedV1, asKeepOnly(v2), Kept, Revision(v1.Spec)},
		{"injected in the current revision", injectedV1, asKeepOnly(v1), Injected, Revision(v1.Spec)},
		{"not injected: skipped", tmpl, asKeepOnly(v1), Skipped, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := mustInject(t, tc.tmpl, tc.profile)
			pr := profileResult(t, res, tc.profile)
			if pr.Outcome != tc.wantOutcome || pr.RecordedRevision != tc.wantRecorded || pr.Revision != Revision(tc.profile.Spec) {
				t.Errorf("result = %+v, want %s, recorded %q", pr, tc.wantOutcome, tc.wantRecorded)
			}
			if res.Changed {
				t.Errorf("Changed = true, want false")
			}
			expectTemplate(t, "template", tc.tmpl, res.Template)
		})
	}
	t.Run("next to a profile that is injected", func(t *testing.T) {
		other := profile("other", withSidecars(sidecar("exporter", "exporter:1")))
		res := mustInject(t, injectedV1, asKeepOnly(v2), other)
		if got, want := containerNames(res.Template.Spec.InitContainers), []string{"logshipper", "exporter"}; !slices.Equal(got, want) {
			t.Errorf("init containers = %v, want %v", got, want)
		}
		if got := res.Template.Spec.InitContainers[0].Image; got != "alpine:latest" {
			t.Errorf("kept sidecar image = %s, want the old alpine:latest", got)
		}
	})
}

func TestInject_RejectsAnInvalidRecordAnnotation(t *testing.T) {
	for _, raw := range []string{"not json", "", "{", `{"profiles": "nope"}`} {
		t.Run(raw, func(t *testing.T) {
			tmpl := podTemplate(withContainers(appContainer("app")), withAnnotation(v1alpha1.InjectionAnnotation, raw))
			if _, err := Inject(tmpl, []Profile{logShipper("logs")}); err == nil || !strings.Contains(err.Error(), v1alpha1.InjectionAnnotation) {
				t.Errorf("Inject: error = %v, want one naming %s", err, v1alpha1.InjectionAnnotation)
			}
			if _, err := Remove(tmpl); err == nil || !strings.Contains(err.Error(), v1alpha1.InjectionAnnotation) {
				t.Errorf("Remove: error = %v, want one naming %s", err, v1alpha1.InjectionAnnotation)
			}
		})
	}
}

func TestInject_RecordsWhatEachProfileAdded(t *testing.T) {
	tmpl := podTemplate(withContainers(appContainer("web"), appContainer("worker")), withInitContainers(userInit("migrate")))
	logs := logShipper("logs", withAppMounts(appMount("data", "/logs", "worker")))
	mesh := clusterProfile("mesh", withOrder(-1), withSidecars(sidecar("proxy", "envoy:1"), sidecar("agent", "agent:1")),
		withPlacement(v1alpha1.PlacementAfterInitContainers))

	res := mustInject(t, tmpl, logs, mesh)

	if got := res.Template.Labels[v1alpha1.InjectedLabel]; got != "true" {
		t.Errorf("label %s = %q, want \"true\"", v1alpha1.InjectedLabel, got)
	}
	raw := res.Template.Annotations[v1alpha1.InjectionAnnotation]
	var got Record
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("annotation is not JSON: %v\n%s", err, raw)
	}
	want := Record{Profiles: []RecordEntry{
		{
			ProfileRef: mesh.Ref, Hash: Revision(mesh.Spec), Placement: v1alpha1.PlacementAfterInitContainers,
			InitContainers: []string{"proxy", "agent"},
		},
		{
			ProfileRef: logs.Ref, Hash: Revision(logs.Spec), Placement: v1alpha1.PlacementBeforeInitContainers,
			InitContainers: []string{"logshipper"}, Volumes: []string{"data"},
			Mounts: []MountRef{{"web", "/opt"}, {"worker", "/opt"}, {"worker", "/logs"}},
		},
	}}
	if !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("record = %s\nwant %s", dump(got), dump(want))
	}
	for _, key := range []string{`"kind":"ClusterSidecarProfile"`, `"name":"mesh"`, `"hash":"` + Revision(mesh.Spec) + `"`,
		`"initContainers":["proxy","agent"]`, `"volumes":["data"]`, `"mounts":[{"container":"web","mountPath":"/opt"}`} {
		if !strings.Contains(raw, key) {
			t.Errorf("annotation %s does not contain %s", raw, key)
		}
	}
	if rec := mustRecord(t, res.Template); !equality.Semantic.DeepEqual(rec, want) {
		t.Errorf("ReadRecord = %+v, want %+v", rec, want)
	}
}

func TestInject_ToleratesRecordedItemsDeletedByHand(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*corev1.PodTemplateSpec)
		// what the template must not have afterwards, with KeepOnly and with Remove
		gone func(*corev1.PodTemplateSpec) bool
	}{
		{
			name: "sidecar",
			edit: func(t *corev1.PodTemplateSpec) {
				t.Spec.InitContainers = slices.DeleteFunc(t.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == "logshipper" })
			},
			gone: func(t *corev1.PodTemplateSpec) bool { return findContainer(t.Spec.InitContainers, "logshipper") == nil },
		},
		{
			name: "volume",
			edit: func(t *corev1.PodTemplateSpec) {
				t.Spec.Volumes = slices.DeleteFunc(t.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == "data" })
			},
			gone: func(t *corev1.PodTemplateSpec) bool { return findVolume(t.Spec.Volumes, "data") == nil },
		},
		{
			name: "app mount",
			edit: func(t *corev1.PodTemplateSpec) { t.Spec.Containers[0].VolumeMounts = nil },
			gone: func(t *corev1.PodTemplateSpec) bool {
				return findMount(t.Spec.Containers[0].VolumeMounts, "/opt") == nil
			},
		},
		{
			name: "the app container the mount was in",
			edit: func(t *corev1.PodTemplateSpec) { t.Spec.Containers = t.Spec.Containers[1:] },
			gone: func(t *corev1.PodTemplateSpec) bool { return findContainer(t.Spec.Containers, "app") == nil },
		},
		{
			name: "everything",
			edit: func(t *corev1.PodTemplateSpec) {
				t.Spec.InitContainers, t.Spec.Volumes = t.Spec.InitContainers[:0], nil
				for i := range t.Spec.Containers {
					t.Spec.Containers[i].VolumeMounts = nil
				}
			},
			gone: func(t *corev1.PodTemplateSpec) bool {
				return len(t.Spec.InitContainers) == 0 && len(t.Spec.Volumes) == 0
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := podTemplate(withContainers(appContainer("app"), appContainer("web")))
			p := logShipper("logs")
			edited := mustInject(t, tmpl, p).Template.DeepCopy()
			tc.edit(edited)
			userTemplate := tmpl.DeepCopy()
			tc.edit(userTemplate)

			removed := mustRemove(t, edited)
			if !tc.gone(removed) {
				t.Errorf("Remove brought the deleted item back")
			}
			expectTemplate(t, "Remove", userTemplate, removed)

			kept := mustInject(t, edited, asKeepOnly(p))
			if !tc.gone(kept.Template) {
				t.Errorf("KeepOnly brought the deleted item back")
			}
			expectTemplate(t, "KeepOnly, removed", userTemplate, mustRemove(t, kept.Template))
			if again := mustInject(t, kept.Template, asKeepOnly(p)); again.Changed {
				t.Errorf("KeepOnly is not a fixed point after a deletion")
			}

			// The profile, still given with Rollout, brings its items back.
			restored := mustInject(t, edited, p)
			expectTemplate(t, "injected again", mustInject(t, userTemplate, p).Template, restored.Template)
		})
	}
}

func TestInject_DoesNotModifyItsInputs(t *testing.T) {
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			tmpl := sc.tmpl.DeepCopy()
			var specs []*v1alpha1.SidecarProfileSpec
			for _, p := range sc.profiles {
				specs = append(specs, p.Spec.DeepCopy())
			}
			injected := mustInject(t, sc.tmpl, sc.profiles...).Template
			injectedCopy := injected.DeepCopy()
			mustInject(t, injected, sc.profiles[:1]...)
			mustRemove(t, injected)

			expectTemplate(t, "input template", tmpl, sc.tmpl)
			expectTemplate(t, "injected template given back", injectedCopy, injected)
			for i, p := range sc.profiles {
				if !equality.Semantic.DeepEqual(specs[i], p.Spec) {
					t.Errorf("profile %s's spec was modified", p.Ref)
				}
			}
		})
	}
}

// An injected profile keeps the names it holds: a profile added later that wants one of them is the one in
// conflict, even when its order places it first. Otherwise adding a profile would strip a working sidecar.
func TestInject_IncumbentKeepsItsNamesAgainstANewcomerPlacedFirst(t *testing.T) {
	tmpl := podTemplate(withContainers(appContainer("app")))
	incumbent := profile("q", withOrder(1), withSidecars(sidecar("x", "img:1")))
	injected := mustInject(t, tmpl, incumbent).Template
	newcomer := profile("p", withOrder(0), withSidecars(sidecar("x", "img:2")))

	res := mustInject(t, injected, newcomer, incumbent)

	if pr := profileResult(t, res, incumbent); pr.Outcome != Injected {
		t.Errorf("incumbent outcome = %s, want Injected", pr.Outcome)
	}
	pr := profileResult(t, res, newcomer)
	want := Conflict{Field: "spec.sidecars[0].name", What: "container", Name: "x", Owner: "SidecarProfile/q"}
	if pr.Outcome != Conflicted || len(pr.Conflicts) != 1 || pr.Conflicts[0] != want {
		t.Errorf("newcomer result = %+v, want Conflicted with %+v", pr, want)
	}
	if res.Changed {
		t.Errorf("Changed = true: the incumbent's sidecar must stay as it is")
	}
}

// The containers of an app mount are a set: listing them in another order is the same revision, so it rolls
// nothing out.
func TestRevision_IgnoresTheOrderOfMountContainers(t *testing.T) {
	a := logShipper("logs", withAppMounts(appMount("data", "/opt", "web", "worker")))
	b := logShipper("logs", withAppMounts(appMount("data", "/opt", "worker", "web")))
	if Revision(a.Spec) != Revision(b.Spec) {
		t.Errorf("revisions differ: %s vs %s", Revision(a.Spec), Revision(b.Spec))
	}
}

// Probes and ports get numeric defaults from the apiserver (timeoutSeconds 1, successThreshold 1,
// failureThreshold 3, protocol TCP): a sidecar whose probe sets only periodSeconds must not look changed once
// stored, or every reconcile would patch it (found on a real node by the e2e suite).
func TestInject_IgnoresProbeAndPortDefaults(t *testing.T) {
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}, PeriodSeconds: 1}
	sc := sidecar("proxy", "busybox:local")
	sc.LivenessProbe, sc.StartupProbe = probe.DeepCopy(), probe.DeepCopy()
	sc.Ports = []corev1.ContainerPort{{ContainerPort: 8080}}
	p := profile("proxy", withSidecars(sc))
	injected := mustInject(t, podTemplate(withContainers(appContainer("app"))), p).Template

	defaulted := injected.DeepCopy()
	c := &defaulted.Spec.InitContainers[0]
	for _, pr := range []*corev1.Probe{c.LivenessProbe, c.StartupProbe} {
		pr.TimeoutSeconds, pr.SuccessThreshold, pr.FailureThreshold = 1, 1, 3
	}
	c.Ports[0].Protocol = corev1.ProtocolTCP
	if res := mustInject(t, defaulted, p); res.Changed {
		t.Errorf("Changed = true on a template that differs only by probe and port defaults")
	}

	edited := defaulted.DeepCopy()
	edited.Spec.InitContainers[0].LivenessProbe.PeriodSeconds = 30
	if res := mustInject(t, edited, p); !res.Changed || res.Template.Spec.InitContainers[0].LivenessProbe.PeriodSeconds != 1 {
		t.Errorf("a hand-edited periodSeconds (set by the profile) was not repaired")
	}
}
