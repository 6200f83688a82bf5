package v1alpha1

// Condition types on SidecarProfile and ClusterSidecarProfile status. They follow kstatus, so `kubectl wait`,
// Flux health checks and Argo CD's health script read them without knowing Outrigger.
const (
	// ConditionReady is True when every workload the profile selects carries its current sidecars, or was left
	// alone on purpose (updatePolicy OnCreate). It is False, with the reason, otherwise.
	ConditionReady = "Ready"
	// ConditionReconciling is True while Outrigger is still injecting, updating or removing sidecars.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when Outrigger cannot make progress without a person: a conflict with a workload's
	// own containers or volumes, or a spec the apiserver accepted but Outrigger cannot use.
	ConditionStalled = "Stalled"
	// ConditionDegraded is True when a sidecar of the profile is not ready, restarting or crash-looping in some
	// pod, or reached a pod without restartPolicy Always. The injection itself may be complete.
	ConditionDegraded = "Degraded"
)

// Reasons used by the conditions above and by status.needsAttention entries.
const (
	// ReasonSucceeded (Ready=True): every selected workload is as the profile says.
	ReasonSucceeded = "Succeeded"
	// ReasonProgressing (Reconciling=True, Ready=False): workloads are being injected or updated.
	ReasonProgressing = "Progressing"
	// ReasonRemoving (Reconciling=True, Ready=False): the profile is being deleted and its sidecars are being
	// removed from the workloads that carry them.
	ReasonRemoving = "Removing"
	// ReasonConflict (Stalled=True, Ready=False; and per workload): a sidecar, volume or mount path of the
	// profile has the name of one the workload already has. The workload's own is never overwritten: rename the
	// profile's.
	ReasonConflict = "Conflict"
	// ReasonInvalidSpec (Stalled=True, Ready=False): the spec passed the apiserver's validation but cannot be
	// used, such as a selector whose label values are malformed.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonOutdated (per workload): the workload carries an older revision of the profile and updatePolicy is
	// OnCreate, so Outrigger leaves it; recreate it, or switch the profile to Rollout.
	ReasonOutdated = "Outdated"
	// ReasonNotInjected (per workload): the workload existed before the profile and updatePolicy is OnCreate, so
	// it gets the sidecars only when recreated.
	ReasonNotInjected = "NotInjected"
	// ReasonWriteFailed (Stalled=True; and per workload): the apiserver refused Outrigger's patch; the message
	// gives its answer.
	ReasonWriteFailed = "WriteFailed"
	// ReasonReadFailed (Stalled=True; and per workload): Outrigger could not read what it needs to inject the
	// workload (the profiles in its scope, its namespace); the message gives the error. It clears by itself once
	// the read succeeds.
	ReasonReadFailed = "ReadFailed"
	// ReasonInvalidRecord (Stalled=True; and per workload): the workload's injection annotation
	// (InjectionAnnotation) cannot be read, so Outrigger cannot tell what it added; restore the annotation from
	// Git or remove the sidecars and the annotation by hand.
	ReasonInvalidRecord = "InvalidRecord"
	// ReasonRollingOut (Reconciling=True, Ready=False): the workloads carry the current revision and their own
	// rollouts are under way.
	ReasonRollingOut = "RollingOut"
	// ReasonRolloutStuck (Stalled=True; and per workload): a Deployment exceeded its progress deadline
	// (ProgressDeadlineExceeded); its events and pods say why.
	ReasonRolloutStuck = "RolloutStuck"
	// ReasonWaitingForPodDeletion (per workload): a StatefulSet or DaemonSet with updateStrategy OnDelete carries
	// the current sidecars in its template, but its pods change only when someone deletes them; the message
	// gives the command. Not counted as rolled out; the profile is not held Reconciling for it.
	ReasonWaitingForPodDeletion = "WaitingForPodDeletion"
	// ReasonRolloutPartitioned (per workload): a StatefulSet's rollingUpdate.partition stops its controller from
	// updating the pods below the partition; lower the partition to go on.
	ReasonRolloutPartitioned = "RolloutPartitioned"
	// ReasonRolloutPaused (per workload): an Argo Rollout carries the current sidecars but is paused, waiting to be
	// promoted (kubectl argo rollouts promote); a pause step with a duration is a rollout under way instead.
	ReasonRolloutPaused = "RolloutPaused"
	// ReasonNoPodTemplate (per workload): the workload has no pod template of its own to inject (an Argo Rollout
	// with spec.workloadRef); the message says which workload holds it.
	ReasonNoPodTemplate = "NoPodTemplate"
	// ReasonSidecarNotReady (Degraded=True; and per workload): a sidecar's readiness probe fails, or it has not
	// started, in some pod.
	ReasonSidecarNotReady = "SidecarNotReady"
	// ReasonSidecarRestarting (Degraded=True; and per workload): a sidecar restarted recently (a failing liveness
	// probe, a crash) or is in CrashLoopBackOff.
	ReasonSidecarRestarting = "SidecarRestarting"
	// ReasonRestartPolicyStripped (Degraded=True; and per workload): a pod has the sidecar as an init container
	// without restartPolicy Always: something (another webhook, a cluster without native sidecars) removed it,
	// so the pod waits for the sidecar to exit before starting the app.
	ReasonRestartPolicyStripped = "RestartPolicyStripped"
	// ReasonNativeSidecarsUnsupported (Stalled=True): the cluster's Kubernetes is older than 1.29, the first
	// with native sidecars.
	ReasonNativeSidecarsUnsupported = "NativeSidecarsUnsupported"
	// ReasonKindNotServed (Stalled=True, Ready=False): workloadKinds lists a configured kind the manager does not
	// serve, as its CRD has no pod template where the manager's configuration says; the message names the entry.
	// Fix the entry or the CRD (a changed CRD is checked again without a restart), or leave the kind out.
	ReasonKindNotServed = "KindNotServed"
	// ReasonAdmissionPolicyFailed (Stalled=True, Ready=False): in admission by policy, a MutatingAdmissionPolicy
	// that should place the profile cannot be compiled within the apiserver's limits (too many or too large
	// profiles can select one namespace's workloads of a kind), or the apiserver refused it, so the workloads
	// created there get none of its profiles' sidecars at admission. The message names the policy and the limit,
	// and says what to change: fewer or smaller profiles, or admission by webhook.
	ReasonAdmissionPolicyFailed = "AdmissionPolicyFailed"
	// ReasonRolloutInWaves (Reconciling=True, Ready=False): the profile's current revision (the candidate) rolls out
	// in waves (spec.rollout); the message says which wave is open and what the next one waits for.
	ReasonRolloutInWaves = "RolloutInWaves"
	// ReasonWavesPaused (Ready=False): spec.rollout.paused holds the candidate where it is; the workloads of the
	// open waves keep it, the others the stable revision. Argo CD shows the profile Suspended.
	ReasonWavesPaused = "WavesPaused"
	// ReasonRolloutHalted (Stalled=True, Ready=False): a workload of an open wave turned unhealthy with the
	// candidate (a sidecar restarting, its rollout stuck), or a wave did not pass its gate within
	// spec.rollout.progressDeadlineSeconds. No other workload is touched, and new workloads get the stable
	// revision, until spec changes: a fix starts again from the canary wave, a revert to the stable revision gives
	// it back to the workloads that got the candidate.
	ReasonRolloutHalted = "RolloutHalted"
	// ReasonOverrideRefused (per workload, never blocking): the workload asks, with an annotation, for an
	// override of a sidecar's value that the profile's spec.overrides does not allow, or with a value that is not
	// valid; the workload keeps the profile's value. The message names the annotation and the fix.
	ReasonOverrideRefused = "OverrideRefused"
	// ReasonHealthy (Degraded=False): every sidecar of the profile is ready in every pod.
	ReasonHealthy = "Healthy"
)

