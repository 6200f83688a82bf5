// Package v1alpha1 holds the sidecars.outrigger.dev/v1alpha1 API: SidecarProfile and ClusterSidecarProfile.
// +kubebuilder:object:generate=true
// +groupName=sidecars.outrigger.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the API group and version of Outrigger's objects.
	GroupVersion = schema.GroupVersion{Group: "sidecars.outrigger.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this package with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
