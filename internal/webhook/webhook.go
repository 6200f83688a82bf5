// Package webhook holds Outrigger's admission webhooks: the mutating one that gives Deployments, Jobs and
// CronJobs their sidecars as they are created (and keeps them on updates), with the same engine and the same
// profiles as the reconcilers, and the validating one that refuses a profile whose author may not change the
// workloads it can select (a profile must never be a way around RBAC), or whose sidecar or volume names collide
// with another profile's on workloads both can select.
package webhook

import (
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/outrigger-dev/outrigger/internal/advisor"
	"github.com/outrigger-dev/outrigger/internal/catalog"
	"github.com/outrigger-dev/outrigger/internal/metrics"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// Paths the webhooks are served on; config/webhook/manifests.yaml points the apiserver at them.
const (
	MutateWorkloadsPath  = "/mutate-workloads"
	ValidateProfilesPath = "/validate-profiles"
)

// Register serves both webhooks on the manager's webhook server. They read profiles and namespaces from the
// manager's cache, so answering costs no apiserver round trip; only the authorization of a profile's author
// asks the apiserver (SubjectAccessReviews, which no cache can answer).
// cat reads the profiles, namespaces and revisions (its Protected are the namespaces ClusterSidecarProfiles never
// reach: kube-system, Outrigger's own and --excluded-namespaces); served are
// the kinds the manager serves now, which the mutating webhook injects; known are every kind a profile may list
// (the built-in ones and the configured ones, served or not).
func Register(mgr ctrl.Manager, cat catalog.Catalog, served *workload.Set, known workload.Kinds) {
	server := mgr.GetWebhookServer()
	c := mgr.GetClient()
	server.Register(MutateWorkloadsPath, &admission.Webhook{Handler: metrics.InstrumentAdmission(&Injector{
		Catalog: cat, Kinds: served, Advisor: &advisor.Advisor{Reader: c}})})
	server.Register(ValidateProfilesPath, &admission.Webhook{Handler: &ProfileValidator{
		Authorizer: Authorizer{Client: c, Kinds: known},
		Collisions: CollisionValidator{Reader: c, Protected: cat.Protected},
	}})
}
