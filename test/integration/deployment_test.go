package integration

import (
	"context"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// The seed example: deployment-plain.yaml, existing before the log-shipper profile, is given the sidecar by the
// reconciler and stored as deployment-logshipper.yaml, apart from Outrigger's annotation and label. The expected
// Deployment is created in a namespace of its own, so that both templates carry the same apiserver defaults.
func TestDeployment_SeedExampleGetsTheLogShipper(t *testing.T) {
	g := NewWithT(t)
	ns, expectedNS := newNamespace(t, nil), newNamespace(t, nil)
	create(t, seedDeployment(t, "deployment-plain.yaml", ns), seedDeployment(t, "deployment-logshipper.yaml", expectedNS))
	create(t, newProfile(ns, "logshipper", logShipperSpec()))

	g.Eventually(func(g Gomega) {
		got := getDeployment(g, ns, "myapp")
		g.Expect(initContainerNames(got)).To(Equal([]string{"logshipper"}))
		want := getDeployment(g, expectedNS, "myapp")
		g.Expect(equality.Semantic.DeepEqual(withoutOutriggerMarks(got.Spec.Template), want.Spec.Template)).To(BeTrue(),
			"injected template:\n%v\nexpected:\n%v", got.Spec.Template, want.Spec.Template)
		g.Expect(got.Spec.Template.Labels).To(HaveKeyWithValue(v1alpha1.InjectedLabel, "true"))
		g.Expect(recordedProfiles(g, got)).To(Equal([]string{"SidecarProfile/logshipper"}))
	}, timeout, interval).Should(Succeed())

	// Exactly one write, and the result is a fixed point: reconciling again (the profile's status writes and the
	// rollout reports trigger it) writes nothing.
	g.Expect(writes.In(ns)).To(Equal(1))
	g.Consistently(func() int { return writes.In(ns) }, "2s", interval).Should(Equal(1))

	// The write is Outrigger's, under its own field manager, and owns only what Outrigger added: the app
	// container's image and command stay with the Deployment's author.
	owned := ownedFields(g, getDeployment(g, ns, "myapp"), v1alpha1.FieldManager)
	g.Expect(owned).To(And(ContainSubstring(`k:{\"name\":\"logshipper\"}`), ContainSubstring(`k:{\"name\":\"data\"}`),
		ContainSubstring(`k:{\"mountPath\":\"/opt\"}`), ContainSubstring(v1alpha1.InjectionAnnotation)))
	g.Expect(strings.Count(owned, `"f:image"`)).To(Equal(1), "only the sidecar's image is Outrigger's:\n%s", owned)
	g.Expect(owned).NotTo(ContainSubstring(`"f:replicas"`))

	// The Deployment's events say what Outrigger did, and for which profile.
	g.Eventually(func(g Gomega) {
		var evs eventsv1.EventList
		g.Expect(k8s.List(context.Background(), &evs, client.InNamespace(ns))).To(Succeed())
		g.Expect(evs.Items).To(ContainElement(And(
			HaveField("Regarding.Name", "myapp"), HaveField("Reason", "Injected"), HaveField("Type", corev1.EventTypeNormal),
			HaveField("Note", "injected sidecars of SidecarProfile/logshipper"))))
	}, timeout, interval).Should(Succeed())

	g.Eventually(func(g Gomega) {
		st := getProfile(g, ns, "logshipper").Status
		g.Expect(condition(st, v1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		g.Expect([]int32{st.Matched, st.Injected, st.UpToDate}).To(Equal([]int32{1, 1, 1}))
		g.Expect(st.ObservedGeneration).To(BeEquivalentTo(1))
	}, timeout, interval).Should(Succeed())
}

// Two profiles (order 10 and 20) select a Deployment that has its own init container: their sidecars are
// placed by order, before or after the workload's init container as placement says.
func TestDeployment_OrdersProfilesAndHonoursPlacement(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		placement10, placement20 v1alpha1.Placement
		want                     []string
	}{
		{"both before", v1alpha1.PlacementBeforeInitContainers, v1alpha1.PlacementBeforeInitContainers, []string{"sidecar-10", "sidecar-20", "migrate"}},
		{"both after", v1alpha1.PlacementAfterInitContainers, v1alpha1.PlacementAfterInitContainers, []string{"migrate", "sidecar-10", "sidecar-20"}},
		{"mixed", v1alpha1.PlacementAfterInitContainers, v1alpha1.PlacementBeforeInitContainers, []string{"sidecar-20", "migrate", "sidecar-10"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			ns := newNamespace(t, nil)
			// Names sort against the order, so only `order` can explain the result.
			second := sidecarSpec("web", "sidecar-20")
			second.Order, second.Placement = 20, tc.placement20
			first := sidecarSpec("web", "sidecar-10")
			first.Order, first.Placement = 10, tc.placement10
			create(t, newProfile(ns, "a-twenty", second), newProfile(ns, "b-ten", first),
				newDeployment(ns, "web", func(d *appsv1.Deployment) {
					d.Spec.Template.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "busybox:local"}}
				}))
			g.Eventually(func(g Gomega) {
				d := getDeployment(g, ns, "web")
				g.Expect(initContainerNames(d)).To(Equal(tc.want))
				for _, c := range d.Spec.Template.Spec.InitContainers {
					if c.Name != "migrate" {
						g.Expect(c.RestartPolicy).To(HaveValue(Equal(corev1.ContainerRestartPolicyAlways)))
					} else {
						g.Expect(c.RestartPolicy).To(BeNil())
					}
				}
			}, timeout, interval).Should(Succeed())
		})
	}
}

