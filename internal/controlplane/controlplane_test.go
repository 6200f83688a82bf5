package controlplane_test

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/controlplane"
	"github.com/outrigger-dev/outrigger/internal/manager"
)

// An in-process manager on a control plane with Outrigger's CRDs and webhook configurations serves the webhooks
// where envtest points them: the profiles' validating webhook, which fails closed, admits a profile, and the
// mutating webhook injects a Deployment it selects at admission (generation 1).
func TestInProcessManagerServesTheWebhooks(t *testing.T) {
	root, err := controlplane.Root()
	if err != nil {
		t.Fatal(err)
	}
	env, err := controlplane.Start(root, controlplane.Options{CRDs: true, Webhooks: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Error(err)
		}
	})
	if host, port, certDir := env.WebhookServing(); host == "" || port == 0 || certDir == "" {
		t.Fatalf("WebhookServing() = %q, %d, %q: want where envtest points the webhook configurations", host, port, certDir)
	}

	mgr, err := controlplane.StartInProcessManager(t.Context(), env, nil, manager.Options{Webhook: manager.WebhookOptions{Enabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mgr.Stop() }) // before the control plane stops, should the test fail
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := mgr.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
	c, err := env.Client(scheme)
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "web"}
	profile := &v1alpha1.SidecarProfile{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "logs"},
		Spec: v1alpha1.SidecarProfileSpec{Selector: &metav1.LabelSelector{MatchLabels: labels},
			Sidecars: []v1alpha1.Sidecar{{Container: corev1.Container{Name: "logshipper", Image: "busybox"}}}}}
	if err := c.Create(ctx, profile); err != nil {
		t.Fatalf("creating a profile (its validating webhook fails closed): %v", err)
	}
	// The webhook reads profiles from the manager's cache: retry until the cache has this one.
	for {
		dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", Labels: labels},
			Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox"}}}}}}
		if err := c.Create(ctx, dep, client.DryRunAll); err != nil {
			t.Fatalf("a dry-run create of a Deployment: %v", err)
		}
		if len(dep.Spec.Template.Spec.InitContainers) == 1 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the Deployment was never injected at admission: init containers %v", dep.Spec.Template.Spec.InitContainers)
		case <-time.After(100 * time.Millisecond):
		}
	}

	if err := mgr.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-mgr.Exited():
	default:
		t.Fatal("Stop returned before the manager had stopped")
	}
}
