package policy

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/admission"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject/injectcases"
	"github.com/outrigger-dev/outrigger/internal/mutation"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// Each override case of the engine's table, compiled and run with the apiserver's CEL, gives the engine's
// template: overrides applied and refused alike. test/admission stores them on a real apiserver too.
func TestCompile_AppliesTheWorkloadsOverridesAsTheEngineDoes(t *testing.T) {
	for _, c := range injectcases.Overrides() {
		t.Run(c.Name, func(t *testing.T) {
			var profiles []Profile
			for _, p := range c.Profiles {
				sp := &v1alpha1.SidecarProfile{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: p.Ref.Name}, Spec: *p.Spec.DeepCopy()}
				sp.Spec.Selector = &metav1.LabelSelector{}
				in, err := FromProfile(sp, &sp.Spec)
				if err != nil {
					t.Fatal(err)
				}
				profiles = append(profiles, in)
			}
			cs, err := Compile(workload.Deployment, profiles, Options{ManagerUser: "outrigger"})
			if err != nil || len(cs) != 1 {
				t.Fatalf("Compile: %d policies, %v", len(cs), err)
			}
			d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", Annotations: c.Annotations},
				Spec: appsv1.DeploymentSpec{Template: *c.Template.DeepCopy()}}
			d.SetGroupVersionKind(workload.Deployment.GVK)
			want, err := mutation.Compute(workload.Deployment, d, c.Profiles)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := mutating(t, cs[0].Policy)(request{op: admission.Create, object: d.DeepCopy(),
				gvr:       workload.Deployment.GVK.GroupVersion().WithResource(workload.Deployment.Resource),
				namespace: "shop", user: alice, namespaceObj: namespaceObject("shop", nil)})
			if g := got.(*appsv1.Deployment).Spec.Template; !equality.Semantic.DeepEqual(*want.Template, g) {
				t.Errorf("the policy's pod template is not the engine's\nengine: %+v\npolicy: %+v", want.Template.Spec.InitContainers, g.Spec.InitContainers)
			}
		})
	}
}
