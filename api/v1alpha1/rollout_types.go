package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// RolloutStrategy says how a new revision of a profile (a change to what it renders, or a new profile) reaches
// the workloads that exist: in waves, the first a canary, each opened only once the workloads of the waves open
// so far have rolled it out with healthy sidecars. It is what keeps one line changed in Git from restarting every
// workload of the cluster at once, and a bad sidecar from reaching more than the canary.
//
// New workloads (a Deployment applied, a Job created) get, at admission, the stable revision (the last one
// rolled out to every workload), or the candidate if they belong to a wave that already has it; a profile's first
// revision is given to new workloads at once unless its rollout is halted, as a new workload has no pods to
// restart. With updatePolicy OnCreate nothing existing is changed, so there are no waves: new workloads get the
// current revision.
type RolloutStrategy struct {
	// canary chooses the workloads of the first wave: those whose labels its selector selects and, for a
	// ClusterSidecarProfile, whose namespace's labels its namespaceSelector selects (both, when both are set).
	// Left out, or selecting no workload, the first wave is waves[0] of the workloads in a fixed order (by a hash
	// of kind, namespace and name, so the same workloads go first every time). Later waves count the canary's
	// workloads in.
	// +optional
	Canary *CanaryWave `json:"canary,omitempty"`

	// The percentages are listed, not matched by a regular expression: Kubernetes 1.29 does not bound an int-or-string's
	// length when it estimates a rule's cost, and refuses the CRD if the rule uses matches().
	// +kubebuilder:validation:items:XValidation:rule="type(self) == int ? self >= 1 : self in ['1%', '2%', '3%', '4%', '5%', '6%', '7%', '8%', '9%', '10%', '11%', '12%', '13%', '14%', '15%', '16%', '17%', '18%', '19%', '20%', '21%', '22%', '23%', '24%', '25%', '26%', '27%', '28%', '29%', '30%', '31%', '32%', '33%', '34%', '35%', '36%', '37%', '38%', '39%', '40%', '41%', '42%', '43%', '44%', '45%', '46%', '47%', '48%', '49%', '50%', '51%', '52%', '53%', '54%', '55%', '56%', '57%', '58%', '59%', '60%', '61%', '62%', '63%', '64%', '65%', '66%', '67%', '68%', '69%', '70%', '71%', '72%', '73%', '74%', '75%', '76%', '77%', '78%', '79%', '80%', '81%', '82%', '83%', '84%', '85%', '86%', '87%', '88%', '89%', '90%', '91%', '92%', '93%', '94%', '95%', '96%', '97%', '98%', '99%', '100%']",message="a wave is a count of at least 1 or a percentage from 1% to 100%, such as 1 or \"10%\""

	// waves are how many of the selected workloads carry the candidate once each wave is open, cumulative: a
	// count (1) or a percentage of the selected workloads ("10%", rounded up, at least one). A wave smaller than
	// the one before it adds nothing. After the last wave, every workload gets the candidate. ["100%"] is all at
	// once. The default, [1, "10%", "50%"], is one workload, then a tenth, then half, then all, each wave gated:
	// a sidecar that fails its probes reaches one workload before the rollout stops, and a fleet of a thousand is
	// through in four waves.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10
	// +kubebuilder:validation:items:XIntOrString
	// +kubebuilder:validation:items:MaxLength=4
	Waves []intstr.IntOrString `json:"waves,omitempty"`

	// minHealthySeconds is how long every sidecar of the profile in the pods of the open waves' workloads must
	// have been ready without restarting before the next wave opens; the wave itself must have been open that
	// long. The default, 60, outlasts a liveness probe's default three failures ten seconds apart.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=86400
	MinHealthySeconds *int32 `json:"minHealthySeconds,omitempty"`

	// progressDeadlineSeconds is how long a wave may take to pass its gate. Past it, the rollout halts: no other
	// workload is touched and the profile is Stalled (RolloutHalted). A sidecar that restarts or crash-loops in an
	// open wave, or a workload's own rollout past its deadline, halts it at once. Default 600, as a Deployment's.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=86400
	ProgressDeadlineSeconds *int32 `json:"progressDeadlineSeconds,omitempty"`

	// paused keeps the rollout where it is: no further wave opens while it is true; the workloads of the open
	// waves keep the candidate, and no wave halts for its progress deadline (a sidecar that restarts still halts
	// the rollout). The profile reports Ready False (WavesPaused), not Stalled.
	// +optional
	Paused bool `json:"paused,omitempty"`
}

