package revision

import (
	"encoding/json"
	"fmt"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
)

// Content is what a revision renders: the fields of a spec that inject.Revision hashes. A ControllerRevision
// keeps it, so a workload outside the open waves can be given the stable revision after the spec has changed.
type Content struct {
	Placement          v1alpha1.Placement           `json:"placement,omitempty"`
	Sidecars           []v1alpha1.Sidecar           `json:"sidecars"`
	Volumes            []v1alpha1.ProfileVolume     `json:"volumes,omitempty"`
	AppContainerMounts []v1alpha1.AppContainerMount `json:"appContainerMounts,omitempty"`
	Overrides          []v1alpha1.SidecarOverride   `json:"overrides,omitempty"`
}

// ContentOf returns the rendered part of a spec.
func ContentOf(spec *v1alpha1.SidecarProfileSpec) Content {
	return Content{Placement: spec.Placement, Sidecars: spec.Sidecars, Volumes: spec.Volumes, AppContainerMounts: spec.AppContainerMounts, Overrides: spec.Overrides}
}

// Encode is the ControllerRevision data of a spec's content.
func Encode(spec *v1alpha1.SidecarProfileSpec) ([]byte, error) {
	return json.Marshal(ContentOf(spec))
}

// SpecAt returns spec with its rendered part replaced by the content stored for revision hash, so the engine
// renders that revision (its selection fields stay the current ones). It fails when the data does not hash to
// hash: a ControllerRevision edited by hand is never rendered as if it were the revision it names.
func SpecAt(spec *v1alpha1.SidecarProfileSpec, hash string, data []byte) (*v1alpha1.SidecarProfileSpec, error) {
	var c Content
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("revision %s: reading its stored content: %w", hash, err)
	}
	out := spec.DeepCopy()
	out.Placement, out.Sidecars, out.Volumes, out.AppContainerMounts, out.Overrides = c.Placement, c.Sidecars, c.Volumes, c.AppContainerMounts, c.Overrides
	if got := inject.Revision(out); got != hash {
		return nil, fmt.Errorf("revision %s: its stored content hashes to %s (edited by hand?)", hash, got)
	}
	return out, nil
}
