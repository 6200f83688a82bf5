// Package bases holds the CustomResourceDefinitions that `make manifests` generates from api/v1alpha1, and embeds
// them: the CLI validates and defaults profiles with the very CRDs the cluster is given (internal/profileschema),
// so there is no second copy of their schemas to drift. (The Helm chart's copy, charts/outrigger/files/crds, is
// kept equal by test/install's TestChartCRDsAreConfigCRDs.)
package bases

import "embed"

// FS holds the CRDs, one YAML file each.
//
//go:embed *.yaml
var FS embed.FS
