package integration

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/test/profilecases"
)

// seed reads a workload from test/testdata/seed into a namespace.
func seed[T any, PT interface {
	*T
	client.Object
}](t *testing.T, file, namespace string) PT {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "test", "testdata", "seed", file))
	if err != nil {
		t.Fatal(err)
	}
	obj := PT(new(T))
	if err := yaml.UnmarshalStrict(raw, obj); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	obj.SetNamespace(namespace)
	return obj
}

// seedDeployment reads a Deployment from test/testdata/seed into a namespace.
func seedDeployment(t *testing.T, file, namespace string) *appsv1.Deployment {
	return seed[appsv1.Deployment](t, file, namespace)
}

// The fixtures the suite shares with test/cli's tables and test/gitops: a one-sidecar profile spec selecting
// app=<app>, the log shipper of the seed manifests, a SidecarProfile, a minimal Deployment labelled app=<name>.
var (
	logShipperSpec = profilecases.LogShipperSpec
	sidecarSpec    = profilecases.SidecarSpec
	newProfile     = profilecases.NewProfile
	newDeployment  = profilecases.NewDeployment
	allAtOnce      = profilecases.AllAtOnce()
)

func create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := k8s.Create(context.Background(), o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
}

// getDeployment reads a Deployment from the apiserver.
func getDeployment(g Gomega, namespace, name string) *appsv1.Deployment {
	var d appsv1.Deployment
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, &d)).To(Succeed())
	return &d
}

// initContainerNames lists a template's init containers by name.
func initContainerNames(d *appsv1.Deployment) []string {
	var names []string
	for _, c := range d.Spec.Template.Spec.InitContainers {
		names = append(names, c.Name)
	}
	return names
}

// recordedProfiles lists the profiles recorded on a Deployment's pod template.
func recordedProfiles(g Gomega, d *appsv1.Deployment) []string {
	rec, err := inject.ReadRecord(&d.Spec.Template)
	g.Expect(err).NotTo(HaveOccurred())
	var refs []string
	for _, r := range rec.Refs() {
		refs = append(refs, r.String())
	}
	return refs
}

// withoutOutriggerMarks returns the template without Outrigger's annotation and label.
func withoutOutriggerMarks(tmpl corev1.PodTemplateSpec) corev1.PodTemplateSpec {
	out := *tmpl.DeepCopy()
	delete(out.Annotations, v1alpha1.InjectionAnnotation)
	delete(out.Labels, v1alpha1.InjectedLabel)
	return out
}

// getProfile reads a SidecarProfile from the apiserver.
func getProfile(g Gomega, namespace, name string) *v1alpha1.SidecarProfile {
	var p v1alpha1.SidecarProfile
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, &p)).To(Succeed())
	return &p
}

// condition returns the condition of a type, or an empty one.
func condition(st v1alpha1.SidecarProfileStatus, typ string) metav1.Condition {
	for _, c := range st.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{}
}

// ownedFields returns the JSON of the fields a field manager owns on an object.
func ownedFields(g Gomega, obj client.Object, manager string) string {
	for _, e := range obj.GetManagedFields() {
		if e.Manager == manager && e.FieldsV1 != nil {
			return e.FieldsV1.GetRawString()
		}
	}
	g.Expect(manager).To(BeEmpty(), "no managedFields entry for %s", manager)
	return ""
}

// updateProfile changes a SidecarProfile, retrying when the manager's status writes got there first.
func updateProfile(g Gomega, ns, name string, mutate func(*v1alpha1.SidecarProfile)) *v1alpha1.SidecarProfile {
	p := &v1alpha1.SidecarProfile{}
	updateObject(g, client.ObjectKey{Namespace: ns, Name: name}, p, func() { mutate(p) })
	return p
}

// updateObject reads obj fresh, changes it with mutate and updates it, retrying when a writer (the manager, most
// often) got there first: every test write to an object Outrigger also writes goes through here, or is a patch.
func updateObject(g Gomega, key client.ObjectKey, obj client.Object, mutate func()) {
	g.Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8s.Get(context.Background(), key, obj); err != nil {
			return err
		}
		mutate()
		return k8s.Update(context.Background(), obj)
	})).To(Succeed())
}
