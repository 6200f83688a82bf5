package policy

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/user"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/mutation"
	"github.com/outrigger-dev/outrigger/internal/selection"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// warnProfile is a ClusterSidecarProfile of sidecars and volumes, placed in order.
func warnProfile(name string, order int32, sidecarNames, volumeNames []string, selects map[string]string) *v1alpha1.ClusterSidecarProfile {
	p := &v1alpha1.ClusterSidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: name}}
	p.Spec.Selector = &metav1.LabelSelector{MatchLabels: selects}
	p.Spec.Order = order
	p.Spec.Placement = v1alpha1.PlacementBeforeInitContainers
	p.Spec.UpdatePolicy = v1alpha1.UpdatePolicyRollout
	for _, s := range sidecarNames {
		p.Spec.Sidecars = append(p.Spec.Sidecars, v1alpha1.Sidecar{Container: corev1.Container{Name: s, Image: "busybox"}})
	}
	for _, v := range volumeNames {
		p.Spec.Volumes = append(p.Spec.Volumes, v1alpha1.ProfileVolume{Volume: corev1.Volume{Name: v, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}})
	}
	return p
}

func statefulSets(p *v1alpha1.ClusterSidecarProfile) *v1alpha1.ClusterSidecarProfile {
	p.Spec.WorkloadKinds = []v1alpha1.WorkloadKind{v1alpha1.KindStatefulSet}
	return p
}

func webDeployment(containers, volumes []string) *appsv1.Deployment {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", Labels: map[string]string{"app": "web"}}}
	for _, c := range containers {
		d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, corev1.Container{Name: c, Image: "nginx"})
	}
	for _, v := range volumes {
		d.Spec.Template.Spec.Volumes = append(d.Spec.Template.Spec.Volumes, corev1.Volume{Name: v})
	}
	return d
}

func dataStatefulSet() *appsv1.StatefulSet {
	s := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db", Labels: map[string]string{"app": "web"}}}
	s.Spec.Template.Spec.Containers = []corev1.Container{{Name: "db", Image: "postgres"}}
	s.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}}
	return s
}

// The warnings policy warns of what the mutating webhook warns of when a name keeps a profile out: it runs on the
// workload as the MutatingAdmissionPolicy stored it (the engine's injection, which the policy places exactly:
// test/admission), and its messages are the webhook's, one per name.
func TestWarnings_AreTheWebhooksForTheNamesTaken(t *testing.T) {
	all := map[string]string{}
	for _, tc := range []struct {
		name     string
		kind     workload.Kind
		workload client.Object
		profiles []*v1alpha1.ClusterSidecarProfile
		want     int // warnings
	}{
		{name: "a container of the workload has the sidecar's name", kind: workload.Deployment, workload: webDeployment([]string{"app", "shipper"}, nil),
			profiles: []*v1alpha1.ClusterSidecarProfile{warnProfile("logs", 0, []string{"shipper"}, nil, all)}, want: 1},
		{name: "a volume of the workload has the profile's volume's name", kind: workload.Deployment, workload: webDeployment([]string{"app"}, []string{"logs"}),
			profiles: []*v1alpha1.ClusterSidecarProfile{warnProfile("logs", 0, []string{"shipper"}, []string{"logs"}, all)}, want: 1},
		{name: "a profile placed earlier took the volume", kind: workload.Deployment, workload: webDeployment([]string{"app"}, nil),
			profiles: []*v1alpha1.ClusterSidecarProfile{warnProfile("a", 0, []string{"one"}, []string{"logs"}, all), warnProfile("b", 1, []string{"two"}, []string{"logs"}, all)},
			want:     1},
		{name: "every name taken is a warning", kind: workload.Deployment, workload: webDeployment([]string{"app", "one", "two"}, []string{"logs"}),
			profiles: []*v1alpha1.ClusterSidecarProfile{warnProfile("a", 0, []string{"one", "two"}, []string{"logs"}, all)}, want: 3},
		{name: "a name a later profile took kept nothing out", kind: workload.Deployment, workload: webDeployment([]string{"app", "x"}, nil),
			profiles: []*v1alpha1.ClusterSidecarProfile{warnProfile("a", 0, []string{"x", "y"}, nil, all), warnProfile("b", 1, []string{"y"}, nil, all)},
			want:     1},
		{name: "a volume of a StatefulSet's volumeClaimTemplates", kind: workload.StatefulSet, workload: dataStatefulSet(),
			profiles: []*v1alpha1.ClusterSidecarProfile{statefulSets(warnProfile("backup", 0, []string{"backup"}, []string{"data"}, all))}, want: 1},
		{name: "nothing taken", kind: workload.Deployment, workload: webDeployment([]string{"app"}, []string{"cache"}),
			profiles: []*v1alpha1.ClusterSidecarProfile{warnProfile("a", 0, []string{"one"}, []string{"logs"}, all), warnProfile("b", 1, []string{"two"}, nil, all)}},
		{name: "a profile that does not select the workload", kind: workload.Deployment, workload: webDeployment([]string{"app", "shipper"}, nil),
			profiles: []*v1alpha1.ClusterSidecarProfile{warnProfile("logs", 0, []string{"shipper"}, nil, map[string]string{"app": "api"})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			webhook, stored := webhookWarnings(t, tc.kind, tc.workload, tc.profiles)
			got := policyWarnings(t, tc.kind, stored, tc.profiles, alice)
			slices.Sort(got)
			slices.Sort(webhook)
			if !slices.Equal(got, webhook) || len(got) != tc.want {
				t.Errorf("the policy warns:\n%s\nthe webhook (%d, want %d):\n%s", strings.Join(got, "\n"), len(webhook), tc.want, strings.Join(webhook, "\n"))
			}
		})
	}
}

