// Package injectcases holds the injection engine's table cases: a workload's pod template, the profiles that
// select it and what the engine must make of them, written with the builders of builders.go. The engine's unit
// tests (internal/inject) assert each case's expectations; the admission test (test/admission) creates every case
// of All on a real apiserver twice, through the compiled MutatingAdmissionPolicies and injected by the engine as
// the webhook injects, and compares what is stored. One table, so that every rule the engine is tested on, the
// policies are tested on too.
package injectcases

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// Case is one injection: a workload's pod template and the profiles that select it.
type Case struct {
	Name     string
	Template *corev1.PodTemplateSpec
	Profiles []inject.Profile
	// ClaimTemplates are the names of a StatefulSet's volumeClaimTemplates: a case that has them is a
	// StatefulSet's, whose containers may mount them.
	ClaimTemplates []string
	// Annotations are the workload's own annotations (those that ask for overrides).
	Annotations map[string]string
}

// Options are the engine's options for the case's workload, as the webhook and the reconcilers give them.
func (c Case) Options() []inject.Option {
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Annotations: c.Annotations}}
	for _, n := range c.ClaimTemplates {
		sts.Spec.VolumeClaimTemplates = append(sts.Spec.VolumeClaimTemplates, corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: n}})
	}
	return workload.StatefulSet.InjectOptions(sts)
}

// All are the cases in which profiles inject a pod template that carries no injection yet, as an admission does:
// every table's and every single case's, each named after its table. Left out are the engine's cases of a
// template injected before (a profile changed, removed, or kept as it is; items edited or deleted by hand; an
// invalid record), which no admission policy acts on: they are the reconciler's.
func All() []Case {
	var out []Case
	add := func(table string, cs ...Case) {
		for _, c := range cs {
			c.Name = table + "/" + c.Name
			out = append(out, c)
		}
	}
	for _, c := range Placements() {
		add("placement", c.Case())
	}
	for _, c := range Mounts() {
		add("app mounts", c.Case())
	}
	add("scenario", Scenarios()...)
	for _, c := range Conflicts() {
		add("conflict", c.Case())
	}
	add("order", PlacementOrder().Case)
	add("single", EverySidecarRestartsAlways(), TwoProfilesRecorded(), ProbesAndPorts(), DefaultedVolumes())
	add("overrides", Overrides()...)
	return out
}

// Placement is a case of where sidecars go among the workload's own init containers: each profile has one
// sidecar, "<name>-sc".
type Placement struct {
	Name       string
	Placements map[string]v1alpha1.Placement // profile name -> placement
	UserInits  []string
	// Want are the init containers afterwards; WantRecord each profile's recorded placement.
	Want       []string
	WantRecord map[string]v1alpha1.Placement
}

// Case is the placement's template and profiles.
func (p Placement) Case() Case {
	tmpl := PodTemplate(WithContainers(AppContainer("app")))
	for _, n := range p.UserInits {
		WithInitContainers(UserInit(n))(tmpl)
	}
	var profiles []inject.Profile
	for name, pl := range p.Placements {
		profiles = append(profiles, Profile(name, WithSidecars(Sidecar(name+"-sc", "img:1")), WithPlacement(pl)))
	}
	return Case{Name: p.Name, Template: tmpl, Profiles: profiles}
}

// Placements are the placements before and after the workload's init containers.
func Placements() []Placement {
	before, after := v1alpha1.PlacementBeforeInitContainers, v1alpha1.PlacementAfterInitContainers
	return []Placement{
		{
			Name:       "default is before the workload's init containers",
			Placements: map[string]v1alpha1.Placement{"p": ""},
			UserInits:  []string{"init1", "init2"},
			Want:       []string{"p-sc", "init1", "init2"},
			WantRecord: map[string]v1alpha1.Placement{"p": before},
		},
		{
			Name:       "BeforeInitContainers",
			Placements: map[string]v1alpha1.Placement{"p": before},
			UserInits:  []string{"init1", "init2"},
			Want:       []string{"p-sc", "init1", "init2"},
			WantRecord: map[string]v1alpha1.Placement{"p": before},
		},
		{
			Name:       "AfterInitContainers",
			Placements: map[string]v1alpha1.Placement{"p": after},
			UserInits:  []string{"init1", "init2"},
			Want:       []string{"init1", "init2", "p-sc"},
			WantRecord: map[string]v1alpha1.Placement{"p": after},
		},
		{
			Name:       "AfterInitContainers without init containers of the workload",
			Placements: map[string]v1alpha1.Placement{"p": after},
			Want:       []string{"p-sc"},
			WantRecord: map[string]v1alpha1.Placement{"p": after},
		},
		{
			Name:       "one profile before and one after, each group in profile order",
			Placements: map[string]v1alpha1.Placement{"a": after, "b": before, "c": after, "d": ""},
			UserInits:  []string{"init1"},
			Want:       []string{"b-sc", "d-sc", "init1", "a-sc", "c-sc"},
			WantRecord: map[string]v1alpha1.Placement{"a": after, "b": before, "c": after, "d": before},
		},
	}
}

