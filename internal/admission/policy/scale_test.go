package policy

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apiserver/pkg/admission"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/cel/environment"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// The apiserver parses every expression of a policy with CEL's parser, which refuses one longer than 100,000 code
// points or nested deeper than 250. A policy's expressions must not grow with its profiles: each is parsed here,
// as the apiserver parses it, within a quarter of each limit, so that a shard of four times as many profiles, or
// of larger ones, would still pass.
func TestCompile_AShardOfManyProfilesStaysWellWithinTheCELParsersLimits(t *testing.T) {
	env, err := environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()).Env(environment.StoredExpressions)
	if err != nil {
		t.Fatal(err)
	}
	if env, err = env.Extend(cel.ParserRecursionLimit(250/4), cel.ParserExpressionSizeLimit(100_000/4)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		profiles []*v1alpha1.ClusterSidecarProfile
	}{
		{"one profile", generated(1, distinct)},
		{"300 profiles", generated(300, distinct)},
		{"1,000 profiles", generated(1000, distinct)},
		{"300 profiles sharing a sidecar's name, a volume's and a mount path", generated(300, sharingAll)},
		{"300 profiles sharing names, mount paths, and volumes some mount without declaring them", generated(300, mixed)},
		{"a profile of the most deeply nested container and volume", []*v1alpha1.ClusterSidecarProfile{deepest()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, c := range compiled(t, workload.Deployment, tc.profiles) {
				longest := ""
				for field, expr := range expressionsOf(c) {
					if _, iss := env.Parse(expr); iss.Err() != nil {
						t.Errorf("%s %s does not parse within a quarter of the limits: %v", c.Policy.Name, field, iss.Err())
					}
					if len(expr) > len(longest) {
						longest = expr
					}
				}
				t.Logf("%s: %d variables, the longest expression %d characters", c.Policy.Name, len(c.Policy.Spec.Variables), len(longest))
			}
		})
	}
}

// A shard of many profiles that share names, mount paths and volumes places exactly what the engine places, with
// the webhook's warnings, through the apiserver's own CEL, well within its cost budget: the shard fails open, and
// a budget exceeded would inject nothing, silently. test/admission compares the stored workloads on a real
// apiserver, for the engine's cases and for a shard of 300 profiles.
func TestCompile_AShardOfManyProfilesPlacesWhatTheEngineDoes(t *testing.T) {
	profiles := generated(300, mixed)
	cs := compiled(t, workload.Deployment, profiles)
	if len(cs) != 1 {
		t.Fatalf("%d policies, want one", len(cs))
	}
	admit := mutating(t, cs[0].Policy)
	for _, tc := range []struct {
		name     string
		workload *appsv1.Deployment
	}{
		{"a workload with no name of the profiles'", webDeployment([]string{"app"}, nil)},
		{"a workload with a sidecar's name, a mount path and a volume the profiles mount", withMountPath(webDeployment([]string{"app", "shipper"}, []string{"data"}), "/var/log/shared")},
		{"a workload the profiles that select by label skip", withLabel(webDeployment([]string{"web", "app"}, []string{"logs"}), "app", "api")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			warnings, want := webhookWarnings(t, workload.Deployment, tc.workload, profiles)
			obj := tc.workload.DeepCopy()
			obj.SetGroupVersionKind(workload.Deployment.GVK)
			got, cost := admit(request{op: admission.Create, object: obj, gvr: workload.Deployment.GVK.GroupVersion().WithResource(workload.Deployment.Resource),
				namespace: "shop", user: alice, namespaceObj: namespaceObject("shop", nil)})
			if w, g := want.(*appsv1.Deployment).Spec.Template, got.(*appsv1.Deployment).Spec.Template; !equality.Semantic.DeepEqual(w, g) {
				t.Errorf("the policy's pod template is not the engine's\nengine: %+v\npolicy: %+v", w, g)
			}
			if cost > celconfig.RuntimeCELCostBudget/10 {
				t.Errorf("the evaluation cost %d, more than a tenth of the apiserver's budget (%d)", cost, celconfig.RuntimeCELCostBudget)
			}
			got2 := policyWarnings(t, workload.Deployment, want, profiles, alice)
			slices.Sort(warnings)
			slices.Sort(got2)
			if !slices.Equal(warnings, got2) {
				t.Errorf("the policy warns:\n%s\nthe webhook:\n%s", strings.Join(got2, "\n"), strings.Join(warnings, "\n"))
			}
			t.Logf("cost %d; %d warnings", cost, len(warnings))
		})
	}
}