func TestWarnings_LeaveTheManagersOwnWritesAlone(t *testing.T) {
	profiles := []*v1alpha1.ClusterSidecarProfile{warnProfile("logs", 0, []string{"shipper"}, nil, map[string]string{})}
	_, stored := webhookWarnings(t, workload.Deployment, webDeployment([]string{"app", "shipper"}, nil), profiles)
	if got := policyWarnings(t, workload.Deployment, stored, profiles, &user.DefaultInfo{Name: "outrigger"}); len(got) != 0 {
		t.Errorf("the manager's own write was warned of: %q", got)
	}
}

// webhookWarnings are the mutating webhook's warnings about names taken (internal/mutation, with the profiles
// that select the workload), and the workload as it injects it.
func webhookWarnings(t *testing.T, kind workload.Kind, obj client.Object, profiles []*v1alpha1.ClusterSidecarProfile) ([]string, client.Object) {
	t.Helper()
	var engine []inject.Profile
	for _, p := range profiles {
		s, err := selection.Parse(p, selection.Protected{})
		if err != nil {
			t.Fatal(err)
		}
		if selection.Selects(p, s, kind.Name, obj, nil) {
			engine = append(engine, inject.Profile{Ref: selection.Ref(p), Spec: &p.Spec.SidecarProfileSpec})
		}
	}
	m, err := mutation.Compute(kind, obj, engine)
	if err != nil {
		t.Fatal(err)
	}
	stored := obj.DeepCopyObject().(client.Object)
	if m.Changed {
		*kind.Template(stored) = *m.Result.Template
	}
	var names []string
	for _, w := range m.Warnings {
		if strings.Contains(w, ": container ") || strings.Contains(w, ": volume ") {
			names = append(names, w)
		}
	}
	return names, stored
}

// policyWarnings are the warnings of the policies compiled for the profiles, as the apiserver gives them for a
// create of the stored workload by u (every validation that fails warns).
func policyWarnings(t *testing.T, kind workload.Kind, stored client.Object, profiles []*v1alpha1.ClusterSidecarProfile, u user.Info) []string {
	t.Helper()
	var out []string
	for _, c := range compiled(t, kind, profiles) {
		failed, _ := evaluate(t, c.Warnings.Policy, request{op: admission.Create, object: unstructuredOf(t, stored, kind.GVK),
			gvr: kind.GVK.GroupVersion().WithResource(kind.Resource), namespace: "shop", user: u,
			namespaceObj: namespaceObject("shop", map[string]string{"kubernetes.io/metadata.name": "shop"})})
		out = append(out, failed...)
	}
	return out
}
