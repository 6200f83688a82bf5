package inject_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/inject/injectcases"
)

// The fixtures of the shared override cases (injectcases): the log shipper with 64Mi/128Mi of memory,
// LOG_LEVEL=info and POD from the downward API, whose memory (the limit at most 1Gi), cpu request, LOG_LEVEL, POD
// and EXTRA a workload may override; and a workload's annotations asking for overrides.
var asking = injectcases.Asking

func shipperWithOverrides() inject.Profile { return injectcases.OverridableShipper("logs") }

func injectAsking(t *testing.T, tmpl *corev1.PodTemplateSpec, annotations map[string]string, profiles ...inject.Profile) inject.Result {
	t.Helper()
	res, err := inject.Inject(tmpl, profiles, inject.WorkloadAnnotations(annotations))
	if err != nil {
		t.Fatalf("Inject: %v", err)
	}
	return res
}

func shipperOf(t *testing.T, tmpl *corev1.PodTemplateSpec) corev1.Container {
	t.Helper()
	for _, c := range tmpl.Spec.InitContainers {
		if c.Name == "logshipper" {
			return c
		}
	}
	t.Fatalf("no logshipper in %v", tmpl.Spec.InitContainers)
	return corev1.Container{}
}

func TestInject_AppliesTheOverridesTheProfileAllows(t *testing.T) {
	cases := []struct {
		name    string
		asks    map[string]string
		check   func(t *testing.T, c corev1.Container)
		applied map[string]string
	}{
		{
			name:    "more memory for the log shipper",
			asks:    asking("logshipper.limits.memory=512Mi", "logshipper.requests.memory=256Mi"),
			applied: map[string]string{"logshipper.limits.memory": "512Mi", "logshipper.requests.memory": "256Mi"},
			check: func(t *testing.T, c corev1.Container) {
				if got := c.Resources.Limits.Memory().String(); got != "512Mi" {
					t.Errorf("limits.memory = %s, want 512Mi", got)
				}
				if got := c.Resources.Requests.Memory().String(); got != "256Mi" {
					t.Errorf("requests.memory = %s, want 256Mi", got)
				}
			},
		},
		{
			name:    "an env value replaced in place",
			asks:    asking("logshipper.env.LOG_LEVEL=debug"),
			applied: map[string]string{"logshipper.env.LOG_LEVEL": "debug"},
			check: func(t *testing.T, c corev1.Container) {
				want := []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "debug"}, c.Env[1]}
				if !equality.Semantic.DeepEqual(c.Env, want) || c.Env[1].Name != "POD" {
					t.Errorf("env = %v, want %v", c.Env, want)
				}
			},
		},
		{
			name:    "an env variable the sidecar does not have is added",
			asks:    asking("logshipper.env.EXTRA=1"),
			applied: map[string]string{"logshipper.env.EXTRA": "1"},
			check: func(t *testing.T, c corev1.Container) {
				want := []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "info"}, c.Env[1], {Name: "EXTRA", Value: "1"}}
				if !equality.Semantic.DeepEqual(c.Env, want) || c.Env[1].Name != "POD" {
					t.Errorf("env = %v, want %v", c.Env, want)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := injectAsking(t, appTemplate(), tc.asks, shipperWithOverrides())
			tc.check(t, shipperOf(t, res.Template))
			if got := res.Profiles[0].Overrides; !maps.Equal(got, tc.applied) {
				t.Errorf("applied overrides = %v, want %v", got, tc.applied)
			}
			rec, err := inject.ReadRecord(res.Template)
			if err != nil {
				t.Fatal(err)
			}
			if got := rec.Profiles[0].Overrides; !slices.Equal(got, slices.Sorted(maps.Keys(tc.applied))) {
				t.Errorf("recorded overrides = %v, want %v", got, tc.applied)
			}
			if len(res.Profiles[0].RefusedOverrides) > 0 {
				t.Errorf("refused: %v", res.Profiles[0].RefusedOverrides)
			}
		})
	}
}

