package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WorkloadKind names a kind of workload a profile can inject into: a built-in one, or one the manager's
// configuration adds (its validating webhook refuses a kind it does not know).
// +kubebuilder:validation:Pattern=`^[A-Z][A-Za-z0-9]{0,62}$`
// +kubebuilder:validation:MaxLength=63
type WorkloadKind string

// The workload kinds Outrigger injects into.
const (
	KindDeployment  WorkloadKind = "Deployment"
	KindJob         WorkloadKind = "Job"
	KindCronJob     WorkloadKind = "CronJob"
	KindStatefulSet WorkloadKind = "StatefulSet"
	KindDaemonSet   WorkloadKind = "DaemonSet"
	// KindRollout is Argo Rollouts' Rollout (argoproj.io/v1alpha1), served where its CRD is installed.
	KindRollout WorkloadKind = "Rollout"
)

// DefaultWorkloadKinds are the kinds a profile that lists no workloadKinds applies to. The set is fixed: a kind
// Outrigger learns later is reached only by the profiles that list it, so upgrading Outrigger never starts
// injecting (and rolling) workloads that an existing profile did not reach before.
var DefaultWorkloadKinds = []WorkloadKind{KindDeployment, KindJob, KindCronJob}

// Placement says where a profile's sidecars go relative to the workload's own init containers.
// +kubebuilder:validation:Enum=BeforeInitContainers;AfterInitContainers
type Placement string

const (
	// PlacementBeforeInitContainers starts the sidecars before the workload's own init containers, so those can
	// already use them (a proxy, a log shipper that should see the init containers' output).
	PlacementBeforeInitContainers Placement = "BeforeInitContainers"
	// PlacementAfterInitContainers starts the sidecars once the workload's own init containers have completed.
	PlacementAfterInitContainers Placement = "AfterInitContainers"
)

// UpdatePolicy says what happens to workloads that already exist when a profile is created or changed.
// +kubebuilder:validation:Enum=Rollout;OnCreate
type UpdatePolicy string

const (
	// UpdatePolicyRollout brings existing Deployments and CronJobs to the profile's current sidecars, which rolls
	// Deployments out.
	UpdatePolicyRollout UpdatePolicy = "Rollout"
	// UpdatePolicyOnCreate injects only workloads created after the profile; existing ones keep what they have and
	// are reported as outdated.
	UpdatePolicyOnCreate UpdatePolicy = "OnCreate"
)

// MaxSidecars bounds spec.sidecars; MaxVolumes bounds spec.volumes; MaxAppContainerMounts bounds
// spec.appContainerMounts; MaxWorkloadKinds bounds spec.workloadKinds (the markers repeat them). The bounds keep
// the CRD's CEL rules cheap and the annotation Outrigger writes small.
const (
	MaxSidecars           = 10
	MaxVolumes            = 10
	MaxAppContainerMounts = 10
	MaxWorkloadKinds      = 16
)

