package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/test/profilecases"
)

// Every validation rule of the CRD and of the validating webhook, and the mistakes they cannot catch: the
// apiserver refuses the profile with a message that names the field and the fix, or, when the mistake can only
// be seen later (on a workload, or by a check the CRD cannot afford), the profile's status says the same.
func TestValidation_InvalidProfilesAreRefusedNamingTheField(t *testing.T) {
	ns := newNamespace(t, nil)
	cases := profilecases.BadProfiles() // shared with test/cli, which checks the CLI says the same
	if len(cases) < 25 {
		t.Fatalf("the table has %d rows: keep at least 25, one per rule and per kind of bad input", len(cases))
	}
	t.Logf("%d bad profiles", len(cases))
	for i, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			g := NewWithT(t)
			if tc.Before != nil {
				create(t, tc.Before(ns)...)
			}
			obj := tc.Profile(ns, fmt.Sprintf("bad-%d-%s", i, ns)) // ns is this run's own: -count runs the table again
			err := k8s.Create(context.Background(), obj, tc.Opts...)
			if tc.Outcome == profilecases.Refused {
				g.Expect(err).To(HaveOccurred(), "the apiserver accepted an invalid profile")
				t.Log(err)
				for _, want := range tc.Want {
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
				for _, want := range tc.Want {
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
