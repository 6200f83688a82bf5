package inject

import (
	"encoding/json"
	"fmt"

	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
)

// TemplatePatch returns the JSON patch operations that turn before into after, with paths under prefix (the
// template's JSON pointer in its object, such as /spec/template). Both templates are marshalled from the same
// typed API, so a field the typed API does not know is in neither and no operation touches it: the patch is
// safe to apply to the raw object.
func TemplatePatch(prefix string, before, after *corev1.PodTemplateSpec) ([]jsonpatch.Operation, error) {
	a, err := json.Marshal(before)
	if err != nil {
		return nil, fmt.Errorf("marshalling the pod template: %w", err)
	}
	b, err := json.Marshal(after)
	if err != nil {
		return nil, fmt.Errorf("marshalling the injected pod template: %w", err)
	}
	ops, err := jsonpatch.CreatePatch(a, b)
	if err != nil {
		return nil, fmt.Errorf("computing the pod template patch: %w", err)
	}
	for i := range ops {
		ops[i].Path = prefix + ops[i].Path
	}
	return ops, nil
}
