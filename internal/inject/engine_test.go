package inject_test

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
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/inject/injectcases"
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

func seedProfile(t *testing.T) inject.Profile {
	t.Helper()
	var sp v1alpha1.SidecarProfile
	readYAML(t, filepath.Join("testdata", "logshipper-profile.yaml"), &sp)
	return inject.Profile{Ref: inject.ProfileRef{Kind: inject.KindSidecarProfile, Name: sp.Name}, Spec: &sp.Spec}
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
			if inject.Revision(p.Spec) != inject.Revision(logShipper("x").Spec) {
				t.Fatalf("testdata/logshipper-profile.yaml and the logShipper fixture differ")
			}
			plain := tc.plain(t)
			res := mustInject(t, plain, p)
			if !res.Changed {
				t.Errorf("Changed = false, want true")
			}
			if pr := profileResult(t, res, p); pr.Outcome != inject.Injected || pr.RecordedRevision != inject.Revision(p.Spec) {
				t.Errorf("result = %+v, want Injected at %s", pr, inject.Revision(p.Spec))
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
	tc := injectcases.EverySidecarRestartsAlways()

	res := mustInject(t, tc.Template, tc.Profiles...)

	always := corev1.ContainerRestartPolicyAlways
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
	if tc.Profiles[0].Spec.Sidecars[0].RestartPolicy != nil {
		t.Errorf("Inject set restartPolicy on the profile's spec: it must not modify its input")
	}
}

func TestInject_PlacesProfilesByAscendingOrderThenNameThenKind(t *testing.T) {
	tc := injectcases.PlacementOrder()

	var first *corev1.PodTemplateSpec
	for _, perm := range permutations(len(tc.Profiles)) {
		given := make([]inject.Profile, len(perm))
		for i, j := range perm {
			given[i] = tc.Profiles[j]
		}
		res := mustInject(t, tc.Template, given...)
		if got := containerNames(res.Template.Spec.InitContainers); !slices.Equal(got, tc.WantInit) {
			t.Fatalf("profiles given as %v: init containers = %v, want %v", perm, got, tc.WantInit)
		}
		var gotRefs []inject.ProfileRef
		for _, pr := range res.Profiles {
			gotRefs = append(gotRefs, pr.Ref)
		}
		if !slices.Equal(gotRefs, tc.WantResults) {
			t.Fatalf("profiles given as %v: results in order %v, want %v", perm, gotRefs, tc.WantResults)
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
	for _, tc := range injectcases.Placements() {
		t.Run(tc.Name, func(t *testing.T) {
			in := tc.Case()
			res := mustInject(t, in.Template, in.Profiles...)
			if got := containerNames(res.Template.Spec.InitContainers); !slices.Equal(got, tc.Want) {
				t.Errorf("init containers = %v, want %v", got, tc.Want)
			}
			for _, e := range mustRecord(t, res.Template).Profiles {
				if e.Placement != tc.WantRecord[e.Name] {
					t.Errorf("recorded placement of %s = %q, want %q", e.Name, e.Placement, tc.WantRecord[e.Name])
				}
			}
			expectTemplate(t, "removed again", in.Template, mustRemove(t, res.Template))
		})
	}
}

func TestInject_MountsProfileVolumesIntoAppContainers(t *testing.T) {
	for _, tc := range injectcases.Mounts() {
		t.Run(tc.Name, func(t *testing.T) {
			in := tc.Case()
			p := in.Profiles[0]

			res := mustInject(t, in.Template, p)

			if pr := profileResult(t, res, p); pr.Outcome != inject.Injected {
				t.Fatalf("outcome = %s (%v), want Injected", pr.Outcome, pr.Conflicts)
			}
			for _, c := range res.Template.Spec.Containers {
				if got := mountPaths(c.VolumeMounts); !slices.Equal(got, tc.Want[c.Name]) {
					t.Errorf("mounts of %s = %v, want %v", c.Name, got, tc.Want[c.Name])
				}
			}
			for _, c := range res.Template.Spec.InitContainers {
				if c.Name == "migrate" && len(c.VolumeMounts) > 0 {
					t.Errorf("init container migrate got mounts %v", mountPaths(c.VolumeMounts))
				}
			}
			if got := mustRecord(t, res.Template).Profiles[0].Mounts; !slices.Equal(got, tc.WantRecord) {
				t.Errorf("recorded mounts = %v, want %v", got, tc.WantRecord)
			}
			for _, c := range res.Template.Spec.Containers {
				for _, m := range c.VolumeMounts {
					if m.MountPath == "/b" && (m.SubPath != "sub" || !m.ReadOnly) {
						t.Errorf("mount /b in %s = %+v, want subPath sub, readOnly", c.Name, m)
					}
				}
			}
			expectTemplate(t, "removed again", in.Template, mustRemove(t, res.Template))
		})
	}
}

func TestInject_IsIdempotent(t *testing.T) {
	for _, sc := range injectcases.Scenarios() {
		t.Run(sc.Name, func(t *testing.T) {
			first := mustInject(t, sc.Template, sc.Profiles...)
			if !first.Changed {
				t.Fatalf("first injection: Changed = false")
			}
			second := mustInject(t, first.Template, sc.Profiles...)
			if second.Changed {
				t.Errorf("second injection: Changed = true")
			}
			expectTemplate(t, "second injection", first.Template, second.Template)
			if !slices.EqualFunc(first.Profiles, second.Profiles, func(a, b inject.ProfileResult) bool {
				return a.Ref == b.Ref && a.Outcome == b.Outcome && a.RecordedRevision == b.RecordedRevision &&
					len(a.Conflicts) == len(b.Conflicts)
			}) {
				t.Errorf("results differ: first %+v, second %+v", first.Profiles, second.Profiles)
			}
		})
	}
}

func TestInject_IgnoresFieldsTheApiserverDefaulted(t *testing.T) {
	tc := injectcases.DefaultedVolumes()
	p := tc.Profiles[0]
	injected := mustInject(t, tc.Template, p).Template

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
			if pr := profileResult(t, res, p); pr.Outcome != inject.Injected {
				t.Errorf("outcome = %s, want Injected", pr.Outcome)
			}
			expectTemplate(t, "restored", injected, res.Template)
		})
	}
}

