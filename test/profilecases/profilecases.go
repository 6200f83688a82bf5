// Package profilecases is the table of profiles that the cluster and the CLI are both run on, so that they cannot
// disagree unnoticed:
//
//   - Bad: profiles that must not reach a workload. The apiserver refuses them (the CRD's schema and CEL rules, or
//     Outrigger's validating webhook), or, when the mistake shows only on a workload, the profile's status names
//     it; `outrigger inject` refuses the same profiles with the same messages, or reports the same workload.
//   - Defaulted: valid profiles that leave out fields the CRD defaults. The apiserver stores them defaulted and the
//     webhook hashes what it stores; the CLI must write the same revision in the injection annotation.
//
// The integration tests (test/integration) and the CLI's agreement test (test/cli) use it, and the GitOps
// scenarios (test/gitops) its fixtures. It holds no test itself: rows are data, each harness runs them its own way.
package profilecases

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// Outcome is what happens to a bad profile.
type Outcome int

const (
	// Refused: the apiserver refuses the profile (CRD schema, CEL rules, or Outrigger's validating webhook).
	Refused Outcome = iota
	// NeedsAttention: the profile is fine on its own but not on a workload: the workload is listed in
	// status.needsAttention with what to rename or add (and the CLI reports a conflict on it).
	NeedsAttention
)

func (o Outcome) String() string {
	if o == NeedsAttention {
		return "NeedsAttention"
	}
	return "Refused"
}

// Bad is one row: a profile that must not reach a workload, and where its author learns why.
type Bad struct {
	Name string
	// Profile returns the object to create, named name in namespace ns (ignored by a cluster profile).
	Profile func(ns, name string) client.Object
	// Opts are the create options the row needs (strict field validation, as kubectl asks for).
	Opts []client.CreateOption
	// Before returns what the row needs created first, in namespace ns: the workload it conflicts with, the
	// profile it collides with.
	Before func(ns string) []client.Object
	Outcome
	// Want are substrings of the apiserver's error (Refused) or of the status message (NeedsAttention): the
	// field, and what to do.
	Want []string
	// OfflineWant, when set, are the substrings of the CLI's message instead of Want, for a NeedsAttention row
	// whose status words are the reconciler's after the fact (the apiserver refusing its write), while the CLI
	// says what the webhook says at the workload's creation.
	OfflineWant []string
}

// AllAtOnce rolls a profile's revision out to every workload at once, with no wait between: for the tests of
// what happens to each workload, or of speed, not of the waves.
func AllAtOnce() v1alpha1.RolloutStrategy {
	return v1alpha1.RolloutStrategy{Waves: []intstr.IntOrString{intstr.FromString("100%")}, MinHealthySeconds: ptr.To[int32](0)}
}

// SidecarSpec is a profile with one sidecar of the given name, selecting app=<app>.
func SidecarSpec(app, sidecar string) v1alpha1.SidecarProfileSpec {
	return v1alpha1.SidecarProfileSpec{
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
		Sidecars: []v1alpha1.Sidecar{{Container: corev1.Container{Name: sidecar, Image: "busybox:local", Command: []string{"sleep", "infinity"}}}},
	}
}

// LogShipperSpec is the profile that turns test/testdata/seed/deployment-plain.yaml into
// deployment-logshipper.yaml: a log shipper tailing /opt/logs.txt from a volume the app container mounts at /opt.
func LogShipperSpec() v1alpha1.SidecarProfileSpec {
	return v1alpha1.SidecarProfileSpec{
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "myapp"}},
		Sidecars: []v1alpha1.Sidecar{{Container: corev1.Container{
			Name:         "logshipper",
			Image:        "alpine:latest",
			Command:      []string{"sh", "-c", "tail -F /opt/logs.txt"},
			VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/opt"}},
		}}},
		Volumes: []v1alpha1.ProfileVolume{{Volume: corev1.Volume{Name: "data",
			VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}},
		AppContainerMounts: []v1alpha1.AppContainerMount{{Name: "data", MountPath: "/opt"}},
	}
}

