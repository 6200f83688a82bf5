// Package revision holds what rolling a profile's revisions out in waves needs, without a client: what a
// revision is (the rendered part of a spec, as stored in a ControllerRevision), the order workloads go in
// (Rank), the waves (Plan), which revision a workload gets (Target), and when a wave's gate opens or the rollout
// halts (Step). The profile reconciler calls Step and writes status.rollout; the workload reconciler, the
// admission webhook and the CLI call Target.
package revision