// CanaryWave selects the workloads of the first wave.
type CanaryWave struct {
	// selector selects the canary workloads by their own labels.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist'])",message="spec.rollout.canary.selector.matchExpressions[].operator must be one of In, NotIn, Exists, DoesNotExist"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn'] ? (has(e.values) && size(e.values) > 0) : (!has(e.values) || size(e.values) == 0))",message="spec.rollout.canary.selector.matchExpressions[].values must be non-empty for In and NotIn (list the values), and left out for Exists and DoesNotExist"
	Selector *metav1.LabelSelector `json:"selector,omitempty"`

	// namespaceSelector selects the canary workloads by their namespace's labels (ClusterSidecarProfile only; a
	// SidecarProfile's workloads share one namespace).
	// +optional
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist'])",message="spec.rollout.canary.namespaceSelector.matchExpressions[].operator must be one of In, NotIn, Exists, DoesNotExist"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn'] ? (has(e.values) && size(e.values) > 0) : (!has(e.values) || size(e.values) == 0))",message="spec.rollout.canary.namespaceSelector.matchExpressions[].values must be non-empty for In and NotIn (list the values), and left out for Exists and DoesNotExist"
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
}

// Defaults of RolloutStrategy's fields left out. They are applied when the profile is read (RolloutStrategy's
// methods), not stored by the apiserver, so a profile in Git and in the cluster read the same.
const (
	DefaultMinHealthySeconds       = 60
	DefaultProgressDeadlineSeconds = 600
)

// DefaultWaves are the waves of a profile that names none.
var DefaultWaves = []intstr.IntOrString{intstr.FromInt32(1), intstr.FromString("10%"), intstr.FromString("50%")}

// RolloutStatus is where a profile's rollout stands.
type RolloutStatus struct {
	// stableRevision is the last revision every selected workload was given; "" before the first one is.
	// Workloads outside the open waves, and new ones, get it.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	StableRevision string `json:"stableRevision,omitempty"`

	// candidateRevision is the profile's current revision while it is rolled out in waves; "" when there is none
	// (the current revision is stable).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	CandidateRevision string `json:"candidateRevision,omitempty"`

	// wave is how many waves are open for the candidate: 1 is the canary; 0 before the first opens.
	// +optional
	Wave int32 `json:"wave,omitempty"`

	// waves is how many waves the candidate goes through, the last one being every workload.
	// +optional
	Waves int32 `json:"waves,omitempty"`

	// waveOpened is when the last wave opened.
	// +optional
	WaveOpened *metav1.Time `json:"waveOpened,omitempty"`

	// rank is the position, in rollout order, of the last workload of the open waves: a workload ranked at or
	// before it (a new one too) gets the candidate, the others the stable revision.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Rank string `json:"rank,omitempty"`

	// halted says why the rollout stopped, when it did: no further workload is touched until the spec changes.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Halted string `json:"halted,omitempty"`

	// revisions counts the selected workloads per revision they carry ("" for none), most workloads first.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10
	Revisions []RevisionCount `json:"revisions,omitempty"`
}

// RevisionCount is how many selected workloads carry a revision.
type RevisionCount struct {
	// revision is the profile revision's hash; "" for workloads that carry none of the profile's sidecars.
	// +kubebuilder:validation:MaxLength=64
	Revision string `json:"revision"`
	// workloads carrying it.
	Workloads int32 `json:"workloads"`
}

// WavesOrDefault returns the waves, or DefaultWaves when none are given.
func (r RolloutStrategy) WavesOrDefault() []intstr.IntOrString {
	if len(r.Waves) == 0 {
		return DefaultWaves
	}
	return r.Waves
}

// MinHealthy returns minHealthySeconds, or its default.
func (r RolloutStrategy) MinHealthy() time.Duration {
	return seconds(r.MinHealthySeconds, DefaultMinHealthySeconds)
}

// ProgressDeadline returns progressDeadlineSeconds, or its default.
func (r RolloutStrategy) ProgressDeadline() time.Duration {
	return seconds(r.ProgressDeadlineSeconds, DefaultProgressDeadlineSeconds)
}

func seconds(v *int32, def int32) time.Duration {
	if v == nil {
		return time.Duration(def) * time.Second
	}
	return time.Duration(*v) * time.Second
}