// A user's container and volume with the names of the profile's: the user's stay untouched, the profile's
// status names the workload and the clash, and the condition says what to rename.
func TestDeployment_ConflictLeavesTheUsersContainerAndIsReported(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, nil)
	userDeployment := seedDeployment(t, "deployment-plain.yaml", ns)
	userDeployment.Spec.Template.Spec.Containers[0].Name = "logshipper" // the app container has the sidecar's name
	userDeployment.Spec.Template.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
		ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}}}
	create(t, userDeployment)
	before := getDeployment(g, ns, "myapp")
	create(t, newProfile(ns, "logshipper", logShipperSpec()))

	g.Eventually(func(g Gomega) {
		st := getProfile(g, ns, "logshipper").Status
		stalled := condition(st, v1alpha1.ConditionStalled)
		g.Expect(stalled.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(stalled.Reason).To(Equal(v1alpha1.ReasonConflict))
		g.Expect(stalled.Message).To(And(ContainSubstring("Deployment "+ns+"/myapp"), ContainSubstring(`container "logshipper"`),
			ContainSubstring("spec.sidecars[0].name"), ContainSubstring("rename")))
		ready := condition(st, v1alpha1.ConditionReady)
		g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(ready.Reason).To(Equal(v1alpha1.ReasonConflict))
		g.Expect(st.NeedsAttention).To(HaveLen(1))
		g.Expect(st.NeedsAttention[0]).To(And(
			HaveField("Kind", v1alpha1.KindDeployment), HaveField("Namespace", ns), HaveField("Name", "myapp"),
			HaveField("Reason", v1alpha1.ReasonConflict),
			HaveField("Message", And(ContainSubstring(`volume "data" (spec.volumes[0].name)`), ContainSubstring("the workload"))),
		))
	}, timeout, interval).Should(Succeed())
	after := getDeployment(g, ns, "myapp")
	g.Expect(after.Spec.Template).To(Equal(before.Spec.Template), "the user's template must be untouched")
	g.Expect(after.Generation).To(Equal(before.Generation))
	g.Expect(writes.In(ns)).To(BeZero())
}

// Deleting the profile gives the Deployment back exactly the template it had before injection, and the
// finalizer lets the profile go.
func TestDeployment_ProfileDeletedRestoresTheOriginalTemplate(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, nil)
	plain := seedDeployment(t, "deployment-plain.yaml", ns)
	plain.Spec.Template.Annotations = map[string]string{"team": "payments"}
	plain.Spec.Template.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "busybox:local"}}
	create(t, plain)
	original := getDeployment(g, ns, "myapp").Spec.Template
	profile := newProfile(ns, "logshipper", logShipperSpec())
	create(t, profile)
	g.Eventually(func(g Gomega) {
		g.Expect(initContainerNames(getDeployment(g, ns, "myapp"))).To(ContainElement("logshipper"))
		g.Expect(getProfile(g, ns, "logshipper").Finalizers).To(ContainElement(v1alpha1.Finalizer))
	}, timeout, interval).Should(Succeed())

	g.Expect(k8s.Delete(context.Background(), profile)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(getDeployment(g, ns, "myapp").Spec.Template).To(Equal(original))
		err := k8s.Get(context.Background(), client.ObjectKeyFromObject(profile), &v1alpha1.SidecarProfile{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the profile must be gone once its sidecars are removed")
	}, timeout, interval).Should(Succeed())
}