// SidecarProfileSpec declares sidecars and the workloads that get them. It is shared by SidecarProfile and
// ClusterSidecarProfile.
//
// +kubebuilder:validation:XValidation:rule="!has(self.appContainerMounts) || self.appContainerMounts.all(m, has(self.volumes) && self.volumes.exists(v, v.name == m.name))",message="spec.appContainerMounts[].name must name a volume declared in spec.volumes: add the volume there, or fix the name"
// +kubebuilder:validation:XValidation:rule="!has(self.overrides) || self.overrides.all(o, self.sidecars.exists(s, s.name == o.sidecar))",message="spec.overrides[].sidecar must name a sidecar of spec.sidecars: fix the name, or add the sidecar"
type SidecarProfileSpec struct {
	// selector selects workloads by the labels on the workload itself (not on its pods). An empty selector ({})
	// selects every workload in scope, on purpose; it cannot be left out.
	// +required
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist'])",message="spec.selector.matchExpressions[].operator must be one of In, NotIn, Exists, DoesNotExist"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn'] ? (has(e.values) && size(e.values) > 0) : (!has(e.values) || size(e.values) == 0))",message="spec.selector.matchExpressions[].values must be non-empty for In and NotIn (list the values), and left out for Exists and DoesNotExist"
	Selector *metav1.LabelSelector `json:"selector"`

	// workloadKinds are the kinds of workload the profile injects into: Deployment, Job, CronJob, StatefulSet,
	// DaemonSet, Rollout (Argo Rollouts, where its CRD is installed), and the kinds the manager's configuration
	// adds (the Helm value workloadKinds). Empty means Deployment, Job and CronJob, and always will: a kind
	// Outrigger learns to inject later reaches only the profiles that list it, so upgrading Outrigger never rolls
	// a workload by itself. To reach StatefulSets and DaemonSets too, list every kind wanted.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	WorkloadKinds []WorkloadKind `json:"workloadKinds,omitempty"`

	// sidecars are injected as native sidecars: init containers with restartPolicy Always. They start in this
	// order, each once the previous one has started (its startupProbe passed, if it has one), before the app
	// containers; they stop in reverse order after the app containers.
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=10
	Sidecars []Sidecar `json:"sidecars"`

	// volumes are added to the pod for the sidecars (and, through appContainerMounts, the app containers), such as
	// the emptyDir a log shipper shares with the app.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=10
	Volumes []ProfileVolume `json:"volumes,omitempty"`

	// appContainerMounts mount the profile's volumes into the workload's app containers, so that the app writes
	// where a sidecar reads.
	// +optional
	// +listType=map
	// +listMapKey=mountPath
	// +kubebuilder:validation:MaxItems=10
	AppContainerMounts []AppContainerMount `json:"appContainerMounts,omitempty"`

	// placement puts the sidecars before (the default) or after the workload's own init containers.
	// +optional
	// +kubebuilder:default=BeforeInitContainers
	Placement Placement `json:"placement,omitempty"`

	// order places the sidecars of several profiles that select one workload: ascending order, then profile name.
	// +optional
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=-1000
	// +kubebuilder:validation:Maximum=1000
	Order int32 `json:"order,omitempty"`

	// updatePolicy says whether existing workloads follow changes to this profile (Rollout, the default) or keep
	// what they were given and are reported as outdated (OnCreate).
	// +optional
	// +kubebuilder:default=Rollout
	UpdatePolicy UpdatePolicy `json:"updatePolicy,omitempty"`

	// overrides lists what a workload may change, for itself, in this profile's sidecars: resources and env
	// values, per sidecar. A workload asks with annotations on itself (not on its pod template):
	// sidecars.outrigger.dev/<sidecar>.<resource> (e.g. logshipper.limits.memory: 512Mi) and
	// sidecars.outrigger.dev/<sidecar>.env.<NAME>. An override this list does not allow, or a bad value, is
	// reported on the workload's events and in status.needsAttention, and the workload keeps the profile's values:
	// creating it is never refused. Changing this list is a new revision, rolled out like any other.
	// +optional
	// +listType=map
	// +listMapKey=sidecar
	// +kubebuilder:validation:MaxItems=10
	Overrides []SidecarOverride `json:"overrides,omitempty"`

	// rollout says how a new revision reaches the existing workloads: in waves, a canary first, each gated on
	// the sidecars' health (see RolloutStrategy). Left out, the defaults apply: waves of 1, 10% and 50% of the
	// selected workloads, then all; 60 s of healthy sidecars between waves.
	// +optional
	Rollout RolloutStrategy `json:"rollout,omitempty"`
}

// Sidecar is a container injected as a native sidecar. It is a corev1.Container (same fields, same YAML); the
// type exists so that its rules are checked per item, which keeps their CEL cost within the apiserver's budget
// and lets an error name the item (spec.sidecars[2]).
//
// +kubebuilder:validation:XValidation:rule="size(self.name) <= 63 && self.name.matches('^[-a-z0-9]+$') && !self.name.startsWith('-') && !self.name.endsWith('-')",message="name must be a DNS label: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit",fieldPath=".name"
// +kubebuilder:validation:XValidation:rule="has(self.image) && size(self.image) > 0",message="image is required: set the sidecar's container image (a pod template with an imageless container is refused, so the workloads could not be injected)",fieldPath=".image"
// +kubebuilder:validation:XValidation:rule="!has(self.restartPolicy) || self.restartPolicy == 'Always'",message="restartPolicy must be left out or set to Always: every sidecar is injected as a native sidecar (an init container with restartPolicy Always)",fieldPath=".restartPolicy"
type Sidecar struct {
	corev1.Container `json:",inline"`
}

