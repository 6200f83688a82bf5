package integration

import (
	"context"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// job-plain.yaml created after a log-shipper profile is stored with the pod template of job-logshipper.yaml,
// apart from Outrigger's annotation and label (and the labels the Job API adds to every Job's template).
func TestWebhook_SeedJobIsCreatedWithTheLogShipper(t *testing.T) {
	g := NewWithT(t)
	ns, expectedNS := newNamespace(t, nil), newNamespace(t, nil)
	profile := newProfile(ns, "logshipper", logShipperSpec())
	profile.Spec.Selector = &metav1.LabelSelector{} // job-plain.yaml has no labels: select every workload
	create(t, profile)
	waitUntilSeen(g, ns, "logshipper")
	create(t, seedJob(t, "job-plain.yaml", ns), seedJob(t, "job-logshipper.yaml", expectedNS))

	got, want := getJob(g, ns, "myjob"), getJob(g, expectedNS, "myjob")
	g.Expect(initContainerNamesOf(got.Spec.Template)).To(Equal([]string{"logshipper"}))
	g.Expect(equality.Semantic.DeepEqual(withoutJobLabels(withoutOutriggerMarks(got.Spec.Template)), withoutJobLabels(want.Spec.Template))).To(BeTrue(),
		"injected template:\n%v\nexpected:\n%v", got.Spec.Template, want.Spec.Template)
}

// A Deployment created after a profile that would collide with its own container is admitted unchanged, with
// a warning naming the profile and the clash; the opt-out label keeps a Deployment out of the webhook's reach.
func TestWebhook_AdmitsWithoutInjectingOnConflictOrOptOut(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, nil)
	create(t, newProfile(ns, "proxy", sidecarSpec("web", "proxy")))
	waitUntilSeen(g, ns, "proxy")

	clash := newDeployment(ns, "web", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Name = "proxy" })
	optedOut := newDeployment(ns, "web2", func(d *appsv1.Deployment) {
		d.Labels = map[string]string{"app": "web", v1alpha1.InjectLabel: v1alpha1.InjectDisabled}
		d.Spec.Selector.MatchLabels = map[string]string{"app": "web2"}
		d.Spec.Template.Labels = map[string]string{"app": "web2"}
	})
	create(t, clash, optedOut)
	g.Expect(getDeployment(g, ns, "web").Spec.Template.Spec.InitContainers).To(BeEmpty())
	g.Expect(getDeployment(g, ns, "web2").Spec.Template.Spec.InitContainers).To(BeEmpty())
	g.Consistently(func() int { return writes.In(ns) }, "1s", interval).Should(BeZero())
}

// Server-side dry-run shows the injected sidecars (sideEffects None), so `kubectl diff` and Argo CD's
// server-side diff see what will be stored.
func TestWebhook_ServerSideDryRunShowsTheSidecars(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, nil)
	create(t, newProfile(ns, "proxy", sidecarSpec("web", "proxy")))
	waitUntilSeen(g, ns, "proxy")
	d := newDeployment(ns, "web")
	g.Expect(k8s.Create(context.Background(), d, client.DryRunAll)).To(Succeed())
	g.Expect(initContainerNames(d)).To(Equal([]string{"proxy"}))
}

// An existing CronJob gets the sidecars in its jobTemplate (from the reconciler); a Job created from it (as the
// CronJob controller or `kubectl create job --from` would) has them, and the webhook leaves it as it is.
func TestWebhook_JobFromAnInjectedCronJobHasTheSidecars(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, nil)
	create(t, newCronJob(ns, "nightly"))
	create(t, newProfile(ns, "proxy", sidecarSpec("nightly", "proxy")))
	var cj *batchv1.CronJob
	g.Eventually(func(g Gomega) {
		cj = getCronJob(g, ns, "nightly")
		g.Expect(initContainerNamesOf(cj.Spec.JobTemplate.Spec.Template)).To(Equal([]string{"proxy"}))
	}, timeout, interval).Should(Succeed())

	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "nightly-manual",
		Labels: cj.Spec.JobTemplate.Labels}, Spec: cj.Spec.JobTemplate.Spec}
	create(t, job)
	got := getJob(g, ns, "nightly-manual")
	g.Expect(initContainerNamesOf(got.Spec.Template)).To(Equal([]string{"proxy"}))
	g.Expect(got.Spec.Template.Annotations[v1alpha1.InjectionAnnotation]).To(Equal(cj.Spec.JobTemplate.Spec.Template.Annotations[v1alpha1.InjectionAnnotation]))
}