// Mount is a case of a profile's spec.appContainerMounts, into a template with the app containers web (with a
// mount of its own at /srv), worker and metrics and the init container migrate; the profile's volume is data.
type Mount struct {
	Name   string
	Mounts []v1alpha1.AppContainerMount
	// Want are each app container's mounts afterwards, as volume:path; WantRecord the mounts recorded.
	Want       map[string][]string
	WantRecord []inject.MountRef
}

// Case is the mount's template and profile.
func (m Mount) Case() Case {
	tmpl := PodTemplate(
		WithContainers(AppContainer("web", VolumeMount("own", "/srv")), AppContainer("worker"), AppContainer("metrics")),
		WithInitContainers(UserInit("migrate")),
		WithVolumes(EmptyDir("own")),
	)
	p := Profile("p", WithSidecars(Sidecar("sc", "img:1", VolumeMount("data", "/data"))),
		WithProfileVolumes(EmptyDir("data")), WithAppMounts(m.Mounts...))
	return Case{Name: m.Name, Template: tmpl, Profiles: []inject.Profile{p}}
}

// mounted is a recorded mount.
func mounted(container, path string) inject.MountRef {
	return inject.MountRef{Container: container, MountPath: path}
}

// Mounts are the app containers a profile's volume goes into.
func Mounts() []Mount {
	return []Mount{
		{
			Name:   "no containers named: every app container",
			Mounts: []v1alpha1.AppContainerMount{AppMount("data", "/opt")},
			Want: map[string][]string{
				"web": {"own:/srv", "data:/opt"}, "worker": {"data:/opt"}, "metrics": {"data:/opt"},
			},
			WantRecord: []inject.MountRef{mounted("web", "/opt"), mounted("worker", "/opt"), mounted("metrics", "/opt")},
		},
		{
			Name:   "only the app containers named",
			Mounts: []v1alpha1.AppContainerMount{AppMount("data", "/opt", "metrics", "web")},
			Want: map[string][]string{
				"web": {"own:/srv", "data:/opt"}, "worker": {}, "metrics": {"data:/opt"},
			},
			WantRecord: []inject.MountRef{mounted("web", "/opt"), mounted("metrics", "/opt")},
		},
		{
			Name:   "a named container that does not exist is skipped",
			Mounts: []v1alpha1.AppContainerMount{AppMount("data", "/opt", "worker", "gone")},
			Want: map[string][]string{
				"web": {"own:/srv"}, "worker": {"data:/opt"}, "metrics": {},
			},
			WantRecord: []inject.MountRef{mounted("worker", "/opt")},
		},
		{
			Name:   "only containers that do not exist: nothing mounted, the sidecar still injected",
			Mounts: []v1alpha1.AppContainerMount{AppMount("data", "/opt", "gone")},
			Want: map[string][]string{
				"web": {"own:/srv"}, "worker": {}, "metrics": {},
			},
		},
		{
			Name:   "init containers are not app containers",
			Mounts: []v1alpha1.AppContainerMount{AppMount("data", "/opt", "migrate")},
			Want: map[string][]string{
				"web": {"own:/srv"}, "worker": {}, "metrics": {},
			},
		},
		{
			Name: "several mounts keep the profile's order, subPath and readOnly",
			Mounts: []v1alpha1.AppContainerMount{
				{Name: "data", MountPath: "/b", SubPath: "sub", ReadOnly: true, Containers: []string{"web"}},
				AppMount("data", "/a", "web"),
			},
			Want: map[string][]string{
				"web": {"own:/srv", "data:/b", "data:/a"}, "worker": {}, "metrics": {},
			},
			WantRecord: []inject.MountRef{mounted("web", "/b"), mounted("web", "/a")},
		},
	}
}

