package integration

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"testing"

	. "github.com/onsi/gomega"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/controlplane"
	"github.com/outrigger-dev/outrigger/internal/metrics"
)

// freeAddr is a free local address to listen on.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// scraperToken is the token of a ServiceAccount bound to the ClusterRole config/rbac gives scrapers
// (outrigger-metrics-reader): what Prometheus presents to the secure endpoint.
func scraperToken(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: newNamespace(t, nil), Name: "prometheus"}}
	create(t, sa, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "metrics-scraper-"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "outrigger-metrics-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: sa.Namespace, Name: sa.Name}},
	})
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}
	if err := k8s.SubResource("token").Create(ctx, sa, tr); err != nil {
		t.Fatalf("a token for the scraper: %v", err)
	}
	return tr.Status.Token
}

// scrape reads the manager's metrics endpoint as a scraper with token does (the certificate is the manager's own
// self-signed one, as with the ServiceMonitor's insecureSkipVerify).
func scrape(token string) (controlplane.Metrics, error) {
	req, err := http.NewRequest(http.MethodGet, "https://"+metricsAddr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the manager's self-signed certificate
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(resp.Body)
}

// histogramCount is the number of observations of a histogram's series whose labels include labels.
func histogramCount(ms controlplane.Metrics, name string, labels map[string]string) uint64 {
	var n uint64
	for _, m := range ms[name].GetMetric() {
		ok := true
		for k, v := range labels {
			found := false
			for _, l := range m.GetLabel() {
				found = found || (l.GetName() == k && l.GetValue() == v)
			}
			ok = ok && found
		}
		if ok {
			n += m.GetHistogram().GetSampleCount()
		}
	}
	return n
}

// A Deployment created through the webhook: the secure endpoint, scraped as Prometheus does, counts its admission
// (injected, with its handling time), exports the profile's status as it is written, and forgets the profile
// once it is deleted.
func TestMetrics_EndpointExportsProfileStatusAndAdmissionDecisions(t *testing.T) {
	g := NewWithT(t)
	token := scraperToken(t)
	// The endpoint may start serving a moment after the webhook, which readiness waits for.
	var before controlplane.Metrics
	g.Eventually(func() (err error) {
		before, err = scrape(token)
		return err
	}, timeout, interval).Should(Succeed())
	if _, err := scrape(""); err == nil {
		t.Errorf("the metrics endpoint answered a request without a token")
	}
	injected := map[string]string{"kind": "Deployment", "outcome": string(metrics.Injected), "reason": ""}
	handled := histogramCount(before, metrics.AdmissionDuration, map[string]string{"kind": "Deployment"})

	ns := newNamespace(t, nil)
	create(t, newProfile(ns, "logs", sidecarSpec("web", "logshipper")))
	create(t, newDeployment(ns, "web"))
	profile := map[string]string{"profile_kind": "SidecarProfile", "profile_namespace": ns, "profile_name": "logs"}

	g.Eventually(func(g Gomega) {
		st := getProfile(g, ns, "logs").Status
		g.Expect(condition(st, v1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		ms, err := scrape(token)
		g.Expect(err).NotTo(HaveOccurred())
		for name, want := range map[string]int32{
			metrics.ProfileMatched: st.Matched, metrics.ProfileInjected: st.Injected, metrics.ProfileUpToDate: st.UpToDate,
			metrics.ProfileRolledOut: st.RolledOut, metrics.ProfileHealthy: st.Healthy,
		} {
			g.Expect(ms.Sum(name, profile)).To(BeEquivalentTo(want), name)
			g.Expect(ms.Sum(name, profile)).To(BeEquivalentTo(1), name)
		}
		for _, c := range st.Conditions {
			for _, status := range []metav1.ConditionStatus{metav1.ConditionTrue, metav1.ConditionFalse, metav1.ConditionUnknown} {
				labels := map[string]string{"profile_namespace": ns, "profile_name": "logs", "type": c.Type, "status": string(status)}
				want := 0.0
				if c.Status == status {
					want = 1
				}
				g.Expect(ms.Sum(metrics.ProfileCondition, labels)).To(Equal(want), "%s %s", c.Type, status)
			}
		}
		// The webhook injected the Deployment as it was created, and timed it.
		g.Expect(ms.Sum(metrics.AdmissionDecisions, injected)).To(BeNumerically(">", before.Sum(metrics.AdmissionDecisions, injected)))
		g.Expect(histogramCount(ms, metrics.AdmissionDuration, map[string]string{"kind": "Deployment"})).To(BeNumerically(">", handled))
	}, timeout, interval).Should(Succeed())
	g.Expect(writes.In(ns)).To(BeZero(), "the webhook injected the Deployment: the reconciler had nothing to write")

	// A Deployment no profile selects is skipped, with the reason.
	skipped := map[string]string{"kind": "Deployment", "outcome": string(metrics.Skipped), "reason": string(metrics.NoProfile)}
	ms, err := scrape(token)
	g.Expect(err).NotTo(HaveOccurred())
	create(t, newDeployment(ns, "other"))
	g.Eventually(func(g Gomega) {
		now, err := scrape(token)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(now.Sum(metrics.AdmissionDecisions, skipped)).To(BeNumerically(">", ms.Sum(metrics.AdmissionDecisions, skipped)))
	}, timeout, interval).Should(Succeed())

	// Deleted, the profile leaves no series behind.
	g.Expect(k8s.Delete(context.Background(), newProfile(ns, "logs", v1alpha1.SidecarProfileSpec{}))).To(Succeed())
	g.Eventually(func(g Gomega) {
		ms, err := scrape(token)
		g.Expect(err).NotTo(HaveOccurred())
		for _, name := range []string{metrics.ProfileMatched, metrics.ProfileCondition, metrics.ProfileOmitted} {
			for _, m := range ms[name].GetMetric() {
				for _, l := range m.GetLabel() {
					g.Expect(l.GetName() == "profile_namespace" && l.GetValue() == ns).To(BeFalse(), "%s still has a series of the deleted profile", name)
				}
			}
		}
	}, timeout, interval).Should(Succeed())
}
