package manager

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmanager "sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/outrigger-dev/outrigger/internal/admission/policy"
	admissioncontroller "github.com/outrigger-dev/outrigger/internal/controller/admission"
)

// Admission modes (--admission).
const (
	// AdmissionAuto takes AdmissionPolicy when the apiserver serves MutatingAdmissionPolicies
	// (admissionregistration.k8s.io/v1, Kubernetes 1.36 and later), AdmissionWebhook otherwise.
	AdmissionAuto = "auto"
	// AdmissionPolicy: the profiles are compiled into MutatingAdmissionPolicies, which the apiserver runs
	// in-process; the mutating webhook has nothing to do.
	AdmissionPolicy = "policy"
	// AdmissionWebhook: the mutating webhook injects. The empty mode means it too.
	AdmissionWebhook = "webhook"
)

// AdmissionModes are the values --admission takes.
var AdmissionModes = []string{AdmissionAuto, AdmissionPolicy, AdmissionWebhook}

// admissionMode is the gauge outrigger_admission_mode{mode}: 1 for the mode the manager runs in.
var admissionMode = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "outrigger_admission_mode",
	Help: "The admission mode the manager runs in (1 for the mode in the label): policy or webhook.",
}, []string{"mode"})

func init() { ctrlmetrics.Registry.MustRegister(admissionMode) }

// resolveAdmission turns the mode asked for into the one to run: auto asks the apiserver whether it serves
// MutatingAdmissionPolicies. A policy mode the apiserver cannot serve is an error that says so.
func resolveAdmission(cfg *rest.Config, asked string) (string, error) {
	if asked == "" {
		asked = AdmissionWebhook
	}
	if !slices.Contains(AdmissionModes, asked) {
		return "", fmt.Errorf("--admission=%q: use one of %v", asked, AdmissionModes)
	}
	if asked == AdmissionWebhook {
		return asked, nil
	}
	served, err := servesPolicies(cfg)
	if err != nil {
		return "", fmt.Errorf("--admission=%s: asking the apiserver whether it serves MutatingAdmissionPolicies: %w", asked, err)
	}
	switch {
	case served:
		return AdmissionPolicy, nil
	case asked == AdmissionPolicy:
		return "", fmt.Errorf("--admission=policy: the apiserver does not serve admissionregistration.k8s.io/v1 " +
			"mutatingadmissionpolicies (Kubernetes 1.36 and later do); use --admission=webhook or auto")
	}
	return AdmissionWebhook, nil
}

func servesPolicies(cfg *rest.Config) (bool, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return false, err
	}
	list, err := dc.ServerResourcesForGroupVersion("admissionregistration.k8s.io/v1")
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Name == "mutatingadmissionpolicies" }), nil
}

// whoAmI is the manager's user name as the apiserver sees it (a SelfSubjectReview), so the policies can leave
// its own writes alone; "" when the apiserver will not say (the policies then see them too, which only costs
// their evaluation: the manager's writes carry the injection record the policies skip).
func whoAmI(ctx context.Context, cfg *rest.Config) (string, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return "", err
	}
	r, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	return r.Status.UserInfo.Username, nil
}

// policiesLeftBehind deletes, in webhook mode, the admission policies and bindings a manager in policy mode
// wrote: left, the mutating ones would keep injecting revisions nothing updates any more, and the validating
// ones would keep checking profiles with a list of kinds nothing updates. Once, by the leader, at start. Only where
// the apiserver serves MutatingAdmissionPolicies, which policy mode needs: an older apiserver (1.29 serves no
// admissionregistration.k8s.io/v1 ValidatingAdmissionPolicies) is never asked for what it does not serve.
func policiesLeftBehind(cfg *rest.Config) ctrlmanager.Runnable {
	return ctrlmanager.RunnableFunc(func(ctx context.Context) error {
		if served, err := servesPolicies(cfg); err != nil || !served {
			return nil // nothing to leave behind where the apiserver serves no policies
		}
		c, err := client.New(cfg, client.Options{})
		if err != nil {
			return err
		}
		left, err := admissioncontroller.Mine(ctx, c)
		for _, obj := range left {
			err = errors.Join(err, client.IgnoreNotFound(c.Delete(ctx, obj)))
		}
		if err != nil {
			ctrl.Log.WithName("admission").Error(err, "deleting the admission policies of policy mode: delete them by hand",
				"label", policy.ManagedByLabel+"="+policy.ManagedBy)
		}
		return nil
	})
}
