// Package install holds no code, only tests of the two ways to install Outrigger: the kustomize tree of config/
// (config/default, config/cert-manager) and the Helm chart of charts/outrigger.
//
// The tests render both in-process (kustomize's krusty, Helm's chart loader and template engine: what
// `kustomize build` and `helm template` run), check that the chart does not drift from config/ (CRDs, RBAC rules,
// webhook settings, the manager's pod), and send every rendered object to a real kube-apiserver (envtest) as a
// server-side dry-run apply. They need the envtest binaries: `make envtest-binaries`.
package install
