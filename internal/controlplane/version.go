package controlplane

// KubernetesVersion is the version of kube-apiserver, kubectl (and, for the end-to-end cluster, the other
// components) that the tests, the demo and the benchmarks run against. It is written here only: the Makefile
// and hack/ read it from this line, and Go code takes it from this constant.
const KubernetesVersion = "v1.37.1"

// OldestKubernetesVersion is the oldest Kubernetes the README promises (the first minor with native sidecars
// on by default, at its last patch release). `make test-oldest` runs the integration suites against it.
const OldestKubernetesVersion = "v1.29.15"

// ArgoRolloutsVersion is the Argo Rollouts release whose Rollout CRD the integration tests install, to test
// Outrigger against the real schema of a kind that is not built into Kubernetes. `make third-party-crds` copies
// the CRD from that Go module (the last release this toolchain's go directive accepts) into ThirdPartyCRDs.
const ArgoRolloutsVersion = "v1.9.0"