// Reasons of advice (per workload): something a person should change about one workload that blocks nothing. Each is
// a status.needsAttention entry, ranked below the sidecar problems and above what is left alone on purpose, that
// never changes a condition; a Warning event on the workload (see events.go); an admission warning (webhook mode
// only: admission by policy has no webhook to answer); and a line of `outrigger explain`. docs/pitfalls.md has
// each, with what to change.
const (
	// ReasonPodFailurePolicyMatchesSidecars: a Job's (or a CronJob's jobTemplate's) spec.podFailurePolicy has a rule
	// with onExitCodes but no containerName, which the exit codes sidecars get when they are stopped (143 for
	// SIGTERM, 137 when killed) can match: name the app container in the rule's containerName.
	ReasonPodFailurePolicyMatchesSidecars = "PodFailurePolicyMatchesSidecars"
	// ReasonStartupProbeInJob: a sidecar with a startupProbe in a Job's pod (restartPolicy Never or OnFailure): a
	// probe that fails its first attempt can keep the app containers from ever starting
	// (kubernetes/kubernetes#132826); drop the startupProbe from the profile's sidecar for Jobs, or give it an
	// initialDelaySeconds long enough that its first attempt passes.
	ReasonStartupProbeInJob = "StartupProbeInJob"
	// ReasonQuotaRefusesSidecars: a ResourceQuota of the workload's namespace would refuse its pods with the
	// sidecars: a hard limit the sidecars' requests or limits push the workload over, or a quota on a resource the
	// sidecar sets no request or limit for (every container must then set one). The rollout would stall.
	ReasonQuotaRefusesSidecars = "QuotaRefusesSidecars"
	// ReasonLimitRangeRefusesSidecars: a LimitRange of the workload's namespace would refuse its pods with the
	// sidecars: a Container min or max, a maxLimitRequestRatio, or a Pod max the sidecars break.
	ReasonLimitRangeRefusesSidecars = "LimitRangeRefusesSidecars"
	// ReasonAutoscalerCountsSidecars: a HorizontalPodAutoscaler scales the workload on a Resource metric's
	// utilization, which counts every container of the pod, the sidecars too: use a ContainerResource metric
	// naming the app container.
	ReasonAutoscalerCountsSidecars = "AutoscalerCountsSidecars"
	// ReasonGracePeriodTooShort: the pod's terminationGracePeriodSeconds (30 when unset) is shorter than its longest
	// preStop sleep plus the kubelet's 2 seconds for each sidecar's stop: the sidecars, stopped after the app
	// containers within the same grace period, would be stopped while the app still drains.
	ReasonGracePeriodTooShort = "TerminationGracePeriodTooShort"
)