// A Deployment that stops matching, or opts out with the label, gets back exactly what it had.
func TestDeployment_StopsMatchingOrOptsOutAndLosesTheSidecars(t *testing.T) {
	for _, tc := range []struct {
		name   string
		labels map[string]string
	}{
		{"stops matching", map[string]string{"app": "other"}},
		{"opts out", map[string]string{"app": "web", v1alpha1.InjectLabel: v1alpha1.InjectDisabled}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			ns := newNamespace(t, nil)
			create(t, newDeployment(ns, "web"))
			original := getDeployment(g, ns, "web").Spec.Template
			create(t, newProfile(ns, "proxy", sidecarSpec("web", "proxy")))
			g.Eventually(func(g Gomega) {
				g.Expect(initContainerNames(getDeployment(g, ns, "web"))).To(Equal([]string{"proxy"}))
			}, timeout, interval).Should(Succeed())

			d := &appsv1.Deployment{}
			updateObject(g, client.ObjectKey{Namespace: ns, Name: "web"}, d, func() { d.Labels = tc.labels })
			g.Eventually(func(g Gomega) {
				g.Expect(getDeployment(g, ns, "web").Spec.Template).To(Equal(original))
				st := getProfile(g, ns, "proxy").Status
				g.Expect(st.Matched).To(BeZero())
				g.Expect(condition(st, v1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
			}, timeout, interval).Should(Succeed())
		})
	}
}

// A changed profile updates the Deployments it selects under updatePolicy Rollout, and leaves them (reported as
// outdated) under OnCreate.
func TestDeployment_ProfileChangeFollowsUpdatePolicy(t *testing.T) {
	for _, tc := range []struct {
		policy    v1alpha1.UpdatePolicy
		wantImage string
		wantReady metav1.ConditionStatus
		wantEntry string
	}{
		{v1alpha1.UpdatePolicyRollout, "busybox:v2", metav1.ConditionTrue, ""},
		{v1alpha1.UpdatePolicyOnCreate, "busybox:local", metav1.ConditionTrue, v1alpha1.ReasonOutdated},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			g := NewWithT(t)
			ns := newNamespace(t, nil)
			spec := sidecarSpec("web", "proxy")
			spec.UpdatePolicy = tc.policy
			create(t, newProfile(ns, "proxy", spec), newDeployment(ns, "web"))
			g.Eventually(func(g Gomega) {
				g.Expect(initContainerNames(getDeployment(g, ns, "web"))).To(Equal([]string{"proxy"}))
				st := getProfile(g, ns, "proxy").Status
				g.Expect(condition(st, v1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
				g.Expect(st.Matched).To(BeEquivalentTo(1), "Ready before the Deployment was seen")
			}, timeout, interval).Should(Succeed())

			p := updateProfile(g, ns, "proxy", func(p *v1alpha1.SidecarProfile) { p.Spec.Sidecars[0].Image = "busybox:v2" })
			g.Eventually(func(g Gomega) {
				st := getProfile(g, ns, "proxy").Status
				g.Expect(st.ObservedGeneration).To(Equal(p.Generation))
				g.Expect(condition(st, v1alpha1.ConditionReady).Status).To(Equal(tc.wantReady))
				g.Expect(getDeployment(g, ns, "web").Spec.Template.Spec.InitContainers[0].Image).To(Equal(tc.wantImage))
				if tc.wantEntry == "" {
					g.Expect(st.NeedsAttention).To(BeEmpty())
					g.Expect(st.UpToDate).To(BeEquivalentTo(1))
				} else {
					g.Expect(st.NeedsAttention).To(ConsistOf(And(HaveField("Name", "web"), HaveField("Reason", tc.wantEntry))))
					g.Expect(st.UpToDate).To(BeZero())
					g.Expect(st.Injected).To(BeEquivalentTo(1))
				}
			}, timeout, interval).Should(Succeed())
		})
	}
}

// A ClusterSidecarProfile injects only into the namespaces its namespaceSelector selects, and follows
// namespace label changes.
func TestDeployment_ClusterProfileFollowsNamespaceSelector(t *testing.T) {
	g := NewWithT(t)
	// The label is this run's own: go test -count runs the test again, and the namespaces of the run before stay.
	mesh := "on-" + rand.String(5)
	in, out := newNamespace(t, map[string]string{"mesh": mesh}), newNamespace(t, nil)
	create(t, newDeployment(in, "web"), newDeployment(out, "web"))
	spec := sidecarSpec("web", "mesh-proxy")
	spec.Rollout = allAtOnce // the workload a namespace label brings in is injected at once, not in a later wave
	cp := &v1alpha1.ClusterSidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: "mesh-" + in},
		Spec: v1alpha1.ClusterSidecarProfileSpec{SidecarProfileSpec: spec,
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"mesh": mesh}}}}
	create(t, cp)
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), cp) })
	g.Eventually(func(g Gomega) {
		g.Expect(initContainerNames(getDeployment(g, in, "web"))).To(Equal([]string{"mesh-proxy"}))
		g.Expect(recordedProfiles(g, getDeployment(g, in, "web"))).To(Equal([]string{"ClusterSidecarProfile/mesh-" + in}))
	}, timeout, interval).Should(Succeed())
	g.Consistently(func(g Gomega) {
		g.Expect(getDeployment(g, out, "web").Spec.Template.Spec.InitContainers).To(BeEmpty())
	}, "1s", interval).Should(Succeed())

	var nsObj corev1.Namespace
	updateObject(g, client.ObjectKey{Name: out}, &nsObj, func() { nsObj.Labels["mesh"] = mesh })
	g.Eventually(func(g Gomega) {
		g.Expect(initContainerNames(getDeployment(g, out, "web"))).To(Equal([]string{"mesh-proxy"}))
		var got v1alpha1.ClusterSidecarProfile
		g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(cp), &got)).To(Succeed())
		g.Expect(got.Status.Matched).To(BeEquivalentTo(2))
		g.Expect(condition(got.Status, v1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
	}, timeout, interval).Should(Succeed())
}

