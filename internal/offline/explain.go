package offline

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	outsel "github.com/outrigger-dev/outrigger/internal/selection"
)

// whyNot says why a profile does not select a workload, checking what selection.Selects checks, in the same
// order; "" when it selects it.
func (p *predictor) whyNot(pr profile, kind v1alpha1.WorkloadKind, obj client.Object) string {
	ns := obj.GetNamespace()
	cluster := pr.GetNamespace() == ""
	switch {
	case outsel.OptedOut(obj):
		return fmt.Sprintf("the workload opted out with the label %s=%s", v1alpha1.InjectLabel, v1alpha1.InjectDisabled)
	case !pr.ProfileSpec().SelectsKind(kind):
		return fmt.Sprintf("spec.workloadKinds %v does not include %s", pr.ProfileSpec().WorkloadKinds, kind)
	case !cluster && pr.GetNamespace() != ns:
		return fmt.Sprintf("wrong namespace: a SidecarProfile selects only workloads of its own namespace, %s; the workload is in %s",
			pr.GetNamespace(), ns)
	case cluster && p.webhookSkips(ns):
		return fmt.Sprintf("protected namespace: ClusterSidecarProfiles never select kube-system or Outrigger's namespace (%s)",
			p.opts.OutriggerNamespace)
	case !cluster && p.webhookSkips(ns):
		return fmt.Sprintf("the admission webhook never sees namespace %s, so nothing is injected at creation; "+
			"the reconciler injects Deployments and CronJobs there afterwards, Jobs never", ns)
	}
	nsLabels := p.ns.Labels(ns)
	if cluster && !pr.sel.Namespaces.Matches(labels.Set(nsLabels)) {
		msg := "spec.namespaceSelector " + mismatch(pr.sel.Namespaces, nsLabels, "namespace "+ns)
		if !p.ns.told[ns] {
			msg += fmt.Sprintf(" (the CLI knows namespace %s only by its name: add its Namespace object to the inputs, "+
				"or pass --namespace-labels %s=KEY=VALUE)", ns, ns)
		}
		return msg
	}
	if !pr.sel.Workloads.Matches(labels.Set(obj.GetLabels())) {
		return "spec.selector " + mismatch(pr.sel.Workloads, obj.GetLabels(), "the workload")
	}
	return ""
}

// mismatch names every requirement of a selector that a label set fails, with the label that is missing or
// has another value.
func mismatch(sel labels.Selector, set map[string]string, who string) string {
	reqs, _ := sel.Requirements()
	var out []string
	for _, r := range reqs {
		if r.Matches(labels.Set(set)) {
			continue
		}
		value, has := set[r.Key()]
		switch r.Operator() {
		case selection.Exists:
			out = append(out, fmt.Sprintf("requires the label %s, which %s does not have", r.Key(), who))
		case selection.DoesNotExist:
			out = append(out, fmt.Sprintf("requires no label %s, but %s has %s=%s", r.Key(), who, r.Key(), value))
		default:
			have := fmt.Sprintf("%s has no label %s", who, r.Key())
			if has {
				have = fmt.Sprintf("%s has %s=%s", who, r.Key(), value)
			}
			out = append(out, fmt.Sprintf("requires %s, but %s", r.String(), have))
		}
	}
	return strings.Join(out, "; ")
}
