package kindconfig

import (
	"fmt"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// CheckSchema checks a configured kind against its CRD's schema: the version is served, and the pod template
// path leads, through the schema, to an object with a spec that has containers. A schema that keeps unknown
// fields on the way cannot say, and passes; the apiserver's answer to the first write is then the judge.
func CheckSchema(crd *apiextensionsv1.CustomResourceDefinition, k Kind) error {
	var version *apiextensionsv1.CustomResourceDefinitionVersion
	for i, v := range crd.Spec.Versions {
		if v.Name == k.GVK.Version {
			version = &crd.Spec.Versions[i]
		}
	}
	switch {
	case version == nil || !version.Served:
		return fmt.Errorf("version: the CRD %s does not serve %s: configure a version it serves", crd.Name, k.GVK.Version)
	case version.Schema == nil || version.Schema.OpenAPIV3Schema == nil:
		return nil
	}
	path := strings.TrimPrefix(strings.ReplaceAll(k.TemplatePath, "/", "."), ".")
	node := version.Schema.OpenAPIV3Schema
	for _, field := range append(strings.Split(path, "."), "spec", "containers") {
		next, ok := node.Properties[field]
		switch {
		case ok:
			node = &next
		case preservesUnknown(node):
			return nil
		default:
			return notATemplate(crd, k, path, field)
		}
	}
	if node.Type != "array" {
		return fmt.Errorf("podTemplatePath: %s.spec.containers in the CRD %s is a %s, not a list of containers: is %s a pod template?",
			path, crd.Name, node.Type, path)
	}
	return nil
}

func preservesUnknown(node *apiextensionsv1.JSONSchemaProps) bool {
	return node.XPreserveUnknownFields != nil && *node.XPreserveUnknownFields
}

func notATemplate(crd *apiextensionsv1.CustomResourceDefinition, k Kind, path, missing string) error {
	if missing == "spec" || missing == "containers" {
		return fmt.Errorf("podTemplatePath: %s is not a pod template in the CRD %s (%s): it has no spec.containers; point it at the field that has metadata and spec",
			path, crd.Name, k.GVK.Version)
	}
	return fmt.Errorf("podTemplatePath: the CRD %s (%s) has no field %s on the way to %s: correct the path",
		crd.Name, k.GVK.Version, missing, path)
}
