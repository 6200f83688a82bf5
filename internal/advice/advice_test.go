package advice

import (
	"reflect"
	"testing"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
)

var (
	logs  = inject.ProfileRef{Kind: inject.KindSidecarProfile, Name: "logs"}
	proxy = inject.ProfileRef{Kind: inject.KindClusterSidecarProfile, Name: "proxy"}
)

func TestAdvice_WarningNamesProfileSidecarAndReason(t *testing.T) {
	for _, tc := range []struct {
		a    Advice
		want string
	}{
		{Advice{Profile: logs, Sidecar: "shipper", Reason: v1alpha1.ReasonStartupProbeInJob, Message: "has a startupProbe"},
			`Outrigger: SidecarProfile/logs: sidecar "shipper": has a startupProbe (StartupProbeInJob)`},
		{Advice{Profile: proxy, Reason: v1alpha1.ReasonQuotaRefusesSidecars, Message: "quota q refuses"},
			`Outrigger: ClusterSidecarProfile/proxy: quota q refuses (QuotaRefusesSidecars)`},
	} {
		if got := tc.a.Warning(); got != tc.want {
			t.Errorf("Warning() = %q, want %q", got, tc.want)
		}
	}
}

func TestAdvice_AboutKeepsOneProfilesAdviceAndSortOrders(t *testing.T) {
	all := []Advice{
		{Profile: proxy, Reason: "B"},
		{Profile: logs, Sidecar: "z", Reason: "A"},
		{Profile: logs, Sidecar: "a", Reason: "B"},
		{Profile: logs, Sidecar: "a", Reason: "A"},
	}
	Sort(all)
	want := []Advice{{Profile: proxy, Reason: "B"}, {Profile: logs, Sidecar: "a", Reason: "A"}, {Profile: logs, Sidecar: "a", Reason: "B"}, {Profile: logs, Sidecar: "z", Reason: "A"}}
	if !reflect.DeepEqual(all, want) {
		t.Errorf("sorted %+v, want %+v", all, want)
	}
	if got := About(all, logs); len(got) != 3 || got[0].Profile != logs {
		t.Errorf("About(logs) = %+v", got)
	}
}

func TestAdvice_EveryAdviceReasonIsKnown(t *testing.T) {
	for _, r := range []string{v1alpha1.ReasonPodFailurePolicyMatchesSidecars, v1alpha1.ReasonStartupProbeInJob,
		v1alpha1.ReasonQuotaRefusesSidecars, v1alpha1.ReasonLimitRangeRefusesSidecars, v1alpha1.ReasonAutoscalerCountsSidecars,
		v1alpha1.ReasonGracePeriodTooShort} {
		if !IsReason(r) {
			t.Errorf("IsReason(%s) = false", r)
		}
	}
	if IsReason(v1alpha1.ReasonOutdated) || IsReason(v1alpha1.ReasonSidecarNotReady) {
		t.Error("a reason that is not advice is taken for advice")
	}
}