// Scenarios are templates and profile sets that most invariant tests run over.
func Scenarios() []Case {
	return []Case{
		{
			Name:     "one profile, plain template",
			Template: PodTemplate(WithContainers(AppContainer("app"))),
			Profiles: []inject.Profile{LogShipper("logs")},
		},
		{
			Name: "two profiles, both placements, template with its own init containers, volumes, labels, annotations",
			Template: PodTemplate(
				WithContainers(AppContainer("web", VolumeMount("cache", "/cache")), AppContainer("worker")),
				WithInitContainers(UserInit("migrate"), UserInit("seed")),
				WithVolumes(EmptyDir("cache"), EmptyDir("tmp")),
				WithLabel("app", "web"), WithAnnotation("team", "core"),
			),
			Profiles: []inject.Profile{
				LogShipper("logs"),
				ClusterProfile("mesh", WithOrder(-1), WithSidecars(Sidecar("proxy", "envoy:1"), Sidecar("agent", "agent:1")),
					WithPlacement(v1alpha1.PlacementAfterInitContainers)),
			},
		},
		{
			Name:     "a conflicting profile next to an injected one",
			Template: PodTemplate(WithContainers(AppContainer("app")), WithVolumes(EmptyDir("data"))),
			Profiles: []inject.Profile{
				LogShipper("logs"),
				Profile("metrics", WithSidecars(Sidecar("exporter", "exporter:1"))),
			},
		},
		{
			Name:     "no app containers matched",
			Template: PodTemplate(WithContainers(AppContainer("app"))),
			Profiles: []inject.Profile{
				Profile("p", WithSidecars(Sidecar("sc", "img:1")), WithProfileVolumes(EmptyDir("v")),
					WithAppMounts(AppMount("v", "/v", "other"))),
			},
		},
	}
}

// Conflict is a case in which a profile's name is taken: by the workload, or by a profile placed before it.
type Conflict struct {
	Name           string
	Template       *corev1.PodTemplateSpec
	Profiles       []inject.Profile
	ClaimTemplates []string
	// Conflicted is the profile expected to conflict, Want its (first) conflict, WantInit the init containers
	// afterwards.
	Conflicted inject.ProfileRef
	Want       inject.Conflict
	WantInit   []string
}

// Case is the conflict's template and profiles.
func (c Conflict) Case() Case {
	return Case{Name: c.Name, Template: c.Template, Profiles: c.Profiles, ClaimTemplates: c.ClaimTemplates}
}

