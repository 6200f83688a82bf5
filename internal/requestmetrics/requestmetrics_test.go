package requestmetrics

import "testing"

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		method, path string
		watch        bool
		verb, res    string
	}{
		{"PATCH", "/apis/apps/v1/namespaces/shop/deployments/web", false, "patch", "apps/deployments"},
		{"GET", "/apis/apps/v1/deployments", false, "list", "apps/deployments"},
		{"GET", "/apis/apps/v1/deployments", true, "watch", "apps/deployments"},
		{"GET", "/apis/apps/v1/namespaces/shop/deployments/web", false, "get", "apps/deployments"},
		{"PATCH", "/apis/sidecars.outrigger.dev/v1alpha1/namespaces/shop/sidecarprofiles/logs/status", false, "patch", "sidecars.outrigger.dev/sidecarprofiles/status"},
		{"PATCH", "/apis/sidecars.outrigger.dev/v1alpha1/clustersidecarprofiles/mesh/status", false, "patch", "sidecars.outrigger.dev/clustersidecarprofiles/status"},
		{"GET", "/api/v1/namespaces", false, "list", "namespaces"},
		{"GET", "/api/v1/namespaces/shop", false, "get", "namespaces"},
		{"GET", "/api/v1/namespaces/shop/pods", true, "watch", "pods"},
		{"POST", "/apis/events.k8s.io/v1/namespaces/shop/events", false, "create", "events.k8s.io/events"},
		{"PUT", "/apis/coordination.k8s.io/v1/namespaces/outrigger-system/leases/outrigger", false, "update", "coordination.k8s.io/leases"},
		{"GET", "/version", false, "get", "nonresource"},
		{"GET", "/apis", false, "get", "nonresource"},
		{"GET", "/api/v1", false, "get", "nonresource"},
	} {
		verb, res := Classify(tc.method, tc.path, tc.watch)
		if verb != tc.verb || res != tc.res {
			t.Errorf("%s %s watch=%v: got %s %s, want %s %s", tc.method, tc.path, tc.watch, verb, res, tc.verb, tc.res)
		}
	}
}