func TestInject_RefusesAnOverrideAndKeepsTheProfilesValue(t *testing.T) {
	cases := []struct {
		name string
		asks map[string]string
		// want: parts of the refusal's message; annotation: the one refused.
		annotation string
		want       []string
	}{
		{"not allowed by the profile", asking("logshipper.limits.cpu=2"), "logshipper.limits.cpu",
			[]string{"does not allow", "limits.cpu", "spec.overrides"}},
		{"an env variable not allowed", asking("logshipper.env.SECRET=x"), "logshipper.env.SECRET",
			[]string{"does not allow", "SECRET"}},
		{"not a quantity", asking("logshipper.limits.memory=lots"), "logshipper.limits.memory",
			[]string{`"lots" is not a quantity`, "512Mi"}},
		{"above the profile's maximum", asking("logshipper.limits.memory=2Gi"), "logshipper.limits.memory",
			[]string{"above the profile's maximum of 1Gi", "spec.overrides[0].resources[1].max"}},
		{"a request above the limit", asking("logshipper.requests.memory=256Mi"), "logshipper.requests.memory",
			[]string{"request of memory (256Mi) would be above its limit (128Mi)"}},
		{"a field Outrigger does not override", asking("logshipper.image=evil:1"), "logshipper.image",
			[]string{`"image" is not a value Outrigger overrides`, "limits.memory", "env.<NAME>"}},
		{"a negative quantity", asking("logshipper.requests.memory=-1Mi"), "logshipper.requests.memory",
			[]string{"cannot be negative"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := mustInject(t, appTemplate(), shipperWithOverrides())
			res := injectAsking(t, appTemplate(), tc.asks, shipperWithOverrides())
			if !equality.Semantic.DeepEqual(res.Template, want.Template) {
				t.Errorf("the refused override changed the template:\n got %v\nwant %v", shipperOf(t, res.Template), shipperOf(t, want.Template))
			}
			refused := res.Profiles[0].RefusedOverrides
			if len(refused) != 1 || refused[0].Annotation != v1alpha1.OverrideAnnotationPrefix+tc.annotation {
				t.Fatalf("refused = %v, want one of %s", refused, tc.annotation)
			}
			for _, w := range append(tc.want, v1alpha1.OverrideAnnotationPrefix+tc.annotation) {
				if msg := refused[0].Message(); !strings.Contains(msg, w) {
					t.Errorf("message %q does not say %q", msg, w)
				}
			}
		})
	}
}

func TestInject_ReportsAnOverrideOfASidecarNoProfileHas(t *testing.T) {
	res := injectAsking(t, appTemplate(), asking("logshiper.limits.memory=512Mi"), shipperWithOverrides())
	if len(res.Unclaimed) != 1 || !strings.Contains(res.Unclaimed[0].Message(), `no profile that selects the workload has a sidecar "logshiper"`) {
		t.Fatalf("unclaimed = %v", res.Unclaimed)
	}
	if len(res.Profiles[0].RefusedOverrides) > 0 {
		t.Errorf("the profile refused %v: the override is not its own", res.Profiles[0].RefusedOverrides)
	}
}

func TestInject_IgnoresOutriggersOwnAnnotations(t *testing.T) {
	res := injectAsking(t, appTemplate(), map[string]string{v1alpha1.InjectLabel: "enabled", "example.com/logshipper.limits.memory": "1Gi"}, shipperWithOverrides())
	if len(res.Unclaimed) > 0 || len(res.Profiles[0].RefusedOverrides) > 0 || len(res.Profiles[0].Overrides) > 0 {
		t.Fatalf("read annotations that ask for no override: %+v", res)
	}
}

