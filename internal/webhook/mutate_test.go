package webhook

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	jsonpatchv4 "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/catalog"
)

// rawDeployment is a Deployment as an apiserver newer than our k8s.io/api would send it: the user's init
// container, the app container and the pod spec carry fields our types do not know.
const rawDeployment = `{
  "apiVersion": "apps/v1", "kind": "Deployment",
  "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
  "spec": {
    "selector": {"matchLabels": {"app": "web"}},
    "template": {
      "metadata": {"labels": {"app": "web"}},
      "spec": {
        "futurePodField": "keep-me",
        "initContainers": [{"name": "migrate", "image": "busybox", "futureContainerField": {"x": 1}}],
        "containers": [{"name": "app", "image": "busybox", "futureContainerField": [1, 2]}]
      }
    }
  }
}`

// logsProfile is a log shipper in namespace shop selecting app=web (rawDeployment): a sidecar, an emptyDir, and
// a mount of it in the app containers.
func logsProfile() *v1alpha1.SidecarProfile {
	return &v1alpha1.SidecarProfile{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "logs"},
		Spec: v1alpha1.SidecarProfileSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Sidecars: []v1alpha1.Sidecar{{Container: corev1.Container{Name: "logshipper", Image: "alpine",
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/opt"}}}}},
			Volumes: []v1alpha1.ProfileVolume{{Volume: corev1.Volume{Name: "data",
				VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}},
			AppContainerMounts: []v1alpha1.AppContainerMount{{Name: "data", MountPath: "/opt"}},
		},
	}
}

func TestInjector_PatchLeavesFieldsUnknownToOurAPIAlone(t *testing.T) {
	profile := logsProfile()
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	reader := fake.NewClientBuilder().WithScheme(scheme).WithObjects(profile,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}).Build()
	h := &Injector{Catalog: catalog.Catalog{Reader: reader}}

	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Kind: metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, Namespace: "shop",
		Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: []byte(rawDeployment)},
	}}
	resp := h.Handle(context.Background(), req)
	if !resp.Allowed || resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("want an allowed JSON patch, got %+v", resp.AdmissionResponse)
	}
	if strings.Contains(string(resp.Patch), "future") {
		t.Errorf("the patch has an operation on an unknown field: %s", resp.Patch)
	}

	patch, err := jsonpatchv4.DecodePatch(resp.Patch)
	if err != nil {
		t.Fatal(err)
	}
	out, err := patch.Apply([]byte(rawDeployment))
	if err != nil {
		t.Fatalf("the patch does not apply to the raw object: %v\n%s", err, resp.Patch)
	}
	var got struct {
		Spec struct {
			Template struct {
				Spec map[string]any `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	spec := got.Spec.Template.Spec
	inits := spec["initContainers"].([]any)
	if names := []any{inits[0].(map[string]any)["name"], inits[1].(map[string]any)["name"]}; names[0] != "logshipper" || names[1] != "migrate" {
		t.Errorf("init containers = %v, want [logshipper migrate]", names)
	}
	if inits[1].(map[string]any)["futureContainerField"] == nil {
		t.Errorf("the user's init container lost its unknown field: %v", inits[1])
	}
	if inits[0].(map[string]any)["futureContainerField"] != nil {
		t.Errorf("the sidecar got the user's unknown field: %v", inits[0])
	}
	app := spec["containers"].([]any)[0].(map[string]any)
	if app["futureContainerField"] == nil || app["volumeMounts"] == nil {
		t.Errorf("the app container should keep its unknown field and get the mount: %v", app)
	}
	if spec["futurePodField"] != "keep-me" {
		t.Errorf("the pod spec lost its unknown field: %v", spec)
	}
}

// Requests the webhook is not for (a Job update, another kind) are allowed untouched.
func TestInjector_IgnoresWhatItIsNotFor(t *testing.T) {
	h := &Injector{}
	for _, req := range []admissionv1.AdmissionRequest{
		{Kind: metav1.GroupVersionKind{Group: "batch", Version: "v1", Kind: "Job"}, Operation: admissionv1.Update},
		{Kind: metav1.GroupVersionKind{Group: "", Version: "v1", Kind: "Pod"}, Operation: admissionv1.Create},
	} {
		resp := h.Handle(context.Background(), admission.Request{AdmissionRequest: req})
		if !resp.Allowed || resp.Patch != nil {
			t.Errorf("%s %s: want allowed without a patch, got %+v", req.Operation, req.Kind.Kind, resp.AdmissionResponse)
		}
	}
}

// A body that is not a workload is admitted with a warning: the webhook never blocks a deploy.
func TestInjector_AdmitsWhatItCannotRead(t *testing.T) {
	h := &Injector{}
	resp := h.Handle(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Kind: metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, Operation: admissionv1.Create,
		Object: runtime.RawExtension{Raw: []byte(`{"spec": 42}`)},
	}})
	if !resp.Allowed || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "cannot read the Deployment") {
		t.Errorf("want allowed with a warning, got %+v", resp.AdmissionResponse)
	}
}
