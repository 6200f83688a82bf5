//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// readYAML decodes a file of the repository (paths are relative to test/e2e).
func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// BEHAVIOUR.md 1: the seed's Deployment as it sits in Git, without sidecar or volume, and the README's log-shipper
// profile (config/samples), with the local busybox image instead of alpine:latest. Outrigger's webhook gives the
// Deployment the sidecar as it is created, and the sidecar's log shows what the app writes to the shared emptyDir.
func TestLogShipperSeesTheAppsLines(t *testing.T) {
	t.Parallel()
	k := connect(t)
	ns := k.namespace(t, "logshipper")
	ctx := context.Background()

	var profile v1alpha1.SidecarProfile
	readYAML(t, "../../config/samples/sidecars_v1alpha1_sidecarprofile.yaml", &profile)
	profile.Namespace = ns
	for i := range profile.Spec.Sidecars {
		profile.Spec.Sidecars[i].Image = busybox
	}
	k.createProfile(t, ns, profile.Name, profile.Spec)

	var d appsv1.Deployment
	readYAML(t, "../testdata/seed/deployment-plain.yaml", &d)
	d.Namespace = ns
	for i := range d.Spec.Template.Spec.Containers {
		d.Spec.Template.Spec.Containers[i].Image = busybox
	}
	if n := len(d.Spec.Template.Spec.InitContainers) + len(d.Spec.Template.Spec.Volumes); n != 0 {
		t.Fatalf("deployment-plain.yaml is meant to have no sidecar and no volume, has %d", n)
	}
	if err := k.Create(ctx, &d); err != nil {
		t.Fatal(err)
	}
	// The object the apiserver stored on create: the webhook injected it at admission, not a later patch.
	if got := sidecarNames(&d.Spec.Template.Spec); len(got) != 1 || got[0] != "logshipper" {
		t.Fatalf("the Deployment as created has native sidecars %v, want [logshipper] injected at admission", got)
	}
	if d.Generation != 1 {
		t.Errorf("the Deployment's generation is %d right after create, want 1", d.Generation)
	}

	pod := k.readyPods(t, ns, d.Name, 1)[0]
	// busybox's tail -F also says, on stderr, that the file is not there yet (the sidecar starts before the
	// app) and when it appears; the app's lines are the "logging" ones.
	var all, lines []line
	waitFor(t, 30*time.Second, "3 of the app's lines in the log shipper's log", func(ctx context.Context) (bool, string, error) {
		var err error
		if all, err = k.logs(ctx, ns, pod.Name, "logshipper", false); err != nil {
			return false, err.Error(), nil
		}
		lines = lines[:0]
		for _, l := range all {
			if strings.TrimSpace(l.Text) == "logging" {
				lines = append(lines, l)
			}
		}
		return len(lines) >= 3, fmt.Sprintf("%d lines: %v", len(all), all), nil
	})
	t.Logf("logshipper's log:\n%s", dumpLines(all))
	// The app appends a line every second; tail -F forwards each as it comes.
	for i := 1; i < len(lines); i++ {
		between(t, "the log shipper's next line of the app", lines[i-1], lines[i], 500*time.Millisecond, 2*time.Second)
	}
	app, _ := containerStatus(&pod, "myapp")
	if app.RestartCount != 0 || app.State.Running == nil {
		t.Errorf("the app container is not running untouched: %+v", app.State)
	}
	if s, _ := containerStatus(&pod, "logshipper"); s.RestartCount != 0 || !ptr.Deref(s.Started, false) {
		t.Errorf("the log shipper is not running untouched: restarts %d, started %v", s.RestartCount, s.Started)
	}
}
