// Package statusview is what `outrigger status` (and `kubectl outrigger status`) shows of the profiles in a
// cluster: a table of the SidecarProfiles and ClusterSidecarProfiles with their Ready condition, counts and
// rollout, the conditions that need explaining, and the workloads their status lists as needing attention.
//
// Building the view (Build) and writing it (WriteText, WriteJSON, WriteYAML) are pure: they take the profiles and
// the time, so that their output can be compared with golden files. Reading the profiles from a cluster is Load's
// job, and the words for what can go wrong there (no kubeconfig, no CRDs, forbidden) are Explain's.
package statusview

import (
	"cmp"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/api/meta"
	metav1types "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// Kinds of profile, as the view names them.
const (
	KindSidecarProfile        = "SidecarProfile"
	KindClusterSidecarProfile = "ClusterSidecarProfile"
)

// Profile is one profile as the view reads it: which one, the generation of its spec, and its status.
type Profile struct {
	Kind       string                        `json:"kind"`
	Namespace  string                        `json:"namespace,omitempty"`
	Name       string                        `json:"name"`
	Generation int64                         `json:"generation"`
	Status     v1alpha1.SidecarProfileStatus `json:"status"`
}

// FromSidecarProfile returns the view's Profile of a SidecarProfile.
func FromSidecarProfile(p *v1alpha1.SidecarProfile) Profile {
	return Profile{Kind: KindSidecarProfile, Namespace: p.Namespace, Name: p.Name, Generation: p.Generation, Status: p.Status}
}

// FromClusterSidecarProfile returns the view's Profile of a ClusterSidecarProfile.
func FromClusterSidecarProfile(p *v1alpha1.ClusterSidecarProfile) Profile {
	return Profile{Kind: KindClusterSidecarProfile, Name: p.Name, Generation: p.Generation, Status: p.Status}
}

// ID names the profile as a person refers to it: Kind name, or Kind namespace/name.
func (p Profile) ID() string {
	if p.Namespace == "" {
		return p.Kind + " " + p.Name
	}
	return p.Kind + " " + p.Namespace + "/" + p.Name
}

// Sort orders profiles as the view lists them: ClusterSidecarProfiles first (they reach every namespace), by name,
// then SidecarProfiles by namespace and name.
func Sort(profiles []Profile) {
	slices.SortFunc(profiles, func(a, b Profile) int {
		return cmp.Or(cmp.Compare(kindRank(a.Kind), kindRank(b.Kind)), cmp.Compare(a.Namespace, b.Namespace),
			cmp.Compare(a.Name, b.Name))
	})
}

func kindRank(kind string) int {
	if kind == KindClusterSidecarProfile {
		return 0
	}
	return 1
}

// Readiness is a profile's Ready condition as the view reports it: the condition itself only when it describes
// the profile's current spec, since a status Outrigger has not brought up to date says nothing of the spec.
type Readiness struct {
	// Status is True, False or Unknown.
	Status metav1types.ConditionStatus `json:"status"`
	// Reason and Message are the condition's, or say why its status is not known.
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// Since is when the condition last changed; nil when the view gives the readiness itself.
	Since *metav1types.Time `json:"since,omitempty"`
}

// Reasons of a Readiness that the view gives itself, when the profile's Ready condition cannot be used.
const (
	// ReasonNotObserved: Outrigger has written no status for the profile yet.
	ReasonNotObserved = "NotObserved"
	// ReasonStale: the status is of an older generation of the spec.
	ReasonStale = "Stale"
)

// Ready returns the profile's readiness: its Ready condition, or Unknown with why when Outrigger has not observed
// the profile (or its latest spec) yet.
func Ready(p Profile) Readiness {
	s := p.Status
	ready := metav1.FindStatusCondition(s.Conditions, v1alpha1.ConditionReady)
	switch {
	case s.ObservedGeneration < 0 || ready == nil:
		return Readiness{Status: metav1types.ConditionUnknown, Reason: ReasonNotObserved,
			Message: "Outrigger has not reported on this profile yet: is its manager running? " +
				"(kubectl get pods -A -l app.kubernetes.io/name=outrigger)"}
	case s.ObservedGeneration < p.Generation || ready.ObservedGeneration < p.Generation:
		observed := min(s.ObservedGeneration, ready.ObservedGeneration)
		return Readiness{Status: metav1types.ConditionUnknown, Reason: ReasonStale,
			Message: "the status is of generation " + itoa(observed) + " of the spec, which is at generation " +
				itoa(p.Generation) + ": Outrigger has not caught up with the change yet (Ready was " +
				string(ready.Status) + cond(ready.Reason != "", " "+ready.Reason, "") + ")"}
	}
	return Readiness{Status: ready.Status, Reason: ready.Reason, Message: ready.Message, Since: &ready.LastTransitionTime}
}

// Troubled says whether the profile's conditions need explaining: it is not Ready, or it is Stalled or
// Degraded.
func Troubled(p Profile) bool {
	return Ready(p).Status != metav1types.ConditionTrue ||
		metav1.IsStatusConditionTrue(p.Status.Conditions, v1alpha1.ConditionStalled) ||
		metav1.IsStatusConditionTrue(p.Status.Conditions, v1alpha1.ConditionDegraded)
}

// NeedsAttention says whether a person should look at the profile, in the view of a namespace ("" for all): it
// is Troubled, or its status lists workloads of the namespace, or counts workloads it could not list (which may
// be anywhere).
func NeedsAttention(p Profile, namespace string) bool {
	shown, _ := Attention(p, namespace)
	return Troubled(p) || len(shown) > 0 || p.Status.NeedsAttentionOmitted > 0
}

func cond(c bool, yes, no string) string {
	if c {
		return yes
	}
	return no
}
