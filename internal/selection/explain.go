package selection

import (
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// Reason says whether a profile selects a workload and, if not, which of Selects' checks fails: the first, in
// the order Selects makes them.
type Reason string

const (
	// Selected: the profile selects the workload.
	Selected Reason = "Selected"
	// WorkloadOptedOut: the workload carries the InjectLabel set to InjectDisabled (see OptedOut); no profile
	// selects it.
	WorkloadOptedOut Reason = "WorkloadOptedOut"
	// ProfileDeleting: the profile is being deleted; it selects nothing.
	ProfileDeleting Reason = "ProfileDeleting"
	// KindNotSelected: the workload's kind is not among the profile's spec.workloadKinds.
	KindNotSelected Reason = "KindNotSelected"
	// OtherNamespace: a SidecarProfile selects only the workloads of its own namespace.
	OtherNamespace Reason = "OtherNamespace"
	// ProtectedNamespace: ClusterSidecarProfiles never select kube-system, Outrigger's own namespace or one the
	// manager excludes (Protected).
	ProtectedNamespace Reason = "ProtectedNamespace"
	// NamespaceNotSelected: a ClusterSidecarProfile's spec.namespaceSelector does not match the labels of the
	// workload's namespace.
	NamespaceNotSelected Reason = "NamespaceNotSelected"
	// LabelsNotSelected: the profile's spec.selector does not match the workload's labels.
	LabelsNotSelected Reason = "LabelsNotSelected"
)

// Explain says whether the profile selects the workload, given the labels of the workload's namespace, and if
// not, why: Selects is Explain(...) == Selected. The CLI words the reason; everything else only needs Selects.
func Explain(p Profile, s Selectors, kind v1alpha1.WorkloadKind, workload client.Object, namespaceLabels map[string]string) Reason {
	switch {
	case OptedOut(workload):
		return WorkloadOptedOut
	case !p.GetDeletionTimestamp().IsZero():
		return ProfileDeleting
	case !p.ProfileSpec().SelectsKind(kind):
		return KindNotSelected
	}
	if s.Namespaces == nil {
		if p.GetNamespace() != workload.GetNamespace() {
			return OtherNamespace
		}
	} else if s.Protected.Has(workload.GetNamespace()) {
		return ProtectedNamespace
	} else if !s.Namespaces.Matches(labels.Set(namespaceLabels)) {
		return NamespaceNotSelected
	}
	if !s.Workloads.Matches(labels.Set(workload.GetLabels())) {
		return LabelsNotSelected
	}
	return Selected
}
