package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/workload"
	"github.com/outrigger-dev/outrigger/test/profilecases"
)

// podTemplateKinds are the kinds beyond Deployment, Job and CronJob, each with a minimal workload of its own:
// the built-in ones, Argo Rollouts (on their real CRD, installed while the manager runs) and a configured kind
// (Widget, whose pod template is at spec.runner.podTemplate). kind is a function because the configured kinds
// are known once the suite has started.
var podTemplateKinds = []struct {
	name    string
	kind    func(Gomega) workload.Kind
	new     func(ns, name string) client.Object
	install func() error // what the kind needs installed first, if anything
}{
	{"StatefulSet", builtIn(workload.StatefulSet), func(ns, name string) client.Object { return profilecases.NewStatefulSet(ns, name) }, nil},
	{"DaemonSet", builtIn(workload.DaemonSet), func(ns, name string) client.Object { return profilecases.NewDaemonSet(ns, name) }, nil},
	{"Rollout", builtIn(workload.ArgoRollout), func(ns, name string) client.Object { return profilecases.NewArgoRollout(ns, name) }, installRolloutCRD},
	{"Widget (configured)", widgetKind, func(ns, name string) client.Object { return newWidget(ns, name) }, nil},
}

func builtIn(k workload.Kind) func(Gomega) workload.Kind {
	return func(Gomega) workload.Kind { return k }
}

// getWorkload reads a workload of a kind from the apiserver.
func getWorkload(g Gomega, kind workload.Kind, ns, name string) client.Object {
	obj := kind.NewObject()
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj)).To(Succeed())
	return obj
}

// storedSpec is a workload's spec as the apiserver stores it, field for field, whatever the kind's Go type.
func storedSpec(g Gomega, kind workload.Kind, ns, name string) any {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(getWorkload(g, kind, ns, name))
	g.Expect(err).NotTo(HaveOccurred())
	return u["spec"]
}

// podTemplate is a workload's pod template, typed.
func podTemplate(g Gomega, kind workload.Kind, ns, name string) *corev1.PodTemplateSpec {
	tmpl, err := kind.PodTemplate(getWorkload(g, kind, ns, name))
	g.Expect(err).NotTo(HaveOccurred())
	return tmpl
}

// Every kind with a pod template is injected as Deployments are: one created after its profile is stored with
// the sidecars at generation 1, one that existed before gets them with one write, a resync writes nothing, and
// deleting the profile gives back exactly the original spec (claim templates and a custom resource's own fields
// included).
func TestPodTemplateKinds_InjectedAtAdmissionAndByTheReconcilerAndRemoved(t *testing.T) {
	for _, tc := range podTemplateKinds {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			if tc.install != nil {
				g.Expect(tc.install()).To(Succeed())
			}
			kind := tc.kind(g)
			ns := newNamespace(t, nil)
			create(t, tc.new(ns, "existing"))
			original := storedSpec(g, kind, ns, "existing")

			spec := logShipperSpec()
			spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"existing", "fresh"}}}}
			spec.WorkloadKinds = []v1alpha1.WorkloadKind{kind.Name}
			spec.Rollout = allAtOnce
			profile := newProfile(ns, "logshipper", spec)
			create(t, profile)
			// For a kind whose CRD was installed just now, this waits for the manager to serve it.
			g.Eventually(func(g Gomega) {
				g.Expect(podTemplate(g, kind, ns, "existing").Spec.InitContainers).To(ConsistOf(HaveField("Name", "logshipper")))
			}, timeout, interval).Should(Succeed())
			// The counter counts once the manager has the apiserver's answer, which may be after the test saw the write.
			g.Eventually(writes.In).WithArguments(ns).WithTimeout(timeout).Should(Equal(1), "one write for the existing %s", kind.Name)

			create(t, tc.new(ns, "fresh"))
			g.Expect(getWorkload(g, kind, ns, "fresh").GetGeneration()).To(BeEquivalentTo(1), "created with its sidecars")
			tmpl := podTemplate(g, kind, ns, "fresh")
			g.Expect(tmpl.Spec.InitContainers).To(ConsistOf(And(HaveField("Name", "logshipper"),
				HaveField("RestartPolicy", HaveValue(Equal(corev1.ContainerRestartPolicyAlways))))), "the kind's schema keeps restartPolicy")
			g.Expect(tmpl.Spec.Containers[0].VolumeMounts).To(ConsistOf(HaveField("MountPath", "/opt")))
			g.Expect(tmpl.Annotations).To(HaveKey(v1alpha1.InjectionAnnotation))

			g.Eventually(func(g Gomega) {
				st := getProfile(g, ns, "logshipper").Status
				g.Expect(condition(st, v1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue), "%+v", st.Conditions)
				g.Expect([]int32{st.Matched, st.UpToDate, st.RolledOut}).To(Equal([]int32{2, 2, 2}))
			}, timeout, interval).Should(Succeed())
			g.Expect(writes.In(ns)).To(Equal(1), "the webhook injected the new %s; the reconciler had nothing to write", kind.Name)

			// Resync: a profile change that renders the same sidecars reconciles every workload and writes nothing.
			touched := updateProfile(g, ns, "logshipper", func(p *v1alpha1.SidecarProfile) { p.Spec.Order++ })
			g.Eventually(func(g Gomega) {
				g.Expect(getProfile(g, ns, "logshipper").Status.ObservedGeneration).To(Equal(touched.Generation))
			}, timeout, interval).Should(Succeed())
			g.Consistently(func() int { return writes.In(ns) }, "2s", interval).Should(Equal(1), "a resync must not write")

			g.Expect(k8s.Delete(context.Background(), profile)).To(Succeed())
			g.Eventually(func(g Gomega) {
				g.Expect(storedSpec(g, kind, ns, "existing")).To(Equal(original))
				tmpl := podTemplate(g, kind, ns, "fresh")
				g.Expect(tmpl.Spec.InitContainers).To(BeEmpty())
				g.Expect(tmpl.Annotations).NotTo(HaveKey(v1alpha1.InjectionAnnotation))
				err := k8s.Get(context.Background(), client.ObjectKeyFromObject(profile), &v1alpha1.SidecarProfile{})
				g.Expect(apierrors.IsNotFound(err)).To(BeTrue())
			}, timeout, interval).Should(Succeed())
		})
	}
}

