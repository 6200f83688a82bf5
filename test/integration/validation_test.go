package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// outcome is what happens to a bad profile.
type outcome int

const (
	// refused: the apiserver refuses the profile (CRD schema, CEL rules, or Outrigger's validating webhook).
	refused outcome = iota
	// needsAttention: the profile is fine on its own but not on a workload: the workload is listed in
	// status.needsAttention with what to rename or add.
	needsAttention
)

// badProfile is one row: a profile that must not reach a workload, and where its author learns why.
type badProfile struct {
	name string
	// profile returns the object to create, named name in namespace ns (ignored by a cluster profile).
	profile func(ns, name string) client.Object
	opts    []client.CreateOption
	// before creates what the row needs first: the workload it conflicts with, the profile it collides with.
	before func(t *testing.T, ns string)
	outcome
	// want are substrings of the apiserver's error (refused) or of the status message (needsAttention):
	// the field, and what to do.
	want []string
}

// Every validation rule of the CRD and of the validating webhook, and the mistakes they cannot catch: the
// apiserver refuses the profile with a message that names the field and the fix, or, when the mistake can only
// be seen later (on a workload, or by a check the CRD cannot afford), the profile's status says the same.
func TestValidation_InvalidProfilesAreRefusedNamingTheField(t *testing.T) {
	ns := newNamespace(t, nil)
	cases := badProfiles()
	if len(cases) < 25 {
		t.Fatalf("the table has %d rows: keep at least 25, one per rule and per kind of bad input", len(cases))
	}
	t.Logf("%d bad profiles", len(cases))
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			if tc.before != nil {
				tc.before(t, ns)
			}
			obj := tc.profile(ns, fmt.Sprintf("bad-%d", i))
			err := k8s.Create(context.Background(), obj, tc.opts...)
			if tc.outcome == refused {
				g.Expect(err).To(HaveOccurred(), "the apiserver accepted an invalid profile")
				t.Log(err)
				for _, want := range tc.want {
					g.Expect(err.Error()).To(ContainSubstring(want))
				}
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			t.Cleanup(func() { _ = k8s.Delete(context.Background(), obj) })
			g.Eventually(func(g Gomega) {
				st := profileStatus(g, obj)
				g.Expect(st.NeedsAttention).To(HaveLen(1))
				msg := st.NeedsAttention[0].Message
				for _, want := range tc.want {
					g.Expect(msg).To(ContainSubstring(want))
				}
				t.Log(msg)
			}, timeout, interval).Should(Succeed())
		})
	}

	t.Run("a valid profile is accepted and defaulted", func(t *testing.T) {
		g := NewWithT(t)
		p := newProfile(ns, "valid", sidecarSpec("web", "proxy"))
		g.Expect(k8s.Create(context.Background(), p)).To(Succeed())
		var got v1alpha1.SidecarProfile
		g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(p), &got)).To(Succeed())
		g.Expect(got.Spec.Placement).To(Equal(v1alpha1.PlacementBeforeInitContainers))
		g.Expect(got.Spec.UpdatePolicy).To(Equal(v1alpha1.UpdatePolicyRollout))
	})

	// hostPath stays allowed in a SidecarProfile: see the comment on v1alpha1.ProfileVolume.
	t.Run("a namespaced profile may inject a hostPath volume", func(t *testing.T) {
		g := NewWithT(t)
		spec := sidecarSpec("node-logs", "shipper")
		spec.Volumes = []v1alpha1.ProfileVolume{{Volume: corev1.Volume{Name: "varlog",
			VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log"}}}}}
		spec.Sidecars[0].VolumeMounts = []corev1.VolumeMount{{Name: "varlog", MountPath: "/var/log", ReadOnly: true}}
		g.Expect(k8s.Create(context.Background(), newProfile(ns, "hostpath", spec))).To(Succeed())
	})
}

// badProfiles is the table: SidecarProfiles first, then ClusterSidecarProfiles, then what the CRD cannot see.
func badProfiles() []badProfile {
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
			spec := sidecarSpec("web", "proxy")
			always := corev1.ContainerRestartPolicyAlways
			spec.Sidecars[0].RestartPolicy = &always // allowed: restartPolicy Always may be written out
			mutate(&spec)
			return newProfile(ns, name, spec)
		}
	}
	// cluster is a ClusterSidecarProfile reaching only namespaces labelled for no test, changed by mutate.
	cluster := func(mutate func(*v1alpha1.ClusterSidecarProfileSpec)) func(ns, name string) client.Object {
		return func(_, name string) client.Object {
			spec := v1alpha1.ClusterSidecarProfileSpec{SidecarProfileSpec: sidecarSpec("web", "cluster-proxy"),
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"validation-test": "none"}}}
			mutate(&spec)
			return &v1alpha1.ClusterSidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
		}
	}

	return []badProfile{
		// Required fields and list bounds.
		{name: "selector missing", profile: local(func(s *v1alpha1.SidecarProfileSpec) { s.Selector = nil }),
			want: []string{"spec.selector", "Required value"}},
		{name: "no sidecars", profile: local(func(s *v1alpha1.SidecarProfileSpec) { s.Sidecars = nil }),
			want: []string{"spec.sidecars", "Required value"}},
		{name: "empty sidecar list", profile: local(func(s *v1alpha1.SidecarProfileSpec) { s.Sidecars = []v1alpha1.Sidecar{} }),
			want: []string{"spec.sidecars", "at least 1 items"}},
		{name: "too many sidecars", profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Sidecars = nil
			for i := range v1alpha1.MaxSidecars + 1 {
				s.Sidecars = append(s.Sidecars, sidecar(fmt.Sprintf("s%d", i)))
			}
		}), want: []string{"spec.sidecars", "must have at most 10 items"}},
		{name: "too many volumes", profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			for i := range v1alpha1.MaxVolumes + 1 {
				s.Volumes = append(s.Volumes, volume(fmt.Sprintf("v%d", i)))
			}
		}), want: []string{"spec.volumes", "must have at most 10 items"}},
		{name: "too many app mounts", profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Volumes = []v1alpha1.ProfileVolume{volume("data")}
			for i := range v1alpha1.MaxAppContainerMounts + 1 {
				s.AppContainerMounts = append(s.AppContainerMounts, v1alpha1.AppContainerMount{Name: "data", MountPath: fmt.Sprintf("/m%d", i)})
			}
		}), want: []string{"spec.appContainerMounts", "must have at most 10 items"}},
		{name: "too many workload kinds", profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.WorkloadKinds = []v1alpha1.WorkloadKind{v1alpha1.KindJob, v1alpha1.KindCronJob, v1alpha1.KindDeployment, v1alpha1.KindJob}
		}), want: []string{"spec.workloadKinds", "must have at most 3 items"}},

		// Sidecars.
		{name: "sidecar without a name", profile: local(func(s *v1alpha1.SidecarProfileSpec) { s.Sidecars = []v1alpha1.Sidecar{sidecar("")} }),
			want: []string{"spec.sidecars[0].name", "name must be a DNS label"}},
		{name: "duplicate sidecar names", profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Sidecars = []v1alpha1.Sidecar{sidecar("proxy"), sidecar("proxy")}
		}), want: []string{"spec.sidecars[1]", "Duplicate value"}},
		{name: "sidecar name not a DNS label", profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Sidecars = []v1alpha1.Sidecar{sidecar("Log_Shipper")}
		}), want: []string{"spec.sidecars[0].name", "name must be a DNS label", "lowercase letters, digits and '-'"}},
		{name: "sidecar name ending in a dash", profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Sidecars = []v1alpha1.Sidecar{sidecar("ok"), sidecar("proxy-")}
		}), want: []string{"spec.sidecars[1].name", "starting and ending with a letter or digit"}},
		{name: "sidecar name longer than 63", profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Sidecars = []v1alpha1.Sidecar{sidecar(strings.Repeat("a", 64))}
		}), want: []string{"spec.sidecars[0].name", "at most 63"}},
		{name: "sidecar without an image", profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Sidecars = []v1alpha1.Sidecar{sidecar("ok"), sidecar("noimage")}
			s.Sidecars[1].Image = ""
		}), want: []string{"spec.sidecars[1].image", "image is required"}},
		{name: "sidecar restartPolicy OnFailure", profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			c := sidecar("proxy")
			c.RestartPolicy = &onFailure
			s.Sidecars = []v1alpha1.Sidecar{sidecar("ok"), c}
		}), want: []string{"spec.sidecars[1].restartPolicy", "must be left out or set to Always"}},

		// Volumes and app mounts.
		{name: "duplicate volume names", profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Volumes = []v1alpha1.ProfileVolume{volume("data"), volume("data")}
		}), want: []string{"spec.volumes[1]", "Duplicate value"}},
		{name: "volume name not a DNS label", profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Volumes = []v1alpha1.ProfileVolume{volume("Data")}
		}), want: []string{"spec.volumes[0].name", "name must be a DNS label"}},
		{name: "volume name longer than 63", profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Volumes = []v1alpha1.ProfileVolume{volume("data"), volume(strings.Repeat("v", 64))}
		}), want: []string{"spec.volumes[1].name", "at most 63"}},
		{name: "app mount of an undeclared volume", profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.AppContainerMounts = []v1alpha1.AppContainerMount{{Name: "logs", MountPath: "/logs"}}
		}), want: []string{"spec.appContainerMounts[].name must name a volume declared in spec.volumes", "add the volume there"}},
		{name: "app mount name not a DNS label", profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Volumes = []v1alpha1.ProfileVolume{volume("data")}
			s.AppContainerMounts = []v1alpha1.AppContainerMount{{Name: "Data!", MountPath: "/opt"}}
		}), want: []string{"spec.appContainerMounts[0].name", "should match"}},
		{name: "app mount with a relative path", profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Volumes = []v1alpha1.ProfileVolume{volume("data")}
			s.AppContainerMounts = []v1alpha1.AppContainerMount{{Name: "data", MountPath: "opt"}}
		}), want: []string{"spec.appContainerMounts[0].mountPath", "should match '^/'"}},
		{name: "two app mounts at one path", profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Volumes = []v1alpha1.ProfileVolume{volume("data"), volume("more")}
			s.AppContainerMounts = []v1alpha1.AppContainerMount{{Name: "data", MountPath: "/opt"}, {Name: "more", MountPath: "/opt"}}
		}), want: []string{"spec.appContainerMounts[1]", "Duplicate value"}},
		{name: "app mount path too long", profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Volumes = []v1alpha1.ProfileVolume{volume("data")}
			s.AppContainerMounts = []v1alpha1.AppContainerMount{{Name: "data", MountPath: "/" + strings.Repeat("a", 1024)}}
		}), want: []string{"spec.appContainerMounts[0].mountPath", "Too long", "1024"}},
		{name: "app mount subPath too long", profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Volumes = []v1alpha1.ProfileVolume{volume("data")}
			s.AppContainerMounts = []v1alpha1.AppContainerMount{{Name: "data", MountPath: "/opt", SubPath: strings.Repeat("a", 1025)}}
		}), want: []string{"spec.appContainerMounts[0].subPath", "Too long"}},
		{name: "app mount into too many containers", profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Volumes = []v1alpha1.ProfileVolume{volume("data")}
			m := v1alpha1.AppContainerMount{Name: "data", MountPath: "/opt"}
			for i := range 21 {
				m.Containers = append(m.Containers, fmt.Sprintf("c%d", i))
			}
			s.AppContainerMounts = []v1alpha1.AppContainerMount{m}
		}), want: []string{"spec.appContainerMounts[0].containers", "must have at most 20 items"}},
		{name: "app mount container name too long", profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Volumes = []v1alpha1.ProfileVolume{volume("data")}
			s.AppContainerMounts = []v1alpha1.AppContainerMount{{Name: "data", MountPath: "/opt", Containers: []string{strings.Repeat("c", 64)}}}
		}), want: []string{"spec.appContainerMounts[0].containers[0]", "Too long"}},

		// Enums and numbers.
		{name: "unknown placement", profile: local(func(s *v1alpha1.SidecarProfileSpec) { s.Placement = "Middle" }),
			want: []string{"spec.placement", "Unsupported value", `"BeforeInitContainers", "AfterInitContainers"`}},
		{name: "unknown updatePolicy", profile: local(func(s *v1alpha1.SidecarProfileSpec) { s.UpdatePolicy = "Always" }),
			want: []string{"spec.updatePolicy", "Unsupported value", `"Rollout", "OnCreate"`}},
		{name: "unknown workload kind", profile: local(func(s *v1alpha1.SidecarProfileSpec) { s.WorkloadKinds = []v1alpha1.WorkloadKind{"Pod"} }),
			want: []string{"spec.workloadKinds[0]", "Unsupported value", `"Deployment", "Job", "CronJob"`}},
		{name: "duplicate workload kind", profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.WorkloadKinds = []v1alpha1.WorkloadKind{v1alpha1.KindJob, v1alpha1.KindJob}
		}), want: []string{"spec.workloadKinds[1]", "Duplicate value"}},
		{name: "order above 1000", profile: local(func(s *v1alpha1.SidecarProfileSpec) { s.Order = 5000 }),
			want: []string{"spec.order", "less than or equal to 1000"}},
		{name: "order below -1000", profile: local(func(s *v1alpha1.SidecarProfileSpec) { s.Order = -1001 }),
			want: []string{"spec.order", "greater than or equal to -1000"}},

		// Selectors.
		{name: "selector with an unknown operator", profile: local(func(s *v1alpha1.SidecarProfileSpec) { s.Selector = expr("app", "Like", "x") }),
			want: []string{"spec.selector", "operator must be one of In, NotIn, Exists, DoesNotExist"}},
		{name: "selector In without values", profile: local(func(s *v1alpha1.SidecarProfileSpec) { s.Selector = expr("app", metav1.LabelSelectorOpIn) }),
			want: []string{"spec.selector", "values must be non-empty for In and NotIn"}},
		{name: "selector NotIn without values", profile: local(func(s *v1alpha1.SidecarProfileSpec) { s.Selector = expr("app", metav1.LabelSelectorOpNotIn) }),
			want: []string{"spec.selector", "values must be non-empty for In and NotIn"}},
		{name: "selector Exists with values", profile: local(func(s *v1alpha1.SidecarProfileSpec) { s.Selector = expr("app", metav1.LabelSelectorOpExists, "x") }),
			want: []string{"spec.selector", "left out for Exists and DoesNotExist"}},
		{name: "selector DoesNotExist with values", profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Selector = expr("app", metav1.LabelSelectorOpDoesNotExist, "x")
		}), want: []string{"spec.selector", "left out for Exists and DoesNotExist"}},
		{name: "selector expression without a key", profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Selector = expr("", metav1.LabelSelectorOpExists)
			s.Selector.MatchExpressions[0].Key = ""
		}), outcome: refused, want: []string{"spec.selector is invalid", "name part must be non-empty", "fix the selector"}},

		// Names and fields the apiserver checks on every object.
		{name: "profile name not a DNS subdomain", profile: func(ns, _ string) client.Object {
			return local(func(*v1alpha1.SidecarProfileSpec) {})(ns, "Bad_Name")
		}, want: []string{"metadata.name", "lowercase RFC 1123 subdomain"}},
		// A SidecarProfile has no namespaceSelector: its own namespace is its scope. kubectl (strict field
		// validation) refuses the field; a client that asks for no validation has it dropped with a warning.
		{name: "namespaceSelector on a SidecarProfile", profile: func(ns, name string) client.Object {
			u := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": v1alpha1.GroupVersion.String(), "kind": "SidecarProfile",
				"metadata": map[string]any{"name": name, "namespace": ns},
				"spec": map[string]any{
					"selector":          map[string]any{"matchLabels": map[string]any{"app": "web"}},
					"namespaceSelector": map[string]any{"matchLabels": map[string]any{"team": "a"}},
					"sidecars":          []any{map[string]any{"name": "proxy", "image": "busybox:local"}},
				},
			}}
			return u
		}, opts: []client.CreateOption{client.FieldValidation(metav1.FieldValidationStrict)},
			want: []string{`unknown field "spec.namespaceSelector"`}},

		// ClusterSidecarProfiles: the shared spec's rules apply to them too, and their namespaceSelector has the
		// selector's rules.
		{name: "cluster profile namespaceSelector with an unknown operator", profile: cluster(func(s *v1alpha1.ClusterSidecarProfileSpec) {
			s.NamespaceSelector = expr("team", "Like")
		}), want: []string{"spec.namespaceSelector", "operator must be one of In, NotIn, Exists, DoesNotExist"}},
		{name: "cluster profile namespaceSelector In without values", profile: cluster(func(s *v1alpha1.ClusterSidecarProfileSpec) {
			s.NamespaceSelector = expr("team", metav1.LabelSelectorOpIn)
		}), want: []string{"spec.namespaceSelector", "values must be non-empty for In and NotIn"}},
		{name: "cluster profile namespaceSelector Exists with values", profile: cluster(func(s *v1alpha1.ClusterSidecarProfileSpec) {
			s.NamespaceSelector = expr("team", metav1.LabelSelectorOpExists, "a")
		}), want: []string{"spec.namespaceSelector", "left out for Exists and DoesNotExist"}},
		{name: "cluster profile sidecar restartPolicy Never", profile: cluster(func(s *v1alpha1.ClusterSidecarProfileSpec) {
			s.Sidecars[0].RestartPolicy = &never
		}), want: []string{"spec.sidecars[0].restartPolicy", "must be left out or set to Always"}},
		{name: "cluster profile without a selector", profile: cluster(func(s *v1alpha1.ClusterSidecarProfileSpec) { s.Selector = nil }),
			want: []string{"spec.selector", "Required value"}},

		// The validating webhook: a name another profile that can select the same workloads already uses.
		{name: "sidecar name used by another profile on the same workloads", before: func(t *testing.T, ns string) {
			create(t, newProfile(ns, "first", sidecarSpec("shared", "shared-proxy")))
		}, profile: func(ns, name string) client.Object {
			return newProfile(ns, name, sidecarSpec("shared", "shared-proxy"))
		}, want: []string{`sidecar "shared-proxy" (spec.sidecars[0].name) collides with SidecarProfile`, "/first", "rename it"}},

		// Label keys and values: metav1.LabelSelector bounds neither its lists nor its strings, so a CEL rule
		// checking them exceeds the apiserver's cost budget (by more than 100x: the CRD is refused). The
		// validating webhook parses the selectors and refuses the profile, naming the selector and the fix.
		{name: "selector with a bad label key", profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"bad key!": "web"}}
		}), outcome: refused, want: []string{"spec.selector is invalid", "bad key!", "alphanumeric characters"}},
		{name: "selector with a bad label value", profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Selector = expr("app", metav1.LabelSelectorOpIn, "not a value")
		}), outcome: refused, want: []string{"spec.selector is invalid", "not a value", "alphanumeric characters"}},
		{name: "cluster profile namespaceSelector with a bad label key", profile: cluster(func(s *v1alpha1.ClusterSidecarProfileSpec) {
			s.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"-team": "a"}}
		}), outcome: refused, want: []string{"spec.namespaceSelector is invalid", "-team"}},

		// A sidecar named like one of the workload's own containers is no error of the profile: the same profile
		// is fine on every workload without such a container, and the CRD cannot see the workloads. The engine
		// never overwrites the workload's container: the profile reports the conflict on that workload.
		{name: "sidecar named like the workload's container", before: func(t *testing.T, ns string) {
			create(t, newDeployment(ns, "clash"))
		}, profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "clash"}}
			s.Sidecars = []v1alpha1.Sidecar{sidecar("app")}
		}), outcome: needsAttention,
			want: []string{`container "app" (spec.sidecars[0].name) is already used by the workload`, "rename it in the profile"}},
		// A sidecar mounting a volume that the profile does not declare: fine on a workload that has the volume,
		// invalid on one that lacks it. The CRD cannot check it (a CEL rule over every sidecar's volumeMounts
		// exceeds the cost budget: corev1.Container does not bound them). On a workload without the volume the
		// apiserver refuses the reconciler's write, and the profile says so, naming the mount; the webhook holds
		// the profile back rather than block the workload's creation (internal/webhook, injectMountable).
		{name: "sidecar mount of an undeclared volume", before: func(t *testing.T, ns string) {
			create(t, newDeployment(ns, "nologs"))
		}, profile: local(func(s *v1alpha1.SidecarProfileSpec) {
			s.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "nologs"}}
			s.Sidecars = []v1alpha1.Sidecar{sidecar("shipper")}
			s.Sidecars[0].VolumeMounts = []corev1.VolumeMount{{Name: "logs", MountPath: "/logs"}}
		}), outcome: needsAttention, want: []string{"volumeMounts[0].name", "Not found", `"logs"`}},
	}
}

