package status

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/advice"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/revision"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// WorkloadObservation is what the profile reconciler saw of one workload the profile selects or is recorded on.
type WorkloadObservation struct {
	Kind      v1alpha1.WorkloadKind
	Namespace string
	Name      string
	// UID is the workload's, for the events recorded on it.
	UID types.UID
	// Selected: the profile selects the workload now.
	Selected bool
	// Rank is the workload's place in the profile's rollout order, and Canary whether the canary selector
	// chooses it (set when Selected).
	Rank   string
	Canary bool
	// LiveRevision is the profile revision the workload carries now; "" when none.
	LiveRevision string
	// Outcome is what the engine does with the profile on this workload (empty when not selected).
	Outcome   inject.Outcome
	Conflicts []inject.Conflict
	// Failure is why Outrigger could not read or write the workload at its last try; zero when it could.
	Failure Failure
	// NoTemplate says where the pods' template is when the workload has none of its own to inject (an Argo
	// Rollout with spec.workloadRef); "" when it has one.
	NoTemplate string
	// Immutable: the workload's pod template cannot change (a Job); Outcome is then what it can be left with.
	Immutable bool
	// Rollout is the workload's own rollout, from its status.
	Rollout workload.Rollout
	// Sidecars are the profile's sidecars in the workload's pods (one entry per sidecar per pod), from the pods'
	// initContainerStatuses. Pods that do not carry the profile are not observed.
	Sidecars []SidecarObservation
	// Advice is the advice about this profile on the workload (internal/advisor), when selected: each becomes a
	// needsAttention entry that changes no condition.
	Advice []advice.Advice
}

// SidecarObservation is one of the profile's sidecars in one pod, from the pod's status.
type SidecarObservation struct {
	Pod  string
	Name string
	// Revision is the profile revision recorded on the pod (its template's annotation reaches every pod).
	Revision string
	Started  bool
	Ready    bool
	// RestartCount, and the reason and time of the last termination (a failed liveness probe shows as Error or
	// a non-zero exit; a crash as Error; an OOM as OOMKilled).
	RestartCount          int32
	LastTerminationReason string
	LastTerminationTime   *metav1.Time
	// Waiting is the reason the container waits, e.g. CrashLoopBackOff; "" when it runs.
	Waiting string
	// RestartPolicyStripped: the pod has this init container without restartPolicy Always.
	RestartPolicyStripped bool
	// PodStarted is when the pod started; the "since" of a sidecar that never became ready.
	PodStarted *metav1.Time
}

// Input is everything the status of a profile is computed from.
type Input struct {
	Generation int64
	Revision   string // the profile's current revision
	Deleting   bool
	SpecError  error // a spec the apiserver accepted but Outrigger cannot use
	Workloads  []WorkloadObservation
	Now        metav1.Time
	// NativeSidecarsUnsupported says why the cluster cannot run native sidecars ("" when it can).
	NativeSidecarsUnsupported string
	// Strategy is the profile's rollout strategy; OnCreate says it changes no existing workload (no waves).
	Strategy v1alpha1.RolloutStrategy
	OnCreate bool
	// Revisions says where the profile's ControllerRevisions are, for the commands in messages.
	Revisions RevisionStore
	// KindsNotServed says, for each kind the profile lists that the manager refused to serve, which kind and why.
	KindsNotServed []string
	// NotAdmitted says why an admission policy that should place the profile does not (admission by policy): the
	// policy, the limit it is beyond or the apiserver's refusal, and what to change; "" when every one does.
	NotAdmitted string
}

// Failure is why Outrigger could not bring a workload to what its profiles say at its last try.
type Failure struct {
	// Reason is v1alpha1.ReasonWriteFailed (the apiserver refused the patch), ReasonReadFailed (the workload's
	// profiles or namespace could not be read) or ReasonInvalidRecord (the workload's injection record is
	// unreadable); "" when there is no failure.
	Reason string
	// Message is the error, in the words of whoever refused.
	Message string
}

// RevisionStore is where a profile keeps its revisions.
type RevisionStore struct {
	Namespace, Profile string
}

// Name is the ControllerRevision of a revision hash.
func (s RevisionStore) Name(hash string) string { return revision.Name(s.Profile, hash) }