// A profile volume named like one of a StatefulSet's volumeClaimTemplates is a conflict, reported like any
// other: the pods get a volume of that name from the claim, so injecting would make pods the apiserver refuses.
// The claim templates and the pod template are left exactly as they are.
func TestStatefulSet_ProfileVolumeNamedLikeAClaimTemplateIsAConflict(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, nil)
	spec := logShipperSpec() // its volume is named "data"
	spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}
	spec.WorkloadKinds = []v1alpha1.WorkloadKind{v1alpha1.KindStatefulSet}
	create(t, newProfile(ns, "logshipper", spec))
	g.Eventually(func(g Gomega) {
		g.Expect(getProfile(g, ns, "logshipper").Status.ObservedGeneration).To(BeEquivalentTo(1))
	}, timeout, interval).Should(Succeed())

	db := profilecases.NewStatefulSet(ns, "db", func(s *appsv1.StatefulSet) {
		s.Spec.Template.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/var/lib/db"}}
		s.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{
			ObjectMeta: metav1.ObjectMeta{Name: "data"},
			Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
		}}
	})
	create(t, db)
	stored := getWorkload(g, workload.StatefulSet, ns, "db").(*appsv1.StatefulSet)
	g.Expect(stored.Spec.Template.Spec.InitContainers).To(BeEmpty())
	g.Expect(stored.Spec.Template.Annotations).NotTo(HaveKey(v1alpha1.InjectionAnnotation))

	g.Eventually(func(g Gomega) {
		st := getProfile(g, ns, "logshipper").Status
		g.Expect(condition(st, v1alpha1.ConditionStalled).Reason).To(Equal(v1alpha1.ReasonConflict))
		g.Expect(st.NeedsAttention).To(ConsistOf(And(HaveField("Kind", v1alpha1.KindStatefulSet), HaveField("Name", "db"),
			HaveField("Reason", v1alpha1.ReasonConflict),
			HaveField("Message", ContainSubstring(`volume "data" (spec.volumes[0].name) is already used by the StatefulSet's volumeClaimTemplates: rename it in the profile`)))))
	}, timeout, interval).Should(Succeed())
	after := getWorkload(g, workload.StatefulSet, ns, "db").(*appsv1.StatefulSet)
	g.Expect(after.Spec).To(Equal(stored.Spec), "neither the claim templates nor the pod template were touched")
	g.Expect(writes.In(ns)).To(BeZero())
}