// NewProfile is a SidecarProfile.
func NewProfile(namespace, name string, spec v1alpha1.SidecarProfileSpec) *v1alpha1.SidecarProfile {
	return &v1alpha1.SidecarProfile{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Spec: spec}
}

// NewDeployment is a minimal Deployment labelled app=<name>, with one container named app.
func NewDeployment(namespace, name string, mutate ...func(*appsv1.Deployment)) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: "busybox:local", Command: []string{"sleep", "infinity"},
				}}},
			},
		},
	}
	for _, m := range mutate {
		m(d)
	}
	return d
}

// NewStatefulSet is a minimal StatefulSet labelled app=<name>, with one replica and its headless Service named
// after it.
func NewStatefulSet(namespace, name string, mutate ...func(*appsv1.StatefulSet)) *appsv1.StatefulSet {
	d := NewDeployment(namespace, name)
	s := &appsv1.StatefulSet{ObjectMeta: d.ObjectMeta, Spec: appsv1.StatefulSetSpec{
		ServiceName: name, Selector: d.Spec.Selector, Template: d.Spec.Template,
	}}
	for _, m := range mutate {
		m(s)
	}
	return s
}

// NewDaemonSet is a minimal DaemonSet labelled app=<name>.
func NewDaemonSet(namespace, name string, mutate ...func(*appsv1.DaemonSet)) *appsv1.DaemonSet {
	d := NewDeployment(namespace, name)
	ds := &appsv1.DaemonSet{ObjectMeta: d.ObjectMeta, Spec: appsv1.DaemonSetSpec{Selector: d.Spec.Selector, Template: d.Spec.Template}}
	for _, m := range mutate {
		m(ds)
	}
	return ds
}

// NewArgoRollout is a minimal Argo Rollout (argoproj.io/v1alpha1) labelled app=<name>, with the pod template of
// NewDeployment and a canary that pauses for promotion, as written in YAML (no empty fields).
func NewArgoRollout(namespace, name string) *unstructured.Unstructured {
	labels := map[string]any{"app": name}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
		"metadata": map[string]any{"namespace": namespace, "name": name, "labels": labels},
		"spec": map[string]any{
			"replicas": int64(1),
			"selector": map[string]any{"matchLabels": labels},
			"template": map[string]any{
				"metadata": map[string]any{"labels": labels},
				"spec": map[string]any{"containers": []any{map[string]any{
					"name": "app", "image": "busybox:local", "command": []any{"sleep", "infinity"},
				}}},
			},
			"strategy": map[string]any{"canary": map[string]any{"steps": []any{
				map[string]any{"setWeight": int64(20)}, map[string]any{"pause": map[string]any{}},
			}}},
		},
	}}
}

