package controlplane

import (
	"fmt"
	"os"
	"path/filepath"
)

// ThirdPartyCRDs is where `make third-party-crds` puts the CRDs of other projects that the tests install,
// relative to the repository root: they come from those projects' Go modules, and are not kept in this one.
var ThirdPartyCRDs = filepath.Join("bin", "crds")

// ArgoRolloutCRD is the path of Argo Rollouts' Rollout CRD (of ArgoRolloutsVersion). It fails, saying how to get
// it, when it is not there.
func ArgoRolloutCRD(root string) (string, error) {
	path := filepath.Join(root, ThirdPartyCRDs, "argo-rollouts-"+ArgoRolloutsVersion, "rollout-crd.yaml")
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("%s not found: run `make third-party-crds` to copy it from the Go module github.com/argoproj/argo-rollouts@%s",
			path, ArgoRolloutsVersion)
	}
	return path, nil
}
