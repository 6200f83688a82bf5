package pitfall

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/advice"
)

func quota(name string, hard corev1.ResourceList, mods ...func(*corev1.ResourceQuota)) corev1.ResourceQuota {
	q := corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"}, Spec: corev1.ResourceQuotaSpec{Hard: hard}}
	for _, m := range mods {
		m(&q)
	}
	return q
}

func limitRange(name string, items ...corev1.LimitRangeItem) corev1.LimitRange {
	return corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"}, Spec: corev1.LimitRangeSpec{Limits: items}}
}

func withResources(r corev1.ResourceRequirements) func(*corev1.PodSpec) {
	return func(s *corev1.PodSpec) { s.Containers[0].Resources = r }
}

// only returns the advice of one reason, as "sidecar: message".
func only(all []advice.Advice, reason string) []string {
	var out []string
	for _, a := range all {
		if a.Reason == reason {
			out = append(out, a.Sidecar+": "+a.Message)
		}
	}
	return out
}

type resourceCase struct {
	name     string
	app      corev1.ResourceRequirements
	sidecar  corev1.ResourceRequirements
	replicas int32
	podLevel bool // the pod template sets spec.resources
	ns       Namespace
	want     []string // substrings of the one piece of advice expected; nil for none
}

func runResourceCases(t *testing.T, reason string, cases []resourceCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tmpl := injected(t, withResources(c.app), corev1.Container{Name: "proxy", Resources: c.sidecar})
			if c.podLevel {
				tmpl.Spec.Resources = &corev1.ResourceRequirements{Limits: list("memory", "1Gi")}
			}
			replicas := c.replicas
			if replicas == 0 {
				replicas = 1
			}
			got := only(check(deployment(tmpl, replicas), tmpl, c.ns), reason)
			want := 0
			if c.want != nil {
				want = 1
			}
			if len(got) != want {
				t.Fatalf("got %d pieces of advice, want %d:\n%s", len(got), want, strings.Join(got, "\n"))
			}
			for _, w := range c.want {
				if !strings.Contains(got[0], w) {
					t.Errorf("advice:\n%s\nlacks %q", got[0], w)
				}
			}
		})
	}
}

func TestPitfalls_WarnsWhenAQuotaRefusesTheSidecars(t *testing.T) {
	app := resources(list("cpu", "500m", "memory", "256Mi"), list("cpu", "1", "memory", "256Mi"))
	sized := resources(list("cpu", "100m", "memory", "64Mi"), list("cpu", "200m", "memory", "64Mi"))
	runResourceCases(t, v1alpha1.ReasonQuotaRefusesSidecars, []resourceCase{
		{name: "a quota on limits.memory, and a sidecar without a memory limit", app: app,
			ns:   Namespace{Quotas: []corev1.ResourceQuota{quota("compute", list("limits.memory", "10Gi"))}},
			want: []string{"proxy: ResourceQuota compute has a hard limits.memory, so every container must set it", "set resources.limits.memory on the sidecar"}},
		{name: "a quota on cpu requests (short name), and a sidecar without requests", app: app,
			ns:   Namespace{Quotas: []corev1.ResourceQuota{quota("compute", list("cpu", "10", "memory", "10Gi"))}},
			want: []string{"proxy: ResourceQuota compute has a hard cpu, memory", "set resources.requests.cpu and resources.requests.memory"}},
		{name: "a LimitRange default fills what the quota requires", app: app,
			ns: Namespace{Quotas: []corev1.ResourceQuota{quota("compute", list("limits.memory", "10Gi"))},
				LimitRanges: []corev1.LimitRange{limitRange("defaults", corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Default: list("memory", "128Mi")})}}},
		{name: "a sidecar that sets only its limit has its request defaulted to it", app: app, sidecar: resources(nil, list("cpu", "100m", "memory", "64Mi")),
			ns: Namespace{Quotas: []corev1.ResourceQuota{quota("compute", list("requests.cpu", "10", "requests.memory", "10Gi"))}}},
		{name: "three replicas fit the hard limit without the sidecar, not with it", app: app, sidecar: sized, replicas: 3,
			ns:   Namespace{Quotas: []corev1.ResourceQuota{quota("compute", list("requests.cpu", "1600m", "limits.memory", "10Gi"))}},
			want: []string{": ResourceQuota compute admits the workload's pods without the sidecars \"proxy\" but not with them", "requests.cpu: 3 pods need 1800m with the sidecars (1500m without), over the hard 1600m"}},
		{name: "over the hard limit without the sidecar already: not the sidecar's doing", app: app, sidecar: sized, replicas: 4,
			ns: Namespace{Quotas: []corev1.ResourceQuota{quota("compute", list("requests.cpu", "1600m"))}}},
		{name: "pod-level resources: no container must set its own", app: app, podLevel: true,
			ns: Namespace{Quotas: []corev1.ResourceQuota{quota("compute", list("limits.memory", "10Gi"))}}},
		{name: "a scoped quota is left out", app: app,
			ns: Namespace{Quotas: []corev1.ResourceQuota{quota("compute", list("limits.memory", "10Gi"), func(q *corev1.ResourceQuota) {
				q.Spec.Scopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeNotBestEffort}
			})}}},
		{name: "a count quota changes nothing", app: app, ns: Namespace{Quotas: []corev1.ResourceQuota{quota("counts", list("pods", "10", "count/deployments.apps", "2"))}}},
	})
}