func compiled(t *testing.T, kind workload.Kind, profiles []*v1alpha1.ClusterSidecarProfile) []Compiled {
	t.Helper()
	var in []Profile
	for _, p := range profiles {
		c, err := FromProfile(p, &p.Spec.SidecarProfileSpec)
		if err != nil {
			t.Fatal(err)
		}
		in = append(in, c)
	}
	cs, err := Compile(kind, in, Options{ManagerUser: "outrigger"})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// expressionsOf are every CEL expression of a policy and the warnings' policy beside it, by field.
func expressionsOf(c Compiled) map[string]string {
	out := map[string]string{}
	for i, v := range c.Policy.Spec.Variables {
		out[fmt.Sprintf("spec.variables[%d] (%s)", i, v.Name)] = v.Expression
	}
	for i, m := range c.Policy.Spec.MatchConditions {
		out[fmt.Sprintf("spec.matchConditions[%d]", i)] = m.Expression
	}
	out["spec.mutations[0]"] = c.Policy.Spec.Mutations[0].JSONPatch.Expression
	w := c.Warnings.Policy.Spec
	for i, v := range w.Variables {
		out[fmt.Sprintf("warnings: spec.variables[%d] (%s)", i, v.Name)] = v.Expression
	}
	for i, v := range w.Validations {
		out[fmt.Sprintf("warnings: spec.validations[%d].expression", i)] = v.Expression
		out[fmt.Sprintf("warnings: spec.validations[%d].messageExpression", i)] = v.MessageExpression
	}
	return out
}

// shape is what generated profile i has: its sidecar's name, its volume's, where its volume is mounted in the app
// containers (and which), and a volume its sidecar mounts without declaring it ("" for none).
type shape func(i int) (sidecar, volume, mountPath string, containers []string, borrowed string)

// distinct profiles share nothing.
func distinct(i int) (string, string, string, []string, string) {
	return fmt.Sprintf("sidecar-%d", i), fmt.Sprintf("volume-%d", i), fmt.Sprintf("/mnt/%d", i), nil, ""
}

// sharingAll profiles all have one sidecar name, volume name and mount path: only the first is placed.
func sharingAll(int) (string, string, string, []string, string) {
	return "shipper", "logs", "/var/log/shared", nil, ""
}

// mixed profiles share a sidecar name every fifth, a volume every sixth, a mount path every fourth (in one app
// container every eighth), and three mount a volume they do not declare: the workload's, or one another profile
// declares.
func mixed(i int) (sidecar, volume, mountPath string, containers []string, borrowed string) {
	sidecar, volume, mountPath, _, _ = distinct(i)
	if i%5 == 0 {
		sidecar = "shipper"
	}
	if i%6 == 0 {
		volume = "logs"
	}
	if i%4 == 0 {
		mountPath = "/var/log/shared"
	}
	if i%8 == 0 {
		containers = []string{"web"}
	}
	switch i {
	case 17, 150:
		borrowed = "logs"
	case 299:
		borrowed = "data"
	}
	return sidecar, volume, mountPath, containers, borrowed
}

// generated are n ClusterSidecarProfiles of the shape, of three orders; every ninth selects only the workloads
// labelled app=web.
func generated(n int, s shape) []*v1alpha1.ClusterSidecarProfile {
	out := make([]*v1alpha1.ClusterSidecarProfile, n)
	for i := range out {
		sidecar, volume, mountPath, containers, borrowed := s(i)
		p := &v1alpha1.ClusterSidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("profile-%04d", i)}}
		p.Spec.Selector = &metav1.LabelSelector{}
		if i%9 == 0 {
			p.Spec.Selector.MatchLabels = map[string]string{"app": "web"}
		}
		p.Spec.Order = int32(i % 3)
		p.Spec.Sidecars = []v1alpha1.Sidecar{{Container: corev1.Container{Name: sidecar, Image: "registry.example/" + sidecar + ":1",
			VolumeMounts: []corev1.VolumeMount{{Name: volume, MountPath: "/own"}}}}}
		if borrowed != "" {
			p.Spec.Sidecars[0].VolumeMounts = append(p.Spec.Sidecars[0].VolumeMounts, corev1.VolumeMount{Name: borrowed, MountPath: "/borrowed"})
		}
		p.Spec.Volumes = []v1alpha1.ProfileVolume{{Volume: corev1.Volume{Name: volume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}}
		p.Spec.AppContainerMounts = []v1alpha1.AppContainerMount{{Name: volume, MountPath: mountPath, Containers: containers}}
		out[i] = p
	}
	return out
}

// deepest is a profile whose sidecar and volume nest their fields as deep as a container and a volume can.
func deepest() *v1alpha1.ClusterSidecarProfile {
	p := generated(1, distinct)[0]
	s := &p.Spec.Sidecars[0]
	s.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(8080),
		HTTPHeaders: []corev1.HTTPHeader{{Name: "x", Value: "y"}}}}}
	s.Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}, Key: "k"}}}}
	p.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{
		Spec: corev1.PersistentVolumeClaimSpec{Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"fast"}}}}}}}}
	return p
}

func withMountPath(d *appsv1.Deployment, path string) *appsv1.Deployment {
	c := &d.Spec.Template.Spec.Containers[0]
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "data", MountPath: path})
	return d
}

func withLabel(d *appsv1.Deployment, k, v string) *appsv1.Deployment {
	d.Labels = map[string]string{k: v}
	return d
}