// BadProfiles is the table: SidecarProfiles first, then ClusterSidecarProfiles, then what the CRD cannot see. Every
// validation rule of the CRD and of the validating webhook has a row, and so do the mistakes they cannot catch.
func BadProfiles() []Bad {
	sidecar := func(name string) v1alpha1.Sidecar {
		return v1alpha1.Sidecar{Container: corev1.Container{Name: name, Image: "busybox:local"}}
	}
	volume := func(name string) v1alpha1.ProfileVolume {
		return v1alpha1.ProfileVolume{Volume: corev1.Volume{Name: name,
			VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	}
	expr := func(key string, op metav1.LabelSelectorOperator, values ...string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: key, Operator: op, Values: values}}}
	}
	onFailure := corev1.ContainerRestartPolicy("OnFailure")
	never := corev1.ContainerRestartPolicy("Never")

	// local is a SidecarProfile built from the valid spec every row starts from, changed by mutate.
	local := func(mutate func(*v1alpha1.SidecarProfileSpec)) func(ns, name string) client.Object {
		return func(ns, name string) client.Object {
			spec := SidecarSpec("web", "proxy")
			always := corev1.ContainerRestartPolicyAlways
			spec.Sidecars[0].RestartPolicy = &always // allowed: restartPolicy Always may be written out
			mutate(&spec)
			return NewProfile(ns, name, spec)
		}
	}
	// cluster is a ClusterSidecarProfile reaching only namespaces labelled for no test, changed by mutate.
	cluster := func(mutate func(*v1alpha1.ClusterSidecarProfileSpec)) func(ns, name string) client.Object {
		return func(_, name string) client.Object {
			spec := v1alpha1.ClusterSidecarProfileSpec{SidecarProfileSpec: SidecarSpec("web", "cluster-proxy"),
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"validation-test": "none"}}}
			mutate(&spec)
			return &v1alpha1.ClusterSidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
		}
	}

	return []Bad{
		// Required fields and list bounds.
		{Name: "selector missing", Profile: local(func(s *v1alpha1.SidecarProfileSpec) { s.Selector = nil }),
			Want: []string{"spec.selector", "Required value"}},
		{Name: "no sidecars", Profile: local(func(s *v1alpha1.SidecarProfileSpec) { s.Sidecars = nil }),
			Want: []string{"spec.sidecars", "Required value"}},
		{Name: "empty sidecar list", Profile: local(func(s *v1alpha1.SidecarProfileSpec) { s.Sidecars = []v1alpha1.Sidecar{} }),
			Want: []string{"spec.sidecars", "at least 1 items"}},
		{Name: "too many sidecars", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Sidecars = nil
			for i := range v1alpha1.MaxSidecars + 1 {
				s.Sidecars = append(s.Sidecars, sidecar(fmt.Sprintf("s%d", i)))
			}
		}), Want: []string{"spec.sidecars", "must have at most 10 items"}},
		{Name: "too many volumes", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			for i := range v1alpha1.MaxVolumes + 1 {
				s.Volumes = append(s.Volumes, volume(fmt.Sprintf("v%d", i)))
			}
		}), Want: []string{"spec.volumes", "must have at most 10 items"}},
		{Name: "too many app mounts", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Volumes = []v1alpha1.ProfileVolume{volume("data")}
			for i := range v1alpha1.MaxAppContainerMounts + 1 {
				s.AppContainerMounts = append(s.AppContainerMounts, v1alpha1.AppContainerMount{Name: "data", MountPath: fmt.Sprintf("/m%d", i)})
			}
		}), Want: []string{"spec.appContainerMounts", "must have at most 10 items"}},
		{Name: "too many workload kinds", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			for i := range v1alpha1.MaxWorkloadKinds + 1 {
				s.WorkloadKinds = append(s.WorkloadKinds, v1alpha1.DefaultWorkloadKinds[i%len(v1alpha1.DefaultWorkloadKinds)])
			}
		}), Want: []string{"spec.workloadKinds", "must have at most 16 items"}},
		{Name: "a workload kind listed twice", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.WorkloadKinds = []v1alpha1.WorkloadKind{v1alpha1.KindStatefulSet, v1alpha1.KindDaemonSet, v1alpha1.KindStatefulSet}
		}), Want: []string{"spec.workloadKinds[2]", "Duplicate value"}},

		// Sidecars.
		{Name: "sidecar without a name", Profile: local(func(s *v1alpha1.SidecarProfileSpec) { s.Sidecars = []v1alpha1.Sidecar{sidecar("")} }),
			Want: []string{"spec.sidecars[0].name", "name must be a DNS label"}},
		{Name: "duplicate sidecar names", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Sidecars = []v1alpha1.Sidecar{sidecar("proxy"), sidecar("proxy")}
		}), Want: []string{"spec.sidecars[1]", "Duplicate value"}},
		{Name: "sidecar name not a DNS label", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Sidecars = []v1alpha1.Sidecar{sidecar("Log_Shipper")}
		}), Want: []string{"spec.sidecars[0].name", "name must be a DNS label", "lowercase letters, digits and '-'"}},
		{Name: "sidecar name ending in a dash", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Sidecars = []v1alpha1.Sidecar{sidecar("ok"), sidecar("proxy-")}
		}), Want: []string{"spec.sidecars[1].name", "starting and ending with a letter or digit"}},
		{Name: "sidecar name longer than 63", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Sidecars = []v1alpha1.Sidecar{sidecar(strings.Repeat("a", 64))}
		}), Want: []string{"spec.sidecars[0].name", "at most 63"}},
		{Name: "sidecar without an image", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Sidecars = []v1alpha1.Sidecar{sidecar("ok"), sidecar("noimage")}
			s.Sidecars[1].Image = ""
		}), Want: []string{"spec.sidecars[1].image", "image is required"}},
		{Name: "sidecar restartPolicy OnFailure", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			c := sidecar("proxy")
			c.RestartPolicy = &onFailure
			s.Sidecars = []v1alpha1.Sidecar{sidecar("ok"), c}
		}), Want: []string{"spec.sidecars[1].restartPolicy", "must be left out or set to Always"}},

		// Volumes and app mounts.
		{Name: "duplicate volume names", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Volumes = []v1alpha1.ProfileVolume{volume("data"), volume("data")}
		}), Want: []string{"spec.volumes[1]", "Duplicate value"}},
		{Name: "volume name not a DNS label", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Volumes = []v1alpha1.ProfileVolume{volume("Data")}
		}), Want: []string{"spec.volumes[0].name", "name must be a DNS label"}},
		{Name: "volume name longer than 63", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Volumes = []v1alpha1.ProfileVolume{volume("data"), volume(strings.Repeat("v", 64))}
		}), Want: []string{"spec.volumes[1].name", "at most 63"}},
		{Name: "app mount of an undeclared volume", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.AppContainerMounts = []v1alpha1.AppContainerMount{{Name: "logs", MountPath: "/logs"}}
		}), Want: []string{"spec.appContainerMounts[].name must name a volume declared in spec.volumes", "add the volume there"}},
		{Name: "app mount name not a DNS label", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Volumes = []v1alpha1.ProfileVolume{volume("data")}
			s.AppContainerMounts = []v1alpha1.AppContainerMount{{Name: "Data!", MountPath: "/opt"}}
		}), Want: []string{"spec.appContainerMounts[0].name", "should match"}},
		{Name: "app mount with a relative path", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Volumes = []v1alpha1.ProfileVolume{volume("data")}
			s.AppContainerMounts = []v1alpha1.AppContainerMount{{Name: "data", MountPath: "opt"}}
		}), Want: []string{"spec.appContainerMounts[0].mountPath", "should match '^/'"}},
		{Name: "two app mounts at one path", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Volumes = []v1alpha1.ProfileVolume{volume("data"), volume("more")}
			s.AppContainerMounts = []v1alpha1.AppContainerMount{{Name: "data", MountPath: "/opt"}, {Name: "more", MountPath: "/opt"}}
		}), Want: []string{"spec.appContainerMounts[1]", "Duplicate value"}},
		{Name: "app mount path too long", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Volumes = []v1alpha1.ProfileVolume{volume("data")}
			s.AppContainerMounts = []v1alpha1.AppContainerMount{{Name: "data", MountPath: "/" + strings.Repeat("a", 1024)}}
		}), Want: []string{"spec.appContainerMounts[0].mountPath", "Too long", "1024"}},
		{Name: "app mount subPath too long", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Volumes = []v1alpha1.ProfileVolume{volume("data")}
			s.AppContainerMounts = []v1alpha1.AppContainerMount{{Name: "data", MountPath: "/opt", SubPath: strings.Repeat("a", 1025)}}
		}), Want: []string{"spec.appContainerMounts[0].subPath", "Too long"}},
		{Name: "app mount into too many containers", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Volumes = []v1alpha1.ProfileVolume{volume("data")}
			m := v1alpha1.AppContainerMount{Name: "data", MountPath: "/opt"}
			for i := range 21 {
				m.Containers = append(m.Containers, fmt.Sprintf("c%d", i))
			}
			s.AppContainerMounts = []v1alpha1.AppContainerMount{m}
		}), Want: []string{"spec.appContainerMounts[0].containers", "must have at most 20 items"}},
		{Name: "app mount container name too long", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Volumes = []v1alpha1.ProfileVolume{volume("data")}
			s.AppContainerMounts = []v1alpha1.AppContainerMount{{Name: "data", MountPath: "/opt", Containers: []string{strings.Repeat("c", 64)}}}
		}), Want: []string{"spec.appContainerMounts[0].containers[0]", "Too long"}},

		// Enums and numbers.
		{Name: "unknown placement", Profile: local(func(s *v1alpha1.SidecarProfileSpec) { s.Placement = "Middle" }),
			Want: []string{"spec.placement", "Unsupported value", `"BeforeInitContainers", "AfterInitContainers"`}},
		{Name: "unknown updatePolicy", Profile: local(func(s *v1alpha1.SidecarProfileSpec) { s.UpdatePolicy = "Always" }),
			Want: []string{"spec.updatePolicy", "Unsupported value", `"Rollout", "OnCreate"`}},
		{Name: "unknown workload kind", Profile: local(func(s *v1alpha1.SidecarProfileSpec) { s.WorkloadKinds = []v1alpha1.WorkloadKind{"Pod"} }),
			Want: []string{`spec.workloadKinds[0]: "Pod" is not a kind Outrigger injects into here: the kinds are Deployment, Job, CronJob`,
				"added to the manager's configuration"}},
		{Name: "workload kind that is not a kind's name", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.WorkloadKinds = []v1alpha1.WorkloadKind{"deployment"}
		}), Want: []string{"spec.workloadKinds[0]", "should match"}},
		{Name: "duplicate workload kind", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.WorkloadKinds = []v1alpha1.WorkloadKind{v1alpha1.KindJob, v1alpha1.KindJob}
		}), Want: []string{"spec.workloadKinds[1]", "Duplicate value"}},
		{Name: "order above 1000", Profile: local(func(s *v1alpha1.SidecarProfileSpec) { s.Order = 5000 }),
			Want: []string{"spec.order", "less than or equal to 1000"}},
		{Name: "order below -1000", Profile: local(func(s *v1alpha1.SidecarProfileSpec) { s.Order = -1001 }),
			Want: []string{"spec.order", "greater than or equal to -1000"}},

		// Overrides.
		{Name: "override of a sidecar the profile does not have", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Overrides = []v1alpha1.SidecarOverride{{Sidecar: "shipper", Env: []string{"LOG_LEVEL"}}}
		}), Want: []string{"spec.overrides[].sidecar must name a sidecar of spec.sidecars"}},
		{Name: "override of an unknown resource", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Overrides = []v1alpha1.SidecarOverride{{Sidecar: "proxy", Resources: []v1alpha1.ResourceOverride{{Name: "limits.gpu"}}}}
		}), Want: []string{"spec.overrides[0].resources[0].name", "Unsupported value", `"limits.memory"`}},
		{Name: "override of an env name that is not one", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Overrides = []v1alpha1.SidecarOverride{{Sidecar: "proxy", Env: []string{"LOG-LEVEL"}}}
		}), Want: []string{"spec.overrides[0].env[0]", "should match"}},

		// Selectors.
		{Name: "selector with an unknown operator", Profile: local(func(s *v1alpha1.SidecarProfileSpec) { s.Selector = expr("app", "Like", "x") }),
			Want: []string{"spec.selector", "operator must be one of In, NotIn, Exists, DoesNotExist"}},
		{Name: "selector In without values", Profile: local(func(s *v1alpha1.SidecarProfileSpec) { s.Selector = expr("app", metav1.LabelSelectorOpIn) }),
			Want: []string{"spec.selector", "values must be non-empty for In and NotIn"}},
		{Name: "selector NotIn without values", Profile: local(func(s *v1alpha1.SidecarProfileSpec) { s.Selector = expr("app", metav1.LabelSelectorOpNotIn) }),
			Want: []string{"spec.selector", "values must be non-empty for In and NotIn"}},
		{Name: "selector Exists with values", Profile: local(func(s *v1alpha1.SidecarProfileSpec) { s.Selector = expr("app", metav1.LabelSelectorOpExists, "x") }),
			Want: []string{"spec.selector", "left out for Exists and DoesNotExist"}},
		{Name: "selector DoesNotExist with values", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Selector = expr("app", metav1.LabelSelectorOpDoesNotExist, "x")
		}), Want: []string{"spec.selector", "left out for Exists and DoesNotExist"}},
		{Name: "selector expression without a key", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Selector = expr("", metav1.LabelSelectorOpExists)
			s.Selector.MatchExpressions[0].Key = ""
		}), Outcome: Refused, Want: []string{"spec.selector is invalid", "name part must be non-empty", "fix the selector"}},

		// Names and fields the apiserver checks on every object.
		{Name: "profile name not a DNS subdomain", Profile: func(ns, _ string) client.Object {
			return local(func(*v1alpha1.SidecarProfileSpec) {})(ns, "Bad_Name")
		}, Want: []string{"metadata.name", "lowercase RFC 1123 subdomain"}},
		// A SidecarProfile has no namespaceSelector: its own namespace is its scope. kubectl (strict field
		// validation) refuses the field; a client that asks for no validation has it dropped with a warning.
		{Name: "namespaceSelector on a SidecarProfile", Profile: func(ns, name string) client.Object {
			return &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": v1alpha1.GroupVersion.String(), "kind": "SidecarProfile",
				"metadata": map[string]any{"name": name, "namespace": ns},
				"spec": map[string]any{
					"selector":          map[string]any{"matchLabels": map[string]any{"app": "web"}},
					"namespaceSelector": map[string]any{"matchLabels": map[string]any{"team": "a"}},
					"sidecars":          []any{map[string]any{"name": "proxy", "image": "busybox:local"}},
				},
			}}
		}, Opts: []client.CreateOption{client.FieldValidation(metav1.FieldValidationStrict)},
			Want: []string{`unknown field "spec.namespaceSelector"`}},

		// ClusterSidecarProfiles: the shared spec's rules apply to them too, and their namespaceSelector has the
		// selector's rules.
		{Name: "cluster profile namespaceSelector with an unknown operator", Profile: cluster(func(s *v1alpha1.ClusterSidecarProfileSpec) {
			s.NamespaceSelector = expr("team", "Like")
		}), Want: []string{"spec.namespaceSelector", "operator must be one of In, NotIn, Exists, DoesNotExist"}},
		{Name: "cluster profile namespaceSelector In without values", Profile: cluster(func(s *v1alpha1.ClusterSidecarProfileSpec) {
			s.NamespaceSelector = expr("team", metav1.LabelSelectorOpIn)
		}), Want: []string{"spec.namespaceSelector", "values must be non-empty for In and NotIn"}},
		{Name: "cluster profile namespaceSelector Exists with values", Profile: cluster(func(s *v1alpha1.ClusterSidecarProfileSpec) {
			s.NamespaceSelector = expr("team", metav1.LabelSelectorOpExists, "a")
		}), Want: []string{"spec.namespaceSelector", "left out for Exists and DoesNotExist"}},
		{Name: "cluster profile sidecar restartPolicy Never", Profile: cluster(func(s *v1alpha1.ClusterSidecarProfileSpec) {
			s.Sidecars[0].RestartPolicy = &never
		}), Want: []string{"spec.sidecars[0].restartPolicy", "must be left out or set to Always"}},
		{Name: "cluster profile without a selector", Profile: cluster(func(s *v1alpha1.ClusterSidecarProfileSpec) { s.Selector = nil }),
			Want: []string{"spec.selector", "Required value"}},

		// The validating webhook: a name another profile that can select the same workloads already uses.
		{Name: "sidecar name used by another profile on the same workloads", Before: func(ns string) []client.Object {
			return []client.Object{NewProfile(ns, "first", SidecarSpec("shared", "shared-proxy"))}
		}, Profile: func(ns, name string) client.Object {
			return NewProfile(ns, name, SidecarSpec("shared", "shared-proxy"))
		}, Want: []string{`sidecar "shared-proxy" (spec.sidecars[0].name) collides with SidecarProfile`, "/first", "rename it"}},

		// Label keys and values: metav1.LabelSelector bounds neither its lists nor its strings, so a CEL rule
		// checking them exceeds the apiserver's cost budget (by more than 100x: the CRD is refused). The
		// validating webhook parses the selectors and refuses the profile, naming the selector and the fix.
		{Name: "selector with a bad label key", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"bad key!": "web"}}
		}), Outcome: Refused, Want: []string{"spec.selector is invalid", "bad key!", "alphanumeric characters"}},
		{Name: "selector with a bad label value", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Selector = expr("app", metav1.LabelSelectorOpIn, "not a value")
		}), Outcome: Refused, Want: []string{"spec.selector is invalid", "not a value", "alphanumeric characters"}},
		{Name: "cluster profile namespaceSelector with a bad label key", Profile: cluster(func(s *v1alpha1.ClusterSidecarProfileSpec) {
			s.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"-team": "a"}}
		}), Outcome: Refused, Want: []string{"spec.namespaceSelector is invalid", "-team"}},

		// The rollout strategy: waves, times and the canary's selectors.
		{Name: "rollout wave of 0", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Rollout.Waves = []intstr.IntOrString{intstr.FromInt32(0)}
		}), Want: []string{"spec.rollout.waves[0]", "a count of at least 1 or a percentage from 1% to 100%"}},
		{Name: "rollout wave over 100%", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Rollout.Waves = []intstr.IntOrString{intstr.FromString("10%"), intstr.FromString("150%")}
		}), Want: []string{"spec.rollout.waves[1]", "a count of at least 1 or a percentage from 1% to 100%"}},
		{Name: "rollout wave that is neither a count nor a percentage", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Rollout.Waves = []intstr.IntOrString{intstr.FromString("half")}
		}), Want: []string{"spec.rollout.waves[0]", "a count of at least 1 or a percentage from 1% to 100%"}},
		{Name: "rollout negative minHealthySeconds", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Rollout.MinHealthySeconds = ptr.To[int32](-1)
		}), Want: []string{"spec.rollout.minHealthySeconds", "greater than or equal to 0"}},
		{Name: "rollout progressDeadlineSeconds of 0", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Rollout.ProgressDeadlineSeconds = ptr.To[int32](0)
		}), Want: []string{"spec.rollout.progressDeadlineSeconds", "greater than or equal to 1"}},
		{Name: "rollout canary selector with an unknown operator", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Rollout.Canary = &v1alpha1.CanaryWave{Selector: expr("tier", "Like")}
		}), Want: []string{"spec.rollout.canary.selector", "operator must be one of In, NotIn, Exists, DoesNotExist"}},
		{Name: "rollout canary selector with a bad label value", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Rollout.Canary = &v1alpha1.CanaryWave{Selector: expr("tier", metav1.LabelSelectorOpIn, "not a value")}
		}), Outcome: Refused, Want: []string{"spec.rollout.canary.selector is invalid", "not a value", "alphanumeric characters"}},
		{Name: "rollout canary namespaceSelector on a SidecarProfile", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Rollout.Canary = &v1alpha1.CanaryWave{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}}}
		}), Outcome: Refused, Want: []string{"spec.rollout.canary.namespaceSelector is for ClusterSidecarProfiles", "leave it out"}},
		{Name: "cluster profile rollout canary namespaceSelector with a bad label key", Profile: cluster(func(s *v1alpha1.ClusterSidecarProfileSpec) {
			s.Rollout.Canary = &v1alpha1.CanaryWave{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"-team": "a"}}}
		}), Outcome: Refused, Want: []string{"spec.rollout.canary.namespaceSelector is invalid", "-team"}},

		// A sidecar named like one of the workload's own containers is no error of the profile: the same profile
		// is fine on every workload without such a container, and the CRD cannot see the workloads. The engine
		// never overwrites the workload's container: the profile reports the conflict on that workload.
		{Name: "sidecar named like the workload's container", Before: func(ns string) []client.Object {
			return []client.Object{NewDeployment(ns, "clash")}
		}, Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "clash"}}
			s.Sidecars = []v1alpha1.Sidecar{sidecar("app")}
		}), Outcome: NeedsAttention,
			Want: []string{`container "app" (spec.sidecars[0].name) is already used by the workload`, "rename it in the profile"}},
		// A sidecar mounting a volume that the profile does not declare: fine on a workload that has the volume,
		// invalid on one that lacks it. The CRD cannot check it (a CEL rule over every sidecar's volumeMounts
		// exceeds the cost budget: corev1.Container does not bound them). On a workload without the volume the
		// apiserver refuses the reconciler's write, and the profile says so, naming the mount; the webhook holds
		// the profile back rather than block the workload's creation (internal/mutation), and the CLI says what
		// the webhook says.
		{Name: "sidecar mount of an undeclared volume", Before: func(ns string) []client.Object {
			return []client.Object{NewDeployment(ns, "nologs")}
		}, Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "nologs"}}
			s.Sidecars = []v1alpha1.Sidecar{sidecar("shipper")}
			s.Sidecars[0].VolumeMounts = []corev1.VolumeMount{{Name: "logs", MountPath: "/logs"}}
		}), Outcome: NeedsAttention, Want: []string{"volumeMounts[0].name", "Not found", `"logs"`},
			OfflineWant: []string{`sidecar "shipper" (spec.sidecars[0].volumeMounts[0].name) mounts volume "logs"`, "add the volume to spec.volumes"}},
	}
}