// profileStatus reads the status of a SidecarProfile or ClusterSidecarProfile.
func profileStatus(g Gomega, obj client.Object) v1alpha1.SidecarProfileStatus {
	key := client.ObjectKeyFromObject(obj)
	if _, ok := obj.(*v1alpha1.ClusterSidecarProfile); ok {
		var p v1alpha1.ClusterSidecarProfile
		g.Expect(k8s.Get(context.Background(), key, &p)).To(Succeed())
		return p.Status
	}
	var p v1alpha1.SidecarProfile
	g.Expect(k8s.Get(context.Background(), key, &p)).To(Succeed())
	return p.Status
}

// The webhook never lets a profile's mistake block a workload: a Deployment created while a profile's sidecar
// mounts a volume nobody declares is created, without that profile's sidecar, and another profile on it still
// injects.
func TestValidation_WebhookHoldsBackAProfileThatWouldInvalidateTheWorkload(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, nil)
	bad := sidecarSpec("held", "shipper")
	bad.Sidecars[0].VolumeMounts = []corev1.VolumeMount{{Name: "logs", MountPath: "/logs"}}
	create(t, newProfile(ns, "bad", bad), newProfile(ns, "good", sidecarSpec("held", "proxy")))

	g.Eventually(func(g Gomega) { // the manager's cache, which the webhook reads, has both profiles
		for _, name := range []string{"bad", "good"} {
			g.Expect(getProfile(g, ns, name).Status.ObservedGeneration).To(BeEquivalentTo(1))
		}
	}, timeout, interval).Should(Succeed())

	var warnings []string
	g.Expect(warningClient(&warnings).Create(context.Background(), newDeployment(ns, "held"))).To(Succeed())
	d := getDeployment(g, ns, "held")
	g.Expect(initContainerNames(d)).To(Equal([]string{"proxy"}))
	g.Expect(strings.Join(warnings, "\n")).To(And(ContainSubstring("did not inject SidecarProfile/bad"),
		ContainSubstring(`sidecar "shipper" (spec.sidecars[0].volumeMounts[0].name) mounts volume "logs"`),
		ContainSubstring("add the volume to spec.volumes")))
}

// warningClient is a client that appends the apiserver's warnings to warnings.
func warningClient(warnings *[]string) client.Client {
	c := *cfg
	c.WarningHandler = warningRecorder{warnings}
	cl, err := client.New(&c, client.Options{Scheme: scheme})
	if err != nil {
		panic(err)
	}
	return cl
}

type warningRecorder struct{ into *[]string }

func (w warningRecorder) HandleWarningHeader(_ int, _ string, text string) {
	*w.into = append(*w.into, text)
}