// Conflicts are the names a profile cannot take.
func Conflicts() []Conflict {
	sidecarProfile := func(name string) inject.ProfileRef {
		return inject.ProfileRef{Kind: inject.KindSidecarProfile, Name: name}
	}
	return []Conflict{
		{
			Name:       "sidecar named like an app container",
			Template:   PodTemplate(WithContainers(AppContainer("app"), AppContainer("logshipper"))),
			Profiles:   []inject.Profile{LogShipper("logs")},
			Conflicted: sidecarProfile("logs"),
			Want:       inject.Conflict{Field: "spec.sidecars[0].name", What: "container", Name: "logshipper", Owner: inject.OwnerWorkload},
			WantInit:   []string{},
		},
		{
			Name:     "second sidecar named like an init container of the workload",
			Template: PodTemplate(WithContainers(AppContainer("app")), WithInitContainers(UserInit("migrate"))),
			Profiles: []inject.Profile{Profile("p", WithSidecars(Sidecar("fine", "img:1"),
				corev1.Container{Name: "migrate", Image: "img:2"}))},
			Conflicted: sidecarProfile("p"),
			Want:       inject.Conflict{Field: "spec.sidecars[1].name", What: "container", Name: "migrate", Owner: inject.OwnerWorkload},
			WantInit:   []string{"migrate"},
		},
		{
			Name:       "volume named like a volume of the workload",
			Template:   PodTemplate(WithContainers(AppContainer("app", VolumeMount("data", "/var/data"))), WithVolumes(EmptyDir("data"))),
			Profiles:   []inject.Profile{LogShipper("logs")},
			Conflicted: sidecarProfile("logs"),
			Want:       inject.Conflict{Field: "spec.volumes[0].name", What: "volume", Name: "data", Owner: inject.OwnerWorkload},
			WantInit:   []string{},
		},
		{
			Name:           "volume named like a claim template of the StatefulSet",
			Template:       PodTemplate(WithContainers(AppContainer("app", VolumeMount("data", "/var/lib/db")))),
			Profiles:       []inject.Profile{LogShipper("logs")},
			ClaimTemplates: []string{"www", "data"},
			Conflicted:     sidecarProfile("logs"),
			Want:           inject.Conflict{Field: "spec.volumes[0].name", What: "volume", Name: "data", Owner: "the StatefulSet's volumeClaimTemplates"},
			WantInit:       []string{},
		},
		{
			Name:       "mount path an app container already uses",
			Template:   PodTemplate(WithContainers(AppContainer("app"), AppContainer("web", VolumeMount("html", "/opt"))), WithVolumes(EmptyDir("html"))),
			Profiles:   []inject.Profile{LogShipper("logs")},
			Conflicted: sidecarProfile("logs"),
			Want: inject.Conflict{Field: "spec.appContainerMounts[0].mountPath", What: "mount path", Name: "/opt",
				Container: "web", Owner: inject.OwnerWorkload},
			WantInit: []string{},
		},
		{
			Name:     "two profiles with the same sidecar name: the one placed second conflicts",
			Template: PodTemplate(WithContainers(AppContainer("app"))),
			Profiles: []inject.Profile{
				Profile("b", WithSidecars(Sidecar("other", "img:1"), Sidecar("proxy", "envoy:2"))),
				Profile("a", WithSidecars(Sidecar("proxy", "envoy:1"))),
			},
			Conflicted: sidecarProfile("b"),
			Want:       inject.Conflict{Field: "spec.sidecars[1].name", What: "container", Name: "proxy", Owner: "SidecarProfile/a"},
			WantInit:   []string{"proxy"},
		},
		{
			Name:     "order beats name: the profile with the lower order keeps the name",
			Template: PodTemplate(WithContainers(AppContainer("app"))),
			Profiles: []inject.Profile{
				ClusterProfile("b", WithOrder(-1), WithSidecars(Sidecar("proxy", "envoy:2"))),
				Profile("a", WithSidecars(Sidecar("proxy", "envoy:1"))),
			},
			Conflicted: sidecarProfile("a"),
			Want:       inject.Conflict{Field: "spec.sidecars[0].name", What: "container", Name: "proxy", Owner: "ClusterSidecarProfile/b"},
			WantInit:   []string{"proxy"},
		},
		{
			// The apiserver refuses such a profile; the engine and the policies must still agree on one that got past.
			Name:     "a profile that uses one sidecar name twice (the apiserver would refuse it)",
			Template: PodTemplate(WithContainers(AppContainer("app"))),
			Profiles: []inject.Profile{
				Profile("p", WithSidecars(Sidecar("twin", "img:1"), Sidecar("twin", "img:2"))),
			},
			Conflicted: sidecarProfile("p"),
			Want:       inject.Conflict{Field: "spec.sidecars[1].name", What: "container", Name: "twin", Owner: "SidecarProfile/p"},
			WantInit:   []string{},
		},
		{
			Name:     "two profiles with the same volume name",
			Template: PodTemplate(WithContainers(AppContainer("app"))),
			Profiles: []inject.Profile{
				LogShipper("a"),
				Profile("b", WithSidecars(Sidecar("reader", "img:1")), WithProfileVolumes(EmptyDir("data"))),
			},
			Conflicted: sidecarProfile("b"),
			Want:       inject.Conflict{Field: "spec.volumes[0].name", What: "volume", Name: "data", Owner: "SidecarProfile/a"},
			WantInit:   []string{"logshipper"},
		},
	}
}

// Order is the case of the order sidecars of several profiles are placed in: ascending order, then name, then
// kind, within each placement.
type Order struct {
	Case
	// WantInit are the init containers afterwards, WantResults the profiles' results in order.
	WantInit    []string
	WantResults []inject.ProfileRef
}

