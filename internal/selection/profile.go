package selection

import (
	"encoding/json"
	"fmt"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// Name is how a person looks a profile up, in messages: "SidecarProfile <namespace>/<name>" or
// "ClusterSidecarProfile <name>".
func Name(p Profile) string {
	if p.GetNamespace() == "" {
		return "ClusterSidecarProfile " + p.GetName()
	}
	return "SidecarProfile " + p.GetNamespace() + "/" + p.GetName()
}

// NewProfile returns an empty profile of a kind, SidecarProfile or ClusterSidecarProfile; false for any other.
func NewProfile(kind string) (Profile, bool) {
	switch kind {
	case "SidecarProfile":
		return &v1alpha1.SidecarProfile{}, true
	case "ClusterSidecarProfile":
		return &v1alpha1.ClusterSidecarProfile{}, true
	}
	return nil, false
}

// DecodeProfile reads a profile of the given kind from JSON, as the apiserver sends it to a webhook or a client
// reads it: unknown fields are ignored (the apiserver has already pruned or refused them). A SidecarProfile that
// names no namespace gets namespace (the request's); a ClusterSidecarProfile never has one, as the apiserver
// clears it, and Ref relies on that.
func DecodeProfile(kind string, raw []byte, namespace string) (Profile, error) {
	p, ok := NewProfile(kind)
	if !ok {
		return nil, fmt.Errorf("not a profile: %s", kind)
	}
	if err := json.Unmarshal(raw, p); err != nil {
		return nil, fmt.Errorf("cannot read the %s: %w", kind, err)
	}
	if _, cluster := p.(*v1alpha1.ClusterSidecarProfile); cluster {
		p.SetNamespace("")
	} else if p.GetNamespace() == "" {
		p.SetNamespace(namespace)
	}
	return p, nil
}
