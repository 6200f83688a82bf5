// Package selection decides whether a profile selects a workload. The reconcilers, the admission webhook and the
// CLI share it, so they never disagree.
package selection

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
)

// Profile is what both profile kinds have in common.
type Profile interface {
	client.Object
	ProfileSpec() *v1alpha1.SidecarProfileSpec
	ProfileStatus() *v1alpha1.SidecarProfileStatus
	NamespaceSelector() *metav1.LabelSelector
}

// Ref returns how a workload's injection record names the profile.
func Ref(p Profile) inject.ProfileRef {
	if p.GetNamespace() == "" {
		return inject.ProfileRef{Kind: inject.KindClusterSidecarProfile, Name: p.GetName()}
	}
	return inject.ProfileRef{Kind: inject.KindSidecarProfile, Name: p.GetName()}
}

// Key names a profile uniquely in the cluster: "SidecarProfile/<namespace>/<name>" or
// "ClusterSidecarProfile/<name>". Indexes and messages use it.
func Key(ref inject.ProfileRef, workloadNamespace string) string {
	if ref.Kind == inject.KindSidecarProfile {
		return ref.Kind + "/" + workloadNamespace + "/" + ref.Name
	}
	return ref.String()
}

// Selectors are a profile's parsed selectors.
type Selectors struct {
	Workloads  labels.Selector
	Namespaces labels.Selector // nil for a SidecarProfile: only its own namespace
	// Protected are the namespaces the profile never reaches if it is a ClusterSidecarProfile.
	Protected Protected
	// CanaryWorkloads and CanaryNamespaces select the first wave of a rollout (spec.rollout.canary); nil when
	// not set.
	CanaryWorkloads, CanaryNamespaces labels.Selector
}

// Parse parses a profile's selectors. The CRD rejects most bad selectors; what it cannot check (label syntax)
// is reported here with the field to fix.
// protected are the namespaces that ClusterSidecarProfiles never reach (see Protected).
func Parse(p Profile, protected Protected) (Selectors, error) {
	s := Selectors{Protected: protected}
	var err error
	if p.ProfileSpec().Selector == nil {
		return s, fmt.Errorf("spec.selector is required: set it to {} to select every workload")
	}
	if s.Workloads, err = metav1.LabelSelectorAsSelector(p.ProfileSpec().Selector); err != nil {
		return s, fmt.Errorf("spec.selector is invalid: %w", err)
	}
	if ns := p.NamespaceSelector(); ns != nil {
		if s.Namespaces, err = metav1.LabelSelectorAsSelector(ns); err != nil {
			return s, fmt.Errorf("spec.namespaceSelector is invalid: %w", err)
		}
	} else if p.GetNamespace() == "" {
		s.Namespaces = labels.Everything()
	}
	if canary := p.ProfileSpec().Rollout.Canary; canary != nil {
		if err := parseCanary(p, canary, &s); err != nil {
			return s, err
		}
	}
	return s, nil
}

func parseCanary(p Profile, canary *v1alpha1.CanaryWave, s *Selectors) error {
	var err error
	if canary.Selector != nil {
		if s.CanaryWorkloads, err = metav1.LabelSelectorAsSelector(canary.Selector); err != nil {
			return fmt.Errorf("spec.rollout.canary.selector is invalid: %w", err)
		}
	}
	if canary.NamespaceSelector != nil {
		if p.GetNamespace() != "" {
			return fmt.Errorf("spec.rollout.canary.namespaceSelector is for ClusterSidecarProfiles: a SidecarProfile's workloads share its namespace; leave it out")
		}
		if s.CanaryNamespaces, err = metav1.LabelSelectorAsSelector(canary.NamespaceSelector); err != nil {
			return fmt.Errorf("spec.rollout.canary.namespaceSelector is invalid: %w", err)
		}
	}
	return nil
}

// InCanary reports whether a workload the profile selects is one its canary selectors choose; false when the
// profile names no canary.
func (s Selectors) InCanary(workloadLabels, namespaceLabels map[string]string) bool {
	if s.CanaryWorkloads == nil && s.CanaryNamespaces == nil {
		return false
	}
	return (s.CanaryWorkloads == nil || s.CanaryWorkloads.Matches(labels.Set(workloadLabels))) &&
		(s.CanaryNamespaces == nil || s.CanaryNamespaces.Matches(labels.Set(namespaceLabels)))
}

