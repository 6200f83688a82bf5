// Package offline is the logic of the outrigger CLI: it predicts, from manifests and profiles on disk, what
// Outrigger's admission webhook would do to each Deployment, Job and CronJob at its creation, and writes the
// manifests back with the sidecars, changing nothing else.
//
// It reuses the cluster's code rather than restating its rules: internal/profileschema reads each profile as the
// apiserver stores it (pruned, defaulted and validated with the CRDs' own schemas and CEL rules), internal/catalog
// builds the engine input (over an in-memory reader made of the inputs), internal/selection decides which
// profiles select a workload (and says why not), and internal/mutation computes what the webhook changes and the
// JSON patch it answers with. That patch is applied to the document's YAML node tree, so untouched nodes keep
// their comments.
package offline
