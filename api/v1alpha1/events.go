package v1alpha1

// Reasons of the events Outrigger records on workloads and on the profiles concerned. Warnings are always
// recorded; Normal events of a write only with the manager's --normal-events. The rollout's events, one per wave
// of a profile, are always recorded.
const (
	// EventInjected (Normal): a workload got a profile's sidecars.
	EventInjected = "Injected"
	// EventUpdated (Normal): a workload's sidecars moved to the profile's current revision.
	EventUpdated = "Updated"
	// EventRemoved (Normal): a profile's sidecars were removed (the profile was deleted or stopped selecting the
	// workload, or the workload opted out).
	EventRemoved = "Removed"
	// EventRepaired (Normal): a hand edit of Outrigger's containers, volumes or mounts was undone.
	EventRepaired = "Repaired"
	// EventConflict (Warning): a profile's sidecar, volume or mount path has the name of one the workload already
	// has; the workload's own is kept.
	EventConflict = ReasonConflict
	// EventReadFailed (Warning): the profiles or the namespace a workload needs could not be read.
	EventReadFailed = ReasonReadFailed
	// EventInvalidRecord (Warning): the workload's injection annotation cannot be read.
	EventInvalidRecord = ReasonInvalidRecord
	// EventInjectionFailed (Warning): the apiserver refused Outrigger's patch of the workload; the status reason
	// is ReasonWriteFailed.
	EventInjectionFailed = "InjectionFailed"
	// EventAdmissionPolicyFailed (Warning, on the profile): an admission policy that should place the profile
	// cannot be compiled or was refused (see ReasonAdmissionPolicyFailed); recorded when the reason first shows or
	// changes.
	EventAdmissionPolicyFailed = ReasonAdmissionPolicyFailed
	// EventOverrideRefused (Warning, on the workload): an override the workload asks for was refused and the
	// profile's value kept (see ReasonOverrideRefused).
	EventOverrideRefused = ReasonOverrideRefused
	// EventWaveOpened (Normal, on the profile): a wave of the candidate revision opened.
	EventWaveOpened = "WaveOpened"
	// EventRolledOut (Normal, on the profile): the candidate reached every workload and is the stable revision.
	EventRolledOut = "RolledOut"
	// EventRolloutHalted (Warning, on the profile): the rollout halted; the message says where and why.
	EventRolloutHalted = ReasonRolloutHalted
)

// Advice (see the advice reasons in conditions.go) is recorded as a Warning event on the workload, with the advice's
// reason as the event's, by the reconciler of the profile concerned when the advice first shows in the profile's
// status.needsAttention; repeats are folded by the events API into one event series.
const (
	// EventPodFailurePolicyMatchesSidecars (Warning, on the workload): see ReasonPodFailurePolicyMatchesSidecars.
	EventPodFailurePolicyMatchesSidecars = ReasonPodFailurePolicyMatchesSidecars
	// EventStartupProbeInJob (Warning, on the workload): see ReasonStartupProbeInJob.
	EventStartupProbeInJob = ReasonStartupProbeInJob
	// EventQuotaRefusesSidecars (Warning, on the workload): see ReasonQuotaRefusesSidecars.
	EventQuotaRefusesSidecars = ReasonQuotaRefusesSidecars
	// EventLimitRangeRefusesSidecars (Warning, on the workload): see ReasonLimitRangeRefusesSidecars.
	EventLimitRangeRefusesSidecars = ReasonLimitRangeRefusesSidecars
	// EventAutoscalerCountsSidecars (Warning, on the workload): see ReasonAutoscalerCountsSidecars.
	EventAutoscalerCountsSidecars = ReasonAutoscalerCountsSidecars
	// EventGracePeriodTooShort (Warning, on the workload): see ReasonGracePeriodTooShort.
	EventGracePeriodTooShort = ReasonGracePeriodTooShort
)

// FieldManager is the field manager of every write Outrigger makes. GitOps tools do not take it over (it is
// not kubectl* or kustomize-controller*), so the fields it adds stay when they re-apply their manifests.
const FieldManager = "outrigger"