// Check parses a profile's selectors as Outrigger's validating webhook does before it admits the profile: the
// error names the selector, what is wrong, and how label keys and values are written.
func Check(p Profile, protected Protected) (Selectors, error) {
	s, err := Parse(p, protected)
	if err != nil {
		return s, fmt.Errorf("%w; fix the selector's label keys and values (a key is an optional DNS subdomain prefix and '/', "+
			"then a name of at most 63 letters, digits, '-', '_' or '.'; a value is such a name or empty)", err)
	}
	return s, nil
}

// Protected are the namespaces no ClusterSidecarProfile reaches, so that a cluster-wide profile cannot break the
// control plane's add-ons or Outrigger itself: kube-system always, and those given to ProtectedNamespaces (the
// manager's own, and those of --excluded-namespaces, which the mutating webhook's namespaceSelector leaves out
// too). A SidecarProfile created inside one of them still applies there. It is a value, carried by whoever
// selects (the manager's catalog, the CLI's options): no process-wide state.
type Protected struct {
	names []string
}

// ProtectedNamespaces protects kube-system and the given namespaces ("" is ignored). The zero Protected protects
// kube-system only.
func ProtectedNamespaces(namespaces ...string) Protected {
	var p Protected
	for _, ns := range namespaces {
		if ns != "" && !p.Has(ns) {
			p.names = append(p.names, ns)
		}
	}
	return p
}

// Has reports whether a namespace is protected.
func (p Protected) Has(namespace string) bool {
	return namespace == metav1.NamespaceSystem || slices.Contains(p.names, namespace)
}

// OptedOut reports whether a workload opted out of injection with the InjectLabel.
func OptedOut(workload client.Object) bool {
	return workload.GetLabels()[v1alpha1.InjectLabel] == v1alpha1.InjectDisabled
}

// Selects reports whether the profile selects the workload, given the labels of the workload's namespace. A
// workload that opted out is selected by no profile; a profile being deleted selects nothing. Explain says why
// not.
func Selects(p Profile, s Selectors, kind v1alpha1.WorkloadKind, workload client.Object, namespaceLabels map[string]string) bool {
	return Explain(p, s, kind, workload, namespaceLabels) == Selected
}

// ForEngine turns a selecting profile into the engine's input. A profile with updatePolicy OnCreate leaves the
// workloads that carry it (in any revision) or that existed before it as they are; a workload created after it
// without its sidecars (the admission webhook was down) still gets them.
func ForEngine(p Profile, workload client.Object, recorded bool) inject.Profile {
	spec := p.ProfileSpec()
	// A workload being created (admission) has no creationTimestamp yet: it is new, so it gets the sidecars.
	created, profileCreated := workload.GetCreationTimestamp(), p.GetCreationTimestamp()
	existedBefore := !created.IsZero() && created.Before(&profileCreated)
	keep := spec.UpdatePolicy == v1alpha1.UpdatePolicyOnCreate && (recorded || existedBefore)
	return inject.Profile{Ref: Ref(p), Spec: spec, KeepOnly: keep}
}

// CheckKinds refuses a profile that lists a kind not among known (the built-in kinds and those the manager is
// configured with): a misspelt kind would otherwise select nothing, silently.
func CheckKinds(p Profile, known []v1alpha1.WorkloadKind) error {
	for i, k := range p.ProfileSpec().WorkloadKinds {
		if !slices.Contains(known, k) {
			names := make([]string, len(known))
			for j, n := range known {
				names[j] = string(n)
			}
			return fmt.Errorf("spec.workloadKinds[%d]: %q is not a kind Outrigger injects into here: the kinds are %s; "+
				"a kind with a pod template that Outrigger does not know is added to the manager's configuration (the Helm value workloadKinds)",
				i, k, strings.Join(names, ", "))
		}
	}
	return nil
}

// Names lists the protected namespaces, kube-system first: what an admission rule's namespaceSelector leaves out.
func (p Protected) Names() []string {
	return append([]string{metav1.NamespaceSystem}, p.names...)
}