// A StatefulSet or DaemonSet with updateStrategy OnDelete gets the sidecars in its template, but its pods change
// only when deleted: the profile reports it as waiting for that, with the command, never as rolled out, and is
// Ready (Outrigger has nothing left to do) rather than Reconciling forever.
func TestOnDelete_WorkloadIsReportedWaitingForItsPodsToBeDeleted(t *testing.T) {
	for _, tc := range []struct {
		kind    workload.Kind
		obj     func(ns string) client.Object
		command string
	}{
		{workload.StatefulSet, func(ns string) client.Object {
			return profilecases.NewStatefulSet(ns, "db", func(s *appsv1.StatefulSet) {
				s.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType
			})
		}, "kubectl -n %s delete pod db-0"},
		{workload.DaemonSet, func(ns string) client.Object {
			return profilecases.NewDaemonSet(ns, "db", func(d *appsv1.DaemonSet) {
				d.Spec.UpdateStrategy.Type = appsv1.OnDeleteDaemonSetStrategyType
			})
		}, "kubectl -n %s delete pod -l 'app=db' --field-selector spec.nodeName=NODE"},
	} {
		t.Run(string(tc.kind.Name), func(t *testing.T) {
			g := NewWithT(t)
			ns := newNamespace(t, nil)
			create(t, tc.obj(ns))
			g.Eventually(func(g Gomega) { // its controller (envsuite.FinishRollouts) ran the first template
				g.Expect(getWorkload(g, tc.kind, ns, "db")).To(HaveField("Status.ObservedGeneration", BeEquivalentTo(1)))
			}, timeout, interval).Should(Succeed())
			spec := sidecarSpec("db", "proxy")
			spec.WorkloadKinds = []v1alpha1.WorkloadKind{tc.kind.Name}
			create(t, newProfile(ns, "proxy", spec))

			g.Eventually(func(g Gomega) {
				st := getProfile(g, ns, "proxy").Status
				g.Expect(condition(st, v1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue), "%+v", st.Conditions)
				g.Expect(condition(st, v1alpha1.ConditionReconciling).Status).To(Equal(metav1.ConditionFalse))
				g.Expect([]int32{st.Matched, st.UpToDate, st.RolledOut}).To(Equal([]int32{1, 1, 0}))
				g.Expect(st.NeedsAttention).To(ConsistOf(And(HaveField("Kind", tc.kind.Name), HaveField("Name", "db"),
					HaveField("Reason", v1alpha1.ReasonWaitingForPodDeletion),
					HaveField("Message", ContainSubstring(fmt.Sprintf(tc.command, ns))))))
			}, timeout, interval).Should(Succeed())
			g.Eventually(writes.In).WithArguments(ns).WithTimeout(timeout).Should(Equal(1))
		})
	}
}

// Upgrading Outrigger never rolls a workload by itself. On an apiserver that holds a profile written for 0.1.0
// (no workloadKinds: Deployment, Job and CronJob, as then), upgrading the CRDs and the manager leaves the
// StatefulSets and DaemonSets the profile's selector matches alone, and the profile reaches them only once it
// lists their kinds.
func TestUpgrade_AProfileWithoutWorkloadKindsKeepsTheKindsItSelected(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, nil)
	g.Expect(installCRDs(t, "test/testdata/upgrade/0.1.0")).To(Succeed())
	spec := sidecarSpec("", "proxy")
	spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "db"}}
	create(t, newProfile(ns, "proxy", spec))
	// The upgrade: the manager goes, workloads arrive while it is away (its mutating webhook fails open), the
	// new CRDs and the new manager come.
	stopManager()
	restarted := false
	defer func() {
		if !restarted {
			_ = installCRDs(t, "config/crd/bases")
			g.Expect(startManager()).To(Succeed())
		}
	}()
	tier := func(o client.Object) client.Object {
		o.SetLabels(map[string]string{"app": o.GetName(), "tier": "db"})
		return o
	}
	create(t, tier(newDeployment(ns, "web")), tier(profilecases.NewStatefulSet(ns, "pg")), tier(profilecases.NewDaemonSet(ns, "agent")))
	g.Expect(installCRDs(t, "config/crd/bases")).To(Succeed())
	g.Expect(startManager()).To(Succeed())
	restarted = true
	g.Eventually(func(g Gomega) {
		st := getProfile(g, ns, "proxy").Status
		g.Expect(condition(st, v1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue), "%+v", st.Conditions)
		g.Expect([]int32{st.Matched, st.UpToDate}).To(Equal([]int32{1, 1}), "only the Deployment")
	}, timeout, interval).Should(Succeed())
	g.Consistently(func() int { return writes.In(ns) }, "2s", interval).Should(Equal(1), "one write, to the Deployment")
	for _, w := range []struct {
		k    workload.Kind
		name string
	}{{workload.StatefulSet, "pg"}, {workload.DaemonSet, "agent"}} {
		k, obj := w.k, getWorkload(g, w.k, ns, w.name)
		g.Expect(obj.GetGeneration()).To(BeEquivalentTo(1), "the %s was not written", k.Name)
		g.Expect(k.Template(obj).Spec.InitContainers).To(BeEmpty())
	}

	// Opting in: the profile lists every kind it wants.
	updateProfile(g, ns, "proxy", func(p *v1alpha1.SidecarProfile) {
		p.Spec.WorkloadKinds = append(slices.Clone(v1alpha1.DefaultWorkloadKinds), v1alpha1.KindStatefulSet, v1alpha1.KindDaemonSet)
	})
	g.Eventually(func(g Gomega) {
		st := getProfile(g, ns, "proxy").Status
		g.Expect([]int32{st.Matched, st.UpToDate}).To(Equal([]int32{3, 3}))
	}, timeout, interval).Should(Succeed())
	g.Eventually(writes.In).WithArguments(ns).WithTimeout(timeout).Should(Equal(3))
}

// installCRDs creates or updates the profile CRDs from a directory of the repository, as `kubectl apply` of an
// upgrade does, and waits until the apiserver serves them.
func installCRDs(t *testing.T, dir string) error {
	t.Helper()
	_, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{filepath.Join(testEnv.Root, dir)}, ErrorIfPathMissing: true})
	return err
}