// A profile the apiserver accepts but whose injection it refuses (a sidecar mounting a volume that exists
// nowhere): the Deployment is untouched, and the profile is Stalled with the apiserver's answer, naming the
// workload.
func TestDeployment_RefusedWriteIsReportedWithTheApiserversAnswer(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, nil)
	create(t, newDeployment(ns, "web"))
	spec := sidecarSpec("web", "proxy")
	spec.Sidecars[0].VolumeMounts = []corev1.VolumeMount{{Name: "certs", MountPath: "/certs"}}
	create(t, newProfile(ns, "proxy", spec))

	g.Eventually(func(g Gomega) {
		st := getProfile(g, ns, "proxy").Status
		stalled := condition(st, v1alpha1.ConditionStalled)
		g.Expect(stalled.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(stalled.Reason).To(Equal(v1alpha1.ReasonWriteFailed))
		g.Expect(stalled.Message).To(And(ContainSubstring("Deployment "+ns+"/web"), ContainSubstring("certs")))
		g.Expect(st.NeedsAttention).To(ConsistOf(And(HaveField("Name", "web"), HaveField("Reason", v1alpha1.ReasonWriteFailed))))
	}, timeout, interval).Should(Succeed())
	g.Expect(getDeployment(g, ns, "web").Spec.Template.Spec.InitContainers).To(BeEmpty())

	// Fixing the profile heals the workload and the status.
	updateProfile(g, ns, "proxy", func(p *v1alpha1.SidecarProfile) {
		p.Spec.Volumes = []v1alpha1.ProfileVolume{{Volume: corev1.Volume{Name: "certs",
			VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}}
	})
	g.Eventually(func(g Gomega) {
		g.Expect(initContainerNames(getDeployment(g, ns, "web"))).To(Equal([]string{"proxy"}))
		st := getProfile(g, ns, "proxy").Status
		g.Expect(condition(st, v1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(st.NeedsAttention).To(BeEmpty())
	}, timeout, interval).Should(Succeed())
}