// Defaulted is one row of valid profiles that leave out fields the CRD defaults.
type Defaulted struct {
	Name string
	// Profile returns the object to create, named name in namespace ns: it selects the Deployment
	// NewDeployment(ns, "web"). A ClusterSidecarProfile selects the namespaces labelled NamespaceLabel=ns.
	Profile func(ns, name string) client.Object
	// SameRevision: the defaults the profile gets do not change its revision (the engine reads a left-out
	// placement as BeforeInitContainers too). Every other row would hash differently undefaulted.
	SameRevision bool
}

// NamespaceLabel is the label a Defaulted row's ClusterSidecarProfile selects namespaces by.
const NamespaceLabel = "profilecases.outrigger.dev/row"

// DefaultedProfiles is the table of profiles whose stored form differs from what they spell, because the CRD
// defaults a field they leave out, and the engine's revision hash sees the difference.
func DefaultedProfiles() []Defaulted {
	local := func(mutate func(*v1alpha1.SidecarProfileSpec)) func(ns, name string) client.Object {
		return func(ns, name string) client.Object {
			spec := SidecarSpec("web", "proxy")
			mutate(&spec)
			return NewProfile(ns, name, spec)
		}
	}
	volume := func(src corev1.VolumeSource) func(*v1alpha1.SidecarProfileSpec) {
		return func(s *v1alpha1.SidecarProfileSpec) {
			s.Volumes = []v1alpha1.ProfileVolume{{Volume: corev1.Volume{Name: "data", VolumeSource: src}}}
		}
	}
	return []Defaulted{
		// placement BeforeInitContainers, order 0, updatePolicy Rollout.
		{Name: "placement, order and updatePolicy left out", Profile: local(func(*v1alpha1.SidecarProfileSpec) {}), SameRevision: true},
		// The bug a new user hit: the apiserver stores protocol TCP, and the CLI hashed the port without it.
		{Name: "sidecar port without protocol", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Sidecars[0].Ports = []corev1.ContainerPort{{Name: "proxy", ContainerPort: 3128}}
		})},
		{Name: "gRPC probe without service", Profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Sidecars[0].StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9090}}}
		})},
		{Name: "iSCSI volume without iscsiInterface", Profile: local(volume(corev1.VolumeSource{ISCSI: &corev1.ISCSIVolumeSource{
			TargetPortal: "10.0.0.1:3260", IQN: "iqn.2001-04.com.example:storage", Lun: 0,
		}}))},
		{Name: "azureDisk volume without fsType and readOnly", Profile: local(volume(corev1.VolumeSource{AzureDisk: &corev1.AzureDiskVolumeSource{
			DiskName: "data", DataDiskURI: "https://example.blob.core.windows.net/vhds/data.vhd",
		}}))},
		{Name: "cluster profile with a sidecar port without protocol", Profile: func(ns, name string) client.Object {
			spec := SidecarSpec("web", "cluster-proxy")
			spec.Sidecars[0].Ports = []corev1.ContainerPort{{ContainerPort: 8080}, {ContainerPort: 8125, Protocol: corev1.ProtocolUDP}}
			return &v1alpha1.ClusterSidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.ClusterSidecarProfileSpec{
				SidecarProfileSpec: spec,
				NamespaceSelector:  &metav1.LabelSelector{MatchLabels: map[string]string{NamespaceLabel: ns}},
			}}
		}},
	}
}
