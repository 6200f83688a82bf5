// Package metrics exports Outrigger's own Prometheus metrics on controller-runtime's registry, which the manager
// serves on its metrics endpoint (HTTPS on :8443 as installed):
//
//   - per profile, what its status says: the workloads it matches, injects, has up to date, rolled out and
//     healthy, its conditions (0/1 per status, as kube-state-metrics exports a Deployment's), and the workloads
//     needing attention by reason (SetProfile, ForgetProfile);
//   - per request of the mutating webhook, its decision by workload kind, outcome and reason, and how long the
//     handler took (InstrumentAdmission, Decide).
//
// Every label takes values from a set bounded by the code or the configuration (profile names, workload kinds,
// condition types and reasons Outrigger writes): no workload name is ever a label, so the number of series grows
// with the profiles, not with the workloads. docs/metrics.md lists them all, with the alerts and the dashboard
// that read them.
package metrics