func TestPitfalls_WarnsWhenALimitRangeRefusesTheSidecars(t *testing.T) {
	app := resources(list("cpu", "500m", "memory", "256Mi"), list("cpu", "1", "memory", "256Mi"))
	runResourceCases(t, v1alpha1.ReasonLimitRangeRefusesSidecars, []resourceCase{
		{name: "a Container max below the sidecar's limit", app: app, sidecar: resources(list("memory", "1Gi"), list("memory", "2Gi")),
			ns:   Namespace{LimitRanges: []corev1.LimitRange{limitRange("caps", corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: list("memory", "1Gi")})}},
			want: []string{"proxy: the namespace's LimitRanges refuse the pods with this sidecar (LimitRange caps: maximum memory per Container is 1Gi, but the limit is 2Gi)"}},
		{name: "a Container min above what the sidecar requests", app: app, sidecar: resources(list("cpu", "10m"), nil),
			ns:   Namespace{LimitRanges: []corev1.LimitRange{limitRange("floor", corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Min: list("cpu", "50m")})}},
			want: []string{"minimum cpu per Container is 50m, but the request is 10m"}},
		{name: "a ratio the sidecar's limit and request break", app: app, sidecar: resources(list("cpu", "100m"), list("cpu", "1")),
			ns:   Namespace{LimitRanges: []corev1.LimitRange{limitRange("ratio", corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, MaxLimitRequestRatio: list("cpu", "4")})}},
			want: []string{"cpu limit to request ratio per Container is at most 4, but it is 1/100m"}},
		{name: "a default limit below the sidecar's request makes the pod invalid", app: app, sidecar: resources(list("memory", "512Mi"), nil),
			ns:   Namespace{LimitRanges: []corev1.LimitRange{limitRange("defaults", corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Default: list("memory", "256Mi")})}},
			want: []string{"the default memory limit 256Mi is below the sidecar's request 512Mi"}},
		{name: "a Container max the defaults fit (max is the default limit)", app: app,
			ns: Namespace{LimitRanges: []corev1.LimitRange{limitRange("caps", corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: list("memory", "1Gi")})}}},
		{name: "a Pod max the app fits alone, not with the sidecar", app: app, sidecar: resources(list("memory", "128Mi"), list("memory", "128Mi")),
			ns:   Namespace{LimitRanges: []corev1.LimitRange{limitRange("pods", corev1.LimitRangeItem{Type: corev1.LimitTypePod, Max: list("memory", "300Mi")})}},
			want: []string{": the namespace's LimitRanges refuse the pods with the sidecars \"proxy\", which they admit without them (LimitRange pods: maximum memory per Pod is 300Mi, but the limit is 384Mi)"}},
		{name: "no LimitRange", app: app, sidecar: resources(list("memory", "1Gi"), list("memory", "2Gi"))},
	})
}