// ProfileVolume is a pod volume added for the sidecars. It is a corev1.Volume (same fields, same YAML), typed
// apart so that its name rule is checked per item.
//
// Every volume source is allowed, hostPath included, in a SidecarProfile too. Its author reaches only the
// workloads of its own namespace, which the validating webhook lets them do only if they may update those
// workloads, and so could write the hostPath into them directly; and the pods still go through Pod Security
// admission, so a namespace at the baseline or restricted level refuses them all the same (the profile then
// reports the stuck rollout). Refusing hostPath here would stop log shippers that read the node's /var/log and
// protect nothing.
//
// +kubebuilder:validation:XValidation:rule="size(self.name) <= 63 && self.name.matches('^[-a-z0-9]+$') && !self.name.startsWith('-') && !self.name.endsWith('-')",message="name must be a DNS label: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit",fieldPath=".name"
type ProfileVolume struct {
	corev1.Volume `json:",inline"`
}

// AppContainerMount mounts one of the profile's volumes into the workload's app containers.
type AppContainerMount struct {
	// name is the volume to mount: one of spec.volumes.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// mountPath is where the volume appears in the app containers.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^/`
	MountPath string `json:"mountPath"`

	// subPath mounts a path inside the volume instead of its root.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	SubPath string `json:"subPath,omitempty"`

	// readOnly mounts the volume read-only.
	// +optional
	ReadOnly bool `json:"readOnly,omitempty"`

	// containers names the app containers to mount into. Empty means every app container (not init containers).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:items:MaxLength=63
	Containers []string `json:"containers,omitempty"`
}

// SidecarOverride says what a workload may override in one of the profile's sidecars.
type SidecarOverride struct {
	// sidecar is the name of the sidecar, one of spec.sidecars.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Sidecar string `json:"sidecar"`

	// resources are the requests and limits a workload may set, each with an optional ceiling.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=6
	Resources []ResourceOverride `json:"resources,omitempty"`

	// env are the names of the environment variables whose value a workload may set: the sidecar's own value is
	// replaced (a valueFrom too), or the variable is added when the sidecar has none of that name.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=40
	// +kubebuilder:validation:items:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	Env []string `json:"env,omitempty"`
}

// OverridableResource names a request or limit a workload may override: requests.cpu, requests.memory,
// requests.ephemeral-storage, and the same limits.
// +kubebuilder:validation:Enum=requests.cpu;requests.memory;requests.ephemeral-storage;limits.cpu;limits.memory;limits.ephemeral-storage
type OverridableResource string

// ResourceOverride allows a workload to set one request or limit of a sidecar.
type ResourceOverride struct {
	// name is the request or limit: requests.cpu, requests.memory, requests.ephemeral-storage, limits.cpu,
	// limits.memory or limits.ephemeral-storage.
	// +required
	Name OverridableResource `json:"name"`

	// max is the largest value a workload may ask for; left out, any value.
	// +optional
	Max *resource.Quantity `json:"max,omitempty"`
}

// SidecarProfileStatus is what Outrigger observed and did for a profile. It follows kstatus: Ready, Reconciling
// and Stalled conditions stamped with observedGeneration, so Flux and Argo CD can compute health.
type SidecarProfileStatus struct {
	// observedGeneration is the generation of the spec this status describes; -1 until Outrigger has seen the
	// profile.
	// +optional
	// +kubebuilder:default=-1
	ObservedGeneration int64 `json:"observedGeneration"`

	// conditions: Ready, Reconciling, Stalled, Degraded (see the Condition constants).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// matched counts the workloads the profile selects now (opted-out ones excluded).
	// +optional
	// +kubebuilder:default=0
	Matched int32 `json:"matched"`

	// injected counts the matched workloads that carry the profile's sidecars, in any revision.
	// +optional
	// +kubebuilder:default=0
	Injected int32 `json:"injected"`

	// upToDate counts the matched workloads that carry the profile's current revision.
	// +optional
	// +kubebuilder:default=0
	UpToDate int32 `json:"upToDate"`

	// rolledOut counts the up-to-date workloads whose own rollout is done: a Deployment whose pods all run the
	// current revision and are available, a Job whose pods carry it, a CronJob whose next Jobs will.
	// +optional
	// +kubebuilder:default=0
	RolledOut int32 `json:"rolledOut"`

	// healthy counts the matched workloads whose pods' sidecars from this profile are all started, ready and
	// not restarting (a workload with no pod counts as healthy).
	// +optional
	// +kubebuilder:default=0
	Healthy int32 `json:"healthy"`

	// needsAttention lists workloads a person has to act on (a conflict, an outdated revision, a workload that
	// cannot be injected), at most MaxNeedsAttention of them, sorted by kind, namespace and name.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	NeedsAttention []WorkloadAttention `json:"needsAttention,omitempty"`

	// needsAttentionOmitted counts the workloads needing attention that did not fit in needsAttention.
	// +optional
	NeedsAttentionOmitted int32 `json:"needsAttentionOmitted,omitempty"`

	// rollout is where the rollout of the profile's revisions stands: stable and candidate, the waves open, the
	// workloads per revision.
	// +optional
	Rollout *RolloutStatus `json:"rollout,omitempty"`
}

