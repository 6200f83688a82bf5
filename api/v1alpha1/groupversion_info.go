// Package v1alpha1 holds the sidecars.outrigger.dev/v1alpha1 API: SidecarProfile and ClusterSidecarProfile.
// +kubebuilder:object:generate=true
// +groupName=sidecars.outrigger.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the API group and version of Outrigger's objects.
	GroupVersion = schema.GroupVersion{Group: "sidecars.outrigger.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this package with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder()

	// AddToScheme adds the types of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// register adds objects to GroupVersion in the schemes SchemeBuilder builds, with the meta/v1 types (ListOptions,
// DeleteOptions, ...) every served group version has.
func register(objects ...runtime.Object) {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(GroupVersion, objects...)
		metav1.AddToGroupVersion(s, GroupVersion)
		return nil
	})
}
