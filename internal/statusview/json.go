package statusview

import (
	"encoding/json"
	"io"

	"sigs.k8s.io/yaml"
)

// Document is what `status -o json|yaml` prints: the profiles as the table lists them, each with its status as
// stored (every needsAttention entry, whatever the namespace) and its readiness as the READY column says it.
type Document struct {
	Profiles []DocumentProfile `json:"profiles"`
}

// DocumentProfile is one profile of a Document.
type DocumentProfile struct {
	Profile `json:",inline"`
	// Ready is the profile's readiness (see Ready): Unknown while Outrigger has not observed its current spec.
	Ready Readiness `json:"ready"`
}

// NewDocument returns the Document of the profiles, in the order given.
func NewDocument(profiles []Profile) Document {
	d := Document{Profiles: make([]DocumentProfile, 0, len(profiles))}
	for _, p := range profiles {
		d.Profiles = append(d.Profiles, DocumentProfile{Profile: p, Ready: Ready(p)})
	}
	return d
}

// WriteJSON writes the profiles' Document as indented JSON.
func WriteJSON(w io.Writer, profiles []Profile) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(NewDocument(profiles))
}

// WriteYAML writes the profiles' Document as YAML.
func WriteYAML(w io.Writer, profiles []Profile) error {
	out, err := yaml.Marshal(NewDocument(profiles))
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}