// Labels and annotations Outrigger reads or writes on workloads.
const (
	// InjectLabel, set to InjectDisabled on a workload, opts it out: Outrigger removes what it added and
	// injects nothing. It is a label so that the admission webhook's objectSelector skips the workload.
	InjectLabel = "sidecars.outrigger.dev/inject"
	// InjectDisabled is the InjectLabel value that opts a workload out.
	InjectDisabled = "disabled"
	// InjectedLabel marks pod templates (and so pods) that carry Outrigger's sidecars, so the manager can
	// cache only those pods.
	InjectedLabel = "sidecars.outrigger.dev/injected"
	// InjectionAnnotation records on the pod template what Outrigger injected: per profile, its revision hash
	// and the names of the containers, volumes and mounts it added. Removal and upgrades read it, never guess.
	InjectionAnnotation = "sidecars.outrigger.dev/injection"
	// Finalizer keeps a profile until its sidecars are removed from every workload that carries them.
	Finalizer = "sidecars.outrigger.dev/cleanup"
	// OverrideAnnotationPrefix starts the annotations with which a workload overrides a sidecar's values, as its
	// profile's spec.overrides allow: OverrideAnnotationPrefix + "<sidecar>.limits.memory", or + "<sidecar>.env.NAME".
	OverrideAnnotationPrefix = "sidecars.outrigger.dev/"
)
