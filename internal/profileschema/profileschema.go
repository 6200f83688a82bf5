// Package profileschema does to a SidecarProfile or ClusterSidecarProfile what the apiserver does to one being
// created, with the CRDs' own schemas (config/crd/bases, embedded in the binary): it prunes the fields the schema
// does not declare (and names them, for strict field validation), applies the schema's defaults, and validates
// the object's metadata, its OpenAPI schema, its list types and its CEL rules within the apiserver's cost budget.
//
// It is assembled from the apiserver's own packages (k8s.io/apiextensions-apiserver), in the order its custom
// resource handler applies them, so that its messages are the apiserver's and a defaulted profile is the one the
// apiserver stores: the CLI hashes the same revision as the cluster.
package profileschema

import (
	"context"
	"fmt"
	"io/fs"
	"sync"

	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	structurallisttype "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	schemaobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	metavalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	sigsyaml "sigs.k8s.io/yaml"

	crds "github.com/outrigger-dev/outrigger/config/crd/bases"
)

// Schema is one kind's schema, as the apiserver serves it.
type Schema struct {
	// GVK is the served group, version and kind.
	GVK schema.GroupVersionKind
	// Namespaced is whether objects of the kind live in a namespace.
	Namespaced bool
	// Resource is the kind's resource, as kubectl explain names it (sidecarprofiles).
	Resource string

	structural *structuralschema.Structural
	validator  apiservervalidation.SchemaValidator
	cel        *cel.Validator // nil when the schema has no x-kubernetes-validations
	hasStatus  bool           // the status subresource: a create cannot set status
}

// For returns the schema of a kind of the embedded CRDs (SidecarProfile, ClusterSidecarProfile). The CRDs are
// read, and their CEL rules compiled, on the first call.
func For(kind string) (*Schema, error) {
	all, err := load()
	if err != nil {
		return nil, err
	}
	s, ok := all[kind]
	if !ok {
		return nil, fmt.Errorf("no CustomResourceDefinition serves the kind %s", kind)
	}
	return s, nil
}

var load = sync.OnceValues(func() (map[string]*Schema, error) {
	out := map[string]*Schema{}
	files, err := fs.Glob(crds.FS, "*.yaml")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		raw, err := crds.FS.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := sigsyaml.UnmarshalStrict(raw, &crd); err != nil {
			return nil, fmt.Errorf("reading the CRD %s: %w", f, err)
		}
		s, err := newSchema(&crd)
		if err != nil {
			return nil, fmt.Errorf("the CRD %s: %w", f, err)
		}
		out[s.GVK.Kind] = s
	}
	return out, nil
})

// newSchema builds the schema of the CRD's storage version, as the apiserver's custom resource handler does
// (crdHandler.getOrCreateServingInfoFor): the internal version of the OpenAPI schema, its structural form with
// its defaults pruned, the OpenAPI validator and the CEL validator.
func newSchema(crd *apiextensionsv1.CustomResourceDefinition) (*Schema, error) {
	for _, v := range crd.Spec.Versions {
		if !v.Storage {
			continue
		}
		if !v.Served || v.Schema == nil {
			return nil, fmt.Errorf("version %s is not served with a schema", v.Name)
		}
		internal := &apiextensionsinternal.CustomResourceValidation{}
		if err := apiextensionsv1.Convert_v1_CustomResourceValidation_To_apiextensions_CustomResourceValidation(v.Schema, internal, nil); err != nil {
			return nil, err
		}
		structural, err := structuralschema.NewStructural(internal.OpenAPIV3Schema)
		if err != nil {
			return nil, err
		}
		structural = structural.DeepCopy()
		if err := structuraldefaulting.PruneDefaults(structural); err != nil {
			return nil, err
		}
		validator, _, err := apiservervalidation.NewSchemaValidator(internal.OpenAPIV3Schema)
		if err != nil {
			return nil, err
		}
		return &Schema{
			GVK:        schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: crd.Spec.Names.Kind},
			Namespaced: crd.Spec.Scope == apiextensionsv1.NamespaceScoped,
			Resource:   crd.Spec.Names.Plural,
			structural: structural,
			validator:  validator,
			cel:        cel.NewValidator(structural, true, celconfig.PerCallLimit),
			hasStatus:  v.Subresources != nil && v.Subresources.Status != nil,
		}, nil
	}
	return nil, fmt.Errorf("no storage version")
}