// An override is part of what was rendered: asking again changes nothing, a changed value is a change, removing
// the annotation gives the profile's value back, and Remove gives back the workload's own template.
func TestInject_FollowsTheWorkloadsOverrides(t *testing.T) {
	p := shipperWithOverrides()
	first := injectAsking(t, appTemplate(), asking("logshipper.limits.memory=512Mi"), p)
	if again := injectAsking(t, first.Template, asking("logshipper.limits.memory=512Mi"), p); again.Changed {
		t.Errorf("injecting again with the same override changed the template")
	}
	changed := injectAsking(t, first.Template, asking("logshipper.limits.memory=768Mi"), p)
	if limits := shipperOf(t, changed.Template).Resources.Limits; !changed.Changed || limits.Memory().String() != "768Mi" {
		t.Errorf("a changed override: changed=%v limits=%v", changed.Changed, shipperOf(t, changed.Template).Resources.Limits)
	}
	dropped := injectAsking(t, changed.Template, nil, p)
	if want := mustInject(t, appTemplate(), p); !equality.Semantic.DeepEqual(dropped.Template, want.Template) {
		t.Errorf("without the annotation the profile's values are not back:\n got %v\nwant %v", shipperOf(t, dropped.Template), shipperOf(t, want.Template))
	}
	if removed := mustRemove(t, changed.Template); !equality.Semantic.DeepEqual(removed, appTemplate()) {
		t.Errorf("Remove after an override:\n got %v\nwant %v", removed, appTemplate())
	}
}

// An override of a value the profile leaves unset is gone with its annotation: the record says it was applied,
// as the live container alone would look like the profile's plus a defaulted field.
func TestInject_DropsAnOverrideOfAValueTheProfileLeavesUnset(t *testing.T) {
	p := shipperWithOverrides()
	first := injectAsking(t, appTemplate(), asking("logshipper.requests.cpu=250m"), p)
	if got := shipperOf(t, first.Template).Resources.Requests[corev1.ResourceCPU]; got.String() != "250m" {
		t.Fatalf("requests.cpu = %s, want 250m", got.String())
	}
	dropped := injectAsking(t, first.Template, nil, p)
	if _, ok := shipperOf(t, dropped.Template).Resources.Requests[corev1.ResourceCPU]; ok || !dropped.Changed {
		t.Errorf("the dropped override stayed: requests %v", shipperOf(t, dropped.Template).Resources.Requests)
	}
}

// A profile with updatePolicy OnCreate keeps what the workload has, overrides included.
func TestInject_KeepOnlyKeepsTheRecordedOverrides(t *testing.T) {
	p := shipperWithOverrides()
	first := injectAsking(t, appTemplate(), asking("logshipper.limits.memory=512Mi"), p)
	kept := injectAsking(t, first.Template, asking("logshipper.limits.memory=768Mi"), asKeepOnly(p))
	if kept.Changed {
		t.Errorf("KeepOnly changed the template: limits %v", shipperOf(t, kept.Template).Resources.Limits)
	}
}

func TestRevision_ChangesWithTheOverridesAllowedNotTheirOrder(t *testing.T) {
	base := shipperWithOverrides()
	reordered := withSpec(base, func(s *v1alpha1.SidecarProfileSpec) {
		o := &s.Overrides[0]
		o.Resources[0], o.Resources[2] = o.Resources[2], o.Resources[0]
		o.Env[0], o.Env[1] = o.Env[1], o.Env[0]
	})
	if inject.Revision(base.Spec) != inject.Revision(reordered.Spec) {
		t.Errorf("reordering spec.overrides changed the revision")
	}
	fewer := withSpec(base, func(s *v1alpha1.SidecarProfileSpec) { s.Overrides[0].Env = s.Overrides[0].Env[:1] })
	if inject.Revision(base.Spec) == inject.Revision(fewer.Spec) {
		t.Errorf("allowing fewer overrides kept the revision")
	}
	none := withSpec(base, func(s *v1alpha1.SidecarProfileSpec) { s.Overrides = nil })
	empty := withSpec(base, func(s *v1alpha1.SidecarProfileSpec) { s.Overrides = []v1alpha1.SidecarOverride{} })
	if inject.Revision(none.Spec) != inject.Revision(empty.Spec) {
		t.Errorf("an empty spec.overrides has another revision than none")
	}
}

func appTemplate() *corev1.PodTemplateSpec {
	return podTemplate(withContainers(appContainer("app")))
}