func TestRemove_GivesBackTheTemplateBeforeInjection(t *testing.T) {
	for _, sc := range injectcases.Scenarios() {
		t.Run(sc.Name, func(t *testing.T) {
			injected := mustInject(t, sc.Template, sc.Profiles...)
			expectTemplate(t, "Remove(Inject(t))", sc.Template, mustRemove(t, injected.Template))

			none := mustInject(t, injected.Template)
			expectTemplate(t, "Inject(Inject(t), nil)", sc.Template, none.Template)
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
		tmpl := injectcases.Scenarios()[1].Template
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
	if refs := mustRecord(t, res.Template).Refs(); !slices.Equal(refs, []inject.ProfileRef{mesh.Ref}) {
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
			if pr.Outcome != inject.Injected || pr.Revision == inject.Revision(v1.Spec) || pr.RecordedRevision != pr.Revision {
				t.Errorf("result = %+v, want Injected in a new revision (old %s)", pr, inject.Revision(v1.Spec))
			}
			if e, _ := mustRecord(t, res.Template).Entry(v2.Ref); e.Hash != inject.Revision(v2.Spec) {
				t.Errorf("recorded hash = %s, want %s", e.Hash, inject.Revision(v2.Spec))
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
		if inject.Revision(withSpec(p, change).Spec) != inject.Revision(p.Spec) {
			t.Errorf("changing %s changed the revision", name)
		}
	}
}

func TestInject_ReportsConflictsAndLeavesTheWorkloadsItemsAlone(t *testing.T) {
	for _, tc := range injectcases.Conflicts() {
		t.Run(tc.Name, func(t *testing.T) {
			before := tc.Template.DeepCopy()
			injectProfiles := func(profiles []inject.Profile) inject.Result {
				t.Helper()
				res, err := inject.Inject(tc.Template, profiles, tc.Case().Options()...)
				if err != nil {
					t.Fatalf("Inject: %v", err)
				}
				return res
			}
			res := injectProfiles(tc.Profiles)
			expectTemplate(t, "the input", before, tc.Template)

			pr, ok := res.Profile(tc.Conflicted)
			if !ok || pr.Outcome != inject.Conflicted || len(pr.Conflicts) == 0 {
				t.Fatalf("result for %s = %+v, want Conflicted with conflicts", tc.Conflicted, pr)
			}
			if pr.RecordedRevision != "" {
				t.Errorf("RecordedRevision = %q, want none", pr.RecordedRevision)
			}
			if got := pr.Conflicts[0]; got != tc.Want {
				t.Errorf("conflict = %+v, want %+v", got, tc.Want)
			}
			msg := pr.Conflicts[0].Message()
			for _, part := range []string{tc.Want.Field, tc.Want.Name, tc.Want.Owner, "rename"} {
				if !strings.Contains(msg, part) {
					t.Errorf("message %q does not mention %q", msg, part)
				}
			}
			if tc.Want.Container != "" && !strings.Contains(msg, tc.Want.Container) {
				t.Errorf("message %q does not name the container %q", msg, tc.Want.Container)
			}
			if _, recorded := mustRecord(t, res.Template).Entry(tc.Conflicted); recorded {
				t.Errorf("the conflicted profile is recorded")
			}
			if got := containerNames(res.Template.Spec.InitContainers); !slices.Equal(got, tc.WantInit) {
				t.Errorf("init containers = %v, want %v", got, tc.WantInit)
			}
			// The workload's own items are all there, unchanged.
			stripped := mustRemove(t, res.Template)
			expectTemplate(t, "the workload's own items", before, stripped)
			// And a conflicted profile adds nothing: the result is what the other profiles give alone.
			var others []inject.Profile
			for _, p := range tc.Profiles {
				if p.Ref != tc.Conflicted {
					others = append(others, p)
				}
			}
			expectTemplate(t, "without the conflicted profile", injectProfiles(others).Template, res.Template)
		})
	}
}

func TestConflict_MessageNamesTheFieldAndSaysToRename(t *testing.T) {
	for _, tc := range []struct {
		c    inject.Conflict
		want string
	}{
		{
			inject.Conflict{Field: "spec.sidecars[0].name", What: "container", Name: "app", Owner: inject.OwnerWorkload},
			`container "app" (spec.sidecars[0].name) is already used by the workload: rename it in the profile`,
		},
		{
			inject.Conflict{Field: "spec.appContainerMounts[1].mountPath", What: "mount path", Name: "/opt", Container: "web", Owner: "ClusterSidecarProfile/logs"},
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
	if pr.Outcome != inject.Conflicted || pr.RecordedRevision != inject.Revision(v1.Spec) || pr.Revision != inject.Revision(v2.Spec) {
		t.Errorf("result = %+v, want Conflicted, recorded revision %s (old), revision %s", pr, inject.Revision(v1.Spec), inject.Revision(v2.Spec))
	}
	want := inject.Conflict{Field: "spec.sidecars[1].name", What: "container", Name: "migrate", Owner: inject.OwnerWorkload}
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
		profile      inject.Profile
		wantOutcome  inject.Outcome
		wantRecorded string
	}{
		{"injected in an older revision: kept as it is", injectedV1, asKeepOnly(v2), inject.Kept, inject.Revision(v1.Spec)},
		{"injected in the current revision", injectedV1, asKeepOnly(v1), inject.Injected, inject.Revision(v1.Spec)},
		{"not injected: skipped", tmpl, asKeepOnly(v1), inject.Skipped, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := mustInject(t, tc.tmpl, tc.profile)
			pr := profileResult(t, res, tc.profile)
			if pr.Outcome != tc.wantOutcome || pr.RecordedRevision != tc.wantRecorded || pr.Revision != inject.Revision(tc.profile.Spec) {
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
			if _, err := inject.Inject(tmpl, []inject.Profile{logShipper("logs")}); err == nil || !strings.Contains(err.Error(), v1alpha1.InjectionAnnotation) {
				t.Errorf("Inject: error = %v, want one naming %s", err, v1alpha1.InjectionAnnotation)
			}
			if _, err := inject.Remove(tmpl); err == nil || !strings.Contains(err.Error(), v1alpha1.InjectionAnnotation) {
				t.Errorf("Remove: error = %v, want one naming %s", err, v1alpha1.InjectionAnnotation)
			}
		})
	}
}

func TestInject_RecordsWhatEachProfileAdded(t *testing.T) {
	tc := injectcases.TwoProfilesRecorded()
	logs, mesh := tc.Profiles[0], tc.Profiles[1]

	res := mustInject(t, tc.Template, logs, mesh)

	if got := res.Template.Labels[v1alpha1.InjectedLabel]; got != "true" {
		t.Errorf("label %s = %q, want \"true\"", v1alpha1.InjectedLabel, got)
	}
	raw := res.Template.Annotations[v1alpha1.InjectionAnnotation]
	var got inject.Record
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("annotation is not JSON: %v\n%s", err, raw)
	}
	want := inject.Record{Profiles: []inject.RecordEntry{
		{
			ProfileRef: mesh.Ref, Hash: inject.Revision(mesh.Spec), Placement: v1alpha1.PlacementAfterInitContainers,
			InitContainers: []string{"proxy", "agent"},
		},
		{
			ProfileRef: logs.Ref, Hash: inject.Revision(logs.Spec), Placement: v1alpha1.PlacementBeforeInitContainers,
			InitContainers: []string{"logshipper"}, Volumes: []string{"data"},
			Mounts: []inject.MountRef{{Container: "web", MountPath: "/opt"}, {Container: "worker", MountPath: "/opt"},
				{Container: "worker", MountPath: "/logs"}},
		},
	}}
	if !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("record = %s\nwant %s", dump(got), dump(want))
	}
	for _, key := range []string{`"kind":"ClusterSidecarProfile"`, `"name":"mesh"`, `"hash":"` + inject.Revision(mesh.Spec) + `"`,
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
	for _, sc := range injectcases.Scenarios() {
		t.Run(sc.Name, func(t *testing.T) {
			tmpl := sc.Template.DeepCopy()
			var specs []*v1alpha1.SidecarProfileSpec
			for _, p := range sc.Profiles {
				specs = append(specs, p.Spec.DeepCopy())
			}
			injected := mustInject(t, sc.Template, sc.Profiles...).Template
			injectedCopy := injected.DeepCopy()
			mustInject(t, injected, sc.Profiles[:1]...)
			mustRemove(t, injected)

			expectTemplate(t, "input template", tmpl, sc.Template)
			expectTemplate(t, "injected template given back", injectedCopy, injected)
			for i, p := range sc.Profiles {
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

	if pr := profileResult(t, res, incumbent); pr.Outcome != inject.Injected {
		t.Errorf("incumbent outcome = %s, want Injected", pr.Outcome)
	}
	pr := profileResult(t, res, newcomer)
	want := inject.Conflict{Field: "spec.sidecars[0].name", What: "container", Name: "x", Owner: "SidecarProfile/q"}
	if pr.Outcome != inject.Conflicted || len(pr.Conflicts) != 1 || pr.Conflicts[0] != want {
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
	if inject.Revision(a.Spec) != inject.Revision(b.Spec) {
		t.Errorf("revisions differ: %s vs %s", inject.Revision(a.Spec), inject.Revision(b.Spec))
	}
}

// Probes and ports get numeric defaults from the apiserver (timeoutSeconds 1, successThreshold 1,
// failureThreshold 3, protocol TCP): a sidecar whose probe sets only periodSeconds must not look changed once
// stored, or every reconcile would patch it (found on a real node by the e2e suite).
func TestInject_IgnoresProbeAndPortDefaults(t *testing.T) {
	tc := injectcases.ProbesAndPorts()
	p := tc.Profiles[0]
	injected := mustInject(t, tc.Template, p).Template

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