// Create does to obj, an object of the schema's kind decoded from JSON, what the apiserver does when it is
// created in namespace (the request's: kubectl's -n, or the object's own), in place:
//
//   - a namespaced object that names no namespace gets namespace; a cluster-scoped one loses its namespace;
//   - the fields the schema does not declare are pruned, and returned as unknown, as paths ("spec.sidecar"):
//     with strict field validation, kubectl's default, the apiserver refuses the object naming them;
//   - the schema's defaults are applied;
//   - status is dropped (a create cannot set it, the status subresource does);
//   - the object is validated: its metadata, the OpenAPI schema, list types and, if nothing blocks them, the
//     CEL rules.
//
// errs are the apiserver's, each naming the field and what is wrong with it.
func (s *Schema) Create(ctx context.Context, obj map[string]any, namespace string) (unknown []string, errs field.ErrorList) {
	u := &unstructured.Unstructured{Object: obj}
	if !s.Namespaced {
		namespace = ""
	}
	if _, isMap := obj["metadata"].(map[string]any); isMap || obj["metadata"] == nil {
		if !s.Namespaced || u.GetNamespace() == "" {
			u.SetNamespace(namespace)
		}
	}
	unknown, err := s.coerce(u)
	if err != nil {
		return unknown, field.ErrorList{field.Invalid(field.NewPath("metadata"), obj["metadata"], err.Error())}
	}
	structuraldefaulting.Default(obj, s.structural)
	if s.hasStatus {
		delete(obj, "status")
	}
	return unknown, s.validate(ctx, u)
}

// coerce is the apiserver's unstructuredSchemaCoercer.apply for a create with strict field validation: the
// metadata is read and written back clean, unknown fields are pruned (and named) and the nulls the schema does
// not allow are dropped.
func (s *Schema) coerce(u *unstructured.Unstructured) ([]string, error) {
	kind, apiVersion := u.GetKind(), u.GetAPIVersion()
	meta, hasMeta, unknown, err := schemaobjectmeta.GetObjectMetaWithOptions(u.Object, schemaobjectmeta.ObjectMetaOptions{ReturnUnknownFieldPaths: true})
	if err != nil {
		return nil, err
	}
	unknown = append(unknown, structuralpruning.PruneWithOptions(u.Object, s.structural, true,
		structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})...)
	structuraldefaulting.PruneNonNullableNullsWithoutDefaults(u.Object, s.structural)
	ferr, paths := schemaobjectmeta.CoerceWithOptions(nil, u.Object, s.structural, false, schemaobjectmeta.CoerceOptions{ReturnUnknownFieldPaths: true})
	if ferr != nil {
		return nil, ferr
	}
	unknown = append(unknown, paths...)
	u.SetKind(kind)
	u.SetAPIVersion(apiVersion)
	if hasMeta {
		if err := schemaobjectmeta.SetObjectMeta(u.Object, meta); err != nil {
			return nil, err
		}
	}
	return unknown, nil
}

// validate is the custom resource strategy's Validate on create.
func (s *Schema) validate(ctx context.Context, u *unstructured.Unstructured) field.ErrorList {
	var errs field.ErrorList
	if u.GetKind() != s.GVK.Kind {
		errs = append(errs, field.Invalid(field.NewPath("kind"), u.GetKind(), "must be "+s.GVK.Kind))
	}
	if u.GetAPIVersion() != s.GVK.GroupVersion().String() {
		errs = append(errs, field.Invalid(field.NewPath("apiVersion"), u.GetAPIVersion(), "must be "+s.GVK.GroupVersion().String()))
	}
	if len(errs) > 0 {
		return errs
	}
	meta, _, _, err := schemaobjectmeta.GetObjectMetaWithOptions(u.Object, schemaobjectmeta.ObjectMetaOptions{})
	if err != nil {
		return field.ErrorList{field.Invalid(field.NewPath("metadata"), u.Object["metadata"], err.Error())}
	}
	errs = append(errs, metavalidation.ValidateObjectMeta(meta, s.Namespaced, metavalidation.NameIsDNSSubdomain, field.NewPath("metadata"))...)
	errs = append(errs, apiservervalidation.ValidateCustomResource(nil, u.Object, s.validator)...)
	errs = append(errs, schemaobjectmeta.Validate(ctx, nil, u.Object, s.structural, false)...)
	errs = append(errs, structurallisttype.ValidateListSetsAndMaps(nil, s.structural, u.Object)...)
	if s.cel != nil {
		if blocked, err := blockingError(errs); blocked {
			errs = append(errs, err)
		} else {
			celErrs, _ := s.cel.Validate(ctx, nil, s.structural, u.Object, nil, celconfig.RuntimeCELCostBudget)
			errs = append(errs, celErrs...)
		}
	}
	return errs
}

// blockingError is the apiserver's rule for when the CEL rules are not run: after an error that leaves the
// object's shape unknown (a missing field, a wrong type, a list or string over its bound, a value not allowed),
// it says so instead.
func blockingError(errs field.ErrorList) (bool, *field.Error) {
	for _, err := range errs {
		switch err.Type {
		case field.ErrorTypeNotSupported, field.ErrorTypeRequired, field.ErrorTypeTooLong, field.ErrorTypeTooMany, field.ErrorTypeTypeInvalid:
			return true, field.Invalid(nil, nil, "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation")
		}
	}
	return false, nil
}
