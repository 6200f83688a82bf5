package metrics

import (
	"regexp"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// Names of the per-profile metrics. Each has the labels profile_kind (SidecarProfile or ClusterSidecarProfile),
// profile_namespace ("" for a ClusterSidecarProfile) and profile_name. They are not called kind, namespace and
// name: Prometheus gives every scraped series the namespace of the target (the manager's), and would rename ours
// to exported_namespace.
const (
	ProfileMatched   = "outrigger_profile_workloads_matched"
	ProfileInjected  = "outrigger_profile_workloads_injected"
	ProfileUpToDate  = "outrigger_profile_workloads_up_to_date"
	ProfileRolledOut = "outrigger_profile_workloads_rolled_out"
	ProfileHealthy   = "outrigger_profile_workloads_healthy"
	ProfileCondition = "outrigger_profile_condition"                   // + type, status: 1 for the condition's status, 0 for the others
	ProfileAttention = "outrigger_profile_workloads_attention"         // + reason: workloads listed in needsAttention
	ProfileOmitted   = "outrigger_profile_workloads_attention_omitted" // needsAttentionOmitted
)

// OtherReason is the reason label of a needsAttention entry whose reason is not a CamelCase code (never written
// by Outrigger, which only writes its Reason constants): it keeps the label's values bounded whatever the status
// holds.
const OtherReason = "Other"

// conditionStatuses are the statuses every condition gets a series for, as kube-state-metrics does, so that a
// change of status is a change of value, never a series that appears or vanishes.
var conditionStatuses = []metav1.ConditionStatus{metav1.ConditionTrue, metav1.ConditionFalse, metav1.ConditionUnknown}

// Values of the profile_kind label.
const (
	sidecarProfile        = "SidecarProfile"
	clusterSidecarProfile = "ClusterSidecarProfile"
)

var profileLabels = []string{"profile_kind", "profile_namespace", "profile_name"}

// profiles is the collector of the per-profile metrics.
var profiles = newProfileCollector()

func init() {
	metrics.Registry.MustRegister(profiles)
}

// SetProfile exports the status the reconciler computed for the profile named key: a SidecarProfile when the key
// has a namespace, a ClusterSidecarProfile when not. It replaces everything exported for that profile before.
func SetProfile(key types.NamespacedName, st v1alpha1.SidecarProfileStatus) {
	profiles.set(key, snapshotOf(st))
}

// ForgetProfile stops exporting the profile named key: it is gone, or no longer carries Outrigger's finalizer.
func ForgetProfile(key types.NamespacedName) {
	profiles.forget(key)
}

// snapshot is what is exported for one profile.
type snapshot struct {
	counts     [5]float64 // matched, injected, upToDate, rolledOut, healthy
	conditions map[string]metav1.ConditionStatus
	attention  map[string]int // reason: workloads
	omitted    float64
}

var camelCase = regexp.MustCompile(`^[A-Z][A-Za-z0-9]{0,63}$`)

func snapshotOf(st v1alpha1.SidecarProfileStatus) snapshot {
	s := snapshot{
		counts:     [5]float64{float64(st.Matched), float64(st.Injected), float64(st.UpToDate), float64(st.RolledOut), float64(st.Healthy)},
		conditions: map[string]metav1.ConditionStatus{},
		attention:  map[string]int{},
		omitted:    float64(st.NeedsAttentionOmitted),
	}
	for _, c := range st.Conditions {
		s.conditions[c.Type] = c.Status
	}
	// An entry is per workload, or per workload and sidecar: count each workload once per reason.
	seen := map[[4]string]bool{}
	for _, a := range st.NeedsAttention {
		reason := a.Reason
		if !camelCase.MatchString(reason) {
			reason = OtherReason
		}
		key := [4]string{reason, string(a.Kind), a.Namespace, a.Name}
		if !seen[key] {
			seen[key] = true
			s.attention[reason]++
		}
	}
	return s
}

// profileCollector exports a snapshot per profile, made at each scrape from the last status computed: a profile
// forgotten has no series left, and a reason or condition gone from the status has none either.
type profileCollector struct {
	mu        sync.RWMutex
	snapshots map[types.NamespacedName]snapshot

	counts                        [5]*prometheus.Desc
	condition, attention, omitted *prometheus.Desc
}

func newProfileCollector() *profileCollector {
	desc := func(name, help string, extra ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append(append([]string(nil), profileLabels...), extra...), nil)
	}
	return &profileCollector{
		snapshots: map[types.NamespacedName]snapshot{},
		counts: [5]*prometheus.Desc{
			desc(ProfileMatched, "Workloads the profile selects (status.matched)."),
			desc(ProfileInjected, "Selected workloads that carry the profile's sidecars, in any revision (status.injected)."),
			desc(ProfileUpToDate, "Selected workloads that carry the profile's current revision (status.upToDate)."),
			desc(ProfileRolledOut, "Up-to-date workloads whose own rollout is done (status.rolledOut)."),
			desc(ProfileHealthy, "Selected workloads whose pods' sidecars of the profile are all started, ready and not restarting (status.healthy)."),
		},
		condition: desc(ProfileCondition, "The profile's conditions (Ready, Reconciling, Stalled, Degraded): 1 for the status the condition has, 0 for the others.", "type", "status"),
		attention: desc(ProfileAttention, "Workloads in the profile's status.needsAttention, by reason (at most 20 entries are listed, most urgent first; "+
			ProfileOmitted+" counts the others).", "reason"),
		omitted: desc(ProfileOmitted, "Workloads needing attention that did not fit in status.needsAttention (status.needsAttentionOmitted)."),
	}
}

func (c *profileCollector) set(key types.NamespacedName, s snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.snapshots[key] = s
}

func (c *profileCollector) forget(key types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.snapshots, key)
}

// Describe sends the descriptors of every per-profile metric.
func (c *profileCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.counts {
		ch <- d
	}
	ch <- c.condition
	ch <- c.attention
	ch <- c.omitted
}

// Collect sends the series of every profile's last snapshot.
func (c *profileCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for key, s := range c.snapshots {
		kind := clusterSidecarProfile
		if key.Namespace != "" {
			kind = sidecarProfile
		}
		labels := []string{kind, key.Namespace, key.Name}
		gauge := func(d *prometheus.Desc, v float64, extra ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append(labels[:3:3], extra...)...)
		}
		for i, d := range c.counts {
			gauge(d, s.counts[i])
		}
		for typ, status := range s.conditions {
			for _, st := range conditionStatuses {
				gauge(c.condition, boolValue(status == st), typ, string(st))
			}
		}
		for reason, n := range s.attention {
			gauge(c.attention, float64(n), reason)
		}
		gauge(c.omitted, s.omitted)
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