// With the webhook unreachable (here: the whole manager down), Deployments and Jobs are still admitted
// (failurePolicy Ignore); once Outrigger is back the reconciler injects the Deployment, and the Job is reported
// as not injected.
func TestWebhook_UnreachableWebhookBlocksNothing(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, nil)
	create(t, newProfile(ns, "proxy", sidecarSpec("web", "proxy")))
	waitUntilSeen(g, ns, "proxy")

	stopManager()
	job := newJob(ns, "web-once")
	job.Labels = map[string]string{"app": "web"} // selected by the profile, like the Deployment
	create(t, newDeployment(ns, "web"), job)
	g.Expect(getDeployment(g, ns, "web").Spec.Template.Spec.InitContainers).To(BeEmpty())
	g.Expect(startManager()).To(Succeed())

	g.Eventually(func(g Gomega) {
		g.Expect(initContainerNames(getDeployment(g, ns, "web"))).To(Equal([]string{"proxy"}))
		st := getProfile(g, ns, "proxy").Status
		g.Expect(st.NeedsAttention).To(ConsistOf(And(HaveField("Kind", v1alpha1.KindJob), HaveField("Name", "web-once"),
			HaveField("Reason", v1alpha1.ReasonNotInjected))))
	}, timeout, interval).Should(Succeed())
	g.Expect(getJob(g, ns, "web-once").Spec.Template.Spec.InitContainers).To(BeEmpty())
}

// Two profiles that can select the same workloads may not declare the same sidecar or volume: the second is
// refused with a message naming the first. Profiles that cannot meet may.
func TestWebhook_CollidingProfileIsRefusedNamingTheOther(t *testing.T) {
	// The label is this run's own: go test -count runs the test again, and the namespaces of the run before stay.
	team := "payments-" + rand.String(5)
	ns := newNamespace(t, map[string]string{"team": team})
	create(t, newProfile(ns, "logs", logShipperSpec()))
	waitUntilSeen(NewWithT(t), ns, "logs")

	for _, tc := range []struct {
		name    string
		profile client.Object
		refused []string // substrings of the refusal; none: accepted
	}{
		{"same sidecar, same selector", newProfile(ns, "logs-copy", logShipperSpec()),
			[]string{`sidecar "logshipper" (spec.sidecars[0].name)`, "SidecarProfile " + ns + "/logs", "rename"}},
		{"same volume, overlapping selector", newProfile(ns, "other-data", func() v1alpha1.SidecarProfileSpec {
			s := sidecarSpec("myapp", "other")
			s.Volumes = logShipperSpec().Volumes
			return s
		}()), []string{`volume "data" (spec.volumes[0].name)`, "SidecarProfile " + ns + "/logs"}},
		{"cluster profile reaching the namespace", &v1alpha1.ClusterSidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: "logs-" + ns},
			Spec: v1alpha1.ClusterSidecarProfileSpec{SidecarProfileSpec: logShipperSpec(),
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": team}}}},
			[]string{"SidecarProfile " + ns + "/logs"}},
		{"same sidecar, disjoint selector", newProfile(ns, "logs-other-app", func() v1alpha1.SidecarProfileSpec {
			s := logShipperSpec()
			s.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "billing"}}
			return s
		}()), nil},
		{"same sidecar, other kinds", newProfile(ns, "logs-jobs", func() v1alpha1.SidecarProfileSpec {
			s := logShipperSpec()
			s.WorkloadKinds = []v1alpha1.WorkloadKind{v1alpha1.KindJob}
			return s
		}()), []string{"SidecarProfile " + ns + "/logs"}}, // logs selects every kind, so Jobs too
		{"cluster profile for other namespaces", &v1alpha1.ClusterSidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: "logs-elsewhere-" + ns},
			Spec: v1alpha1.ClusterSidecarProfileSpec{SidecarProfileSpec: logShipperSpec(),
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "search-" + team}}}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			err := k8s.Create(context.Background(), tc.profile)
			if tc.profile.GetNamespace() == "" {
				t.Cleanup(func() { _ = k8s.Delete(context.Background(), tc.profile) })
			}
			if tc.refused == nil {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(err).To(HaveOccurred(), "a colliding profile was accepted")
			for _, want := range tc.refused {
				g.Expect(err.Error()).To(ContainSubstring(want))
			}
		})
	}
}

// waitUntilSeen waits until the manager has seen a profile (its status names the generation), so that its cache
// answers the webhook.
func waitUntilSeen(g Gomega, ns, name string) {
	g.Eventually(func(g Gomega) {
		p := getProfile(g, ns, name)
		g.Expect(p.Status.ObservedGeneration).To(Equal(p.Generation))
	}, timeout, interval).Should(Succeed())
}

func seedJob(t *testing.T, file, namespace string) *batchv1.Job {
	return seed[batchv1.Job](t, file, namespace)
}

func initContainerNamesOf(tmpl corev1.PodTemplateSpec) []string {
	var names []string
	for _, c := range tmpl.Spec.InitContainers {
		names = append(names, c.Name)
	}
	return names
}

// withoutJobLabels drops the labels the Job API puts on every Job's pod template (they name the Job's uid).
func withoutJobLabels(tmpl corev1.PodTemplateSpec) corev1.PodTemplateSpec {
	out := *tmpl.DeepCopy()
	for k := range out.Labels {
		if strings.Contains(k, "controller-uid") || strings.Contains(k, "job-name") {
			delete(out.Labels, k)
		}
	}
	return out
}