// PlacementOrder is five profiles, a-order1 placed after the workload's init container, to show that order
// decides within a placement.
func PlacementOrder() Order {
	one := func(p string) func(*inject.Profile) { return WithSidecars(Sidecar(p, "img:1")) }
	return Order{
		Case: Case{
			Name:     "order then name then kind",
			Template: PodTemplate(WithContainers(AppContainer("app")), WithInitContainers(UserInit("migrate"))),
			Profiles: []inject.Profile{
				Profile("a", one("a-order1"), WithOrder(1), WithPlacement(v1alpha1.PlacementAfterInitContainers)),
				Profile("b", one("b-ns")),
				ClusterProfile("b", one("b-cluster")),
				Profile("c", one("c")),
				ClusterProfile("z", one("z-order-1"), WithOrder(-1)),
			},
		},
		WantInit: []string{"z-order-1", "b-cluster", "b-ns", "c", "migrate", "a-order1"},
		WantResults: []inject.ProfileRef{
			{Kind: inject.KindClusterSidecarProfile, Name: "z"}, {Kind: inject.KindClusterSidecarProfile, Name: "b"},
			{Kind: inject.KindSidecarProfile, Name: "b"}, {Kind: inject.KindSidecarProfile, Name: "c"},
			{Kind: inject.KindSidecarProfile, Name: "a"},
		},
	}
}

// EverySidecarRestartsAlways is two profiles, one with a sidecar that sets restartPolicy Always itself, one placed
// after the workload's init container.
func EverySidecarRestartsAlways() Case {
	always := corev1.ContainerRestartPolicyAlways
	explicit := Sidecar("explicit", "img:1")
	explicit.RestartPolicy = &always
	return Case{
		Name:     "every sidecar restarts always",
		Template: PodTemplate(WithContainers(AppContainer("app")), WithInitContainers(UserInit("migrate"))),
		Profiles: []inject.Profile{
			Profile("a", WithSidecars(Sidecar("one", "img:1"), explicit)),
			ClusterProfile("b", WithSidecars(Sidecar("two", "img:2")), WithPlacement(v1alpha1.PlacementAfterInitContainers)),
		},
	}
}

// TwoProfilesRecorded is the log shipper, also mounting into worker only, and a mesh of two sidecars placed
// first, after the workload's init container: Profiles[0] is the log shipper, Profiles[1] the mesh.
func TwoProfilesRecorded() Case {
	return Case{
		Name:     "what each profile added is recorded",
		Template: PodTemplate(WithContainers(AppContainer("web"), AppContainer("worker")), WithInitContainers(UserInit("migrate"))),
		Profiles: []inject.Profile{
			LogShipper("logs", WithAppMounts(AppMount("data", "/logs", "worker"))),
			ClusterProfile("mesh", WithOrder(-1), WithSidecars(Sidecar("proxy", "envoy:1"), Sidecar("agent", "agent:1")),
				WithPlacement(v1alpha1.PlacementAfterInitContainers)),
		},
	}
}

// ProbesAndPorts is a sidecar whose probes set only periodSeconds and whose port no protocol: the apiserver
// defaults the rest.
func ProbesAndPorts() Case {
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}, PeriodSeconds: 1}
	sc := Sidecar("proxy", "busybox:local")
	sc.LivenessProbe, sc.StartupProbe = probe.DeepCopy(), probe.DeepCopy()
	sc.Ports = []corev1.ContainerPort{{ContainerPort: 8080}}
	return Case{
		Name:     "probes and ports the apiserver defaults",
		Template: PodTemplate(WithContainers(AppContainer("app"))),
		Profiles: []inject.Profile{Profile("proxy", WithSidecars(sc))},
	}
}

// DefaultedVolumes is the log shipper with a ConfigMap volume too, whose defaultMode the apiserver sets.
func DefaultedVolumes() Case {
	cm := corev1.Volume{Name: "config", VolumeSource: corev1.VolumeSource{
		ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}},
	}}
	return Case{
		Name:     "a volume the apiserver defaults",
		Template: PodTemplate(WithContainers(AppContainer("app"))),
		Profiles: []inject.Profile{LogShipper("logs", WithProfileVolumes(cm))},
	}
}
