// Package e2e holds the end-to-end tests: the native-sidecar behaviour users rely on (test/testdata/seed/
// BEHAVIOUR.md), observed on a real single-node cluster (hack/e2e) where Outrigger injects the sidecars from
// profiles into workloads written without them. The tests carry the build tag e2e, so `go test ./...` leaves them
// out; `make test-e2e` starts the cluster (make e2e-up) and runs them:
//
//	go test -tags e2e ./test/e2e -count=1 -v -timeout 20m
//
// They talk to the cluster of .e2e/kubeconfig (or E2E_KUBECONFIG), never to the one of KUBECONFIG, and fail when
// it is not reachable. Each test works in a namespace of its own, deleted at the end (kept with E2E_KEEP=1);
// orders and times come from the containers' logs with the kubelet's timestamps, never from sleeps.
package e2e