// MaxNeedsAttention bounds status.needsAttention so status stays small on a profile selecting thousands of
// workloads.
const MaxNeedsAttention = 20

// WorkloadAttention names one workload that needs a person, and why.
type WorkloadAttention struct {
	// kind of the workload: Deployment, Job, CronJob, StatefulSet, DaemonSet or Rollout.
	Kind WorkloadKind `json:"kind"`
	// namespace of the workload.
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`
	// name of the workload.
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// sidecar is the profile's sidecar concerned, when the reason is about one.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Sidecar string `json:"sidecar,omitempty"`
	// reason is a CamelCase code (see the Reason constants).
	// +kubebuilder:validation:MaxLength=64
	Reason string `json:"reason"`
	// message says what is wrong and what to do about it.
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message"`
	// since is when the condition was first seen: the sidecar's last termination, the rollout's last progress,
	// the pod's start; unset when unknown.
	// +optional
	Since *metav1.Time `json:"since,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sp,categories=outrigger
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Matched",type=integer,JSONPath=`.status.matched`
// +kubebuilder:printcolumn:name="Injected",type=integer,JSONPath=`.status.injected`,priority=1
// +kubebuilder:printcolumn:name="Up-To-Date",type=integer,JSONPath=`.status.upToDate`
// +kubebuilder:printcolumn:name="Rolled-Out",type=integer,JSONPath=`.status.rolledOut`,priority=1
// +kubebuilder:printcolumn:name="Healthy",type=integer,JSONPath=`.status.healthy`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// SidecarProfile injects sidecars into the workloads of its own namespace that its selector selects.
type SidecarProfile struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the sidecars and the workloads that get them.
	// +required
	Spec SidecarProfileSpec `json:"spec"`

	// status is what Outrigger observed.
	// +optional
	// +kubebuilder:default:={"observedGeneration":-1}
	Status SidecarProfileStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// SidecarProfileList is a list of SidecarProfiles.
type SidecarProfileList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SidecarProfile `json:"items"`
}

// ClusterSidecarProfileSpec is a SidecarProfileSpec that also selects namespaces.
type ClusterSidecarProfileSpec struct {
	SidecarProfileSpec `json:",inline"`

	// namespaceSelector selects the namespaces whose workloads the profile considers, by the namespace's labels.
	// Left out, every namespace is in scope. kube-system and Outrigger's own namespace never are.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist'])",message="spec.namespaceSelector.matchExpressions[].operator must be one of In, NotIn, Exists, DoesNotExist"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn'] ? (has(e.values) && size(e.values) > 0) : (!has(e.values) || size(e.values) == 0))",message="spec.namespaceSelector.matchExpressions[].values must be non-empty for In and NotIn (list the values), and left out for Exists and DoesNotExist"
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=csp,categories=outrigger
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Matched",type=integer,JSONPath=`.status.matched`
// +kubebuilder:printcolumn:name="Injected",type=integer,JSONPath=`.status.injected`,priority=1
// +kubebuilder:printcolumn:name="Up-To-Date",type=integer,JSONPath=`.status.upToDate`
// +kubebuilder:printcolumn:name="Rolled-Out",type=integer,JSONPath=`.status.rolledOut`,priority=1
// +kubebuilder:printcolumn:name="Healthy",type=integer,JSONPath=`.status.healthy`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// ClusterSidecarProfile injects sidecars into the selected workloads of every namespace its namespaceSelector
// selects: what a platform team uses.
type ClusterSidecarProfile struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the sidecars, the namespaces and the workloads that get them.
	// +required
	Spec ClusterSidecarProfileSpec `json:"spec"`

	// status is what Outrigger observed.
	// +optional
	// +kubebuilder:default:={"observedGeneration":-1}
	Status SidecarProfileStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ClusterSidecarProfileList is a list of ClusterSidecarProfiles.
type ClusterSidecarProfileList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterSidecarProfile `json:"items"`
}

func init() {
	register(&SidecarProfile{}, &SidecarProfileList{}, &ClusterSidecarProfile{}, &ClusterSidecarProfileList{})
}
