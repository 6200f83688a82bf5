package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// ProfileSpec returns the spec shared by both profile kinds.
func (p *SidecarProfile) ProfileSpec() *SidecarProfileSpec { return &p.Spec }

// ProfileStatus returns the profile's status.
func (p *SidecarProfile) ProfileStatus() *SidecarProfileStatus { return &p.Status }

// NamespaceSelector is nil: a SidecarProfile only selects workloads of its own namespace.
func (p *SidecarProfile) NamespaceSelector() *metav1.LabelSelector { return nil }

// ProfileSpec returns the spec shared by both profile kinds.
func (p *ClusterSidecarProfile) ProfileSpec() *SidecarProfileSpec { return &p.Spec.SidecarProfileSpec }

// ProfileStatus returns the profile's status.
func (p *ClusterSidecarProfile) ProfileStatus() *SidecarProfileStatus { return &p.Status }

// NamespaceSelector selects the namespaces the profile considers; nil means all of them.
func (p *ClusterSidecarProfile) NamespaceSelector() *metav1.LabelSelector {
	return p.Spec.NamespaceSelector
}

// SelectsKind reports whether the profile applies to workloads of the given kind: one listed in workloadKinds,
// or, when none is listed, one of DefaultWorkloadKinds.
func (s *SidecarProfileSpec) SelectsKind(kind WorkloadKind) bool {
	kinds := s.WorkloadKinds
	if len(kinds) == 0 {
		kinds = DefaultWorkloadKinds
	}
	for _, k := range kinds {
		if k == kind {
			return true
		}
	}
	return false
}
