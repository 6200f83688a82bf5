package main

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	"sigs.k8s.io/yaml"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// The demo's samples, as the cluster gets them, name no image but the one it has, and are otherwise as written.
func TestForCluster_GivesEverySampleContainerTheClustersImage(t *testing.T) {
	t.Chdir("../..") // the samples' paths are relative to the repository root
	read := func(path string, into any) {
		t.Helper()
		out, replaced, err := ForCluster(path)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(replaced, []string{"alpine:latest"}) {
			t.Errorf("%s: replaced %v, want [alpine:latest]", path, replaced)
		}
		if err := yaml.UnmarshalStrict(out, into); err != nil {
			t.Fatalf("%s as rewritten: %v\n%s", path, err, out)
		}
	}
	var p v1alpha1.SidecarProfile
	var d appsv1.Deployment
	var j batchv1.Job
	read(profileSample, &p)
	read(deploymentSample, &d)
	read(jobSample, &j)

	for what, image := range map[string]string{
		"the profile's sidecar": p.Spec.Sidecars[0].Image,
		"the Deployment's app":  d.Spec.Template.Spec.Containers[0].Image,
		"the Job's app":         j.Spec.Template.Spec.Containers[0].Image,
	} {
		if image != clusterImage {
			t.Errorf("%s runs %s, want %s", what, image, clusterImage)
		}
	}
	if s := p.Spec.Sidecars[0]; s.Name != "logshipper" || !strings.Contains(strings.Join(s.Command, " "), "tail -F") {
		t.Errorf("the profile's sidecar changed beyond its image: %+v", s)
	}
	if j.Labels["app"] != "myapp" || p.Spec.Selector.MatchLabels["app"] != "myapp" {
		t.Errorf("the profile (selector %v) does not select the Job (labels %v)", p.Spec.Selector.MatchLabels, j.Labels)
	}
}
