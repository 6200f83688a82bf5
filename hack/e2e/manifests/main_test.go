package main

import (
	"strings"
	"testing"
)

const rendered = `apiVersion: v1
kind: Service
metadata:
  name: outrigger-webhook-service
  namespace: outrigger-system
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: outrigger-controller-manager
spec:
  template:
    spec:
      containers:
      - name: manager
        image: controller:latest
        env:
        - name: POD_NAMESPACE
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: outrigger-mutating-webhook-configuration
webhooks:
- name: workloads.sidecars.outrigger.dev
  clientConfig:
    service:
      name: outrigger-webhook-service
      namespace: outrigger-system
      path: /mutate-workloads
`

func TestProcessModeDropsTheManagerAndCallsLocalhost(t *testing.T) {
	out, err := adapt([]byte(rendered), "process", 9443, "", "")
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if strings.Contains(s, "kind: Deployment") {
		t.Errorf("the manager Deployment is still there:\n%s", s)
	}
	if !strings.Contains(s, "url: https://localhost:9443/mutate-workloads") || strings.Contains(s, "path: /mutate-workloads") {
		t.Errorf("the webhook does not call https://localhost:9443/mutate-workloads (and only that):\n%s", s)
	}
	if !strings.Contains(s, "kind: Service") {
		t.Errorf("the Service is gone:\n%s", s)
	}
}

func TestPodModeSetsTheImageAndTheAPIServer(t *testing.T) {
	out, err := adapt([]byte(rendered), "pod", 9443, "docker.io/library/outrigger:e2e", "10.244.0.1:6443")
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, want := range []string{"image: docker.io/library/outrigger:e2e", "imagePullPolicy: Never", "name: POD_NAMESPACE",
		"name: KUBERNETES_SERVICE_HOST\n          value: 10.244.0.1", "name: KUBERNETES_SERVICE_PORT\n          value: \"6443\"",
		"path: /mutate-workloads"} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %q in:\n%s", want, s)
		}
	}
}

func TestAnInputWithoutTheManagerIsRefused(t *testing.T) {
	if _, err := adapt([]byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n"), "process", 9443, "", ""); err == nil {
		t.Error("no error for an input without the manager Deployment")
	}
}
