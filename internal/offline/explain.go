package offline

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	outsel "github.com/outrigger-dev/outrigger/internal/selection"
)

// whyNot says, in words, why a profile does not select a workload: selection.Explain decides, as for the webhook;
// "" when it selects it. A SidecarProfile in a namespace the webhook never sees selects its workloads, but
// nothing is injected at their creation: that is said too.
func (p *predictor) whyNot(pr profile, kind v1alpha1.WorkloadKind, obj client.Object) string {
	ns := obj.GetNamespace()
	nsLabels := p.ns.Labels(ns)
	reason := outsel.Explain(pr, pr.sel, kind, obj, nsLabels)
	switch reason {
	case outsel.Selected:
		if p.webhookSkips(ns) {
			later := fmt.Sprintf("the reconciler injects the %s there afterwards", kind)
			if k, _ := p.opts.kinds().ByName(kind); k.Immutable {
				later = fmt.Sprintf("a %s's pod template cannot change, so it never gets them", kind)
			}
			return fmt.Sprintf("the admission webhook never sees namespace %s, so nothing is injected at creation; %s", ns, later)
		}
		return ""
	case outsel.WorkloadOptedOut:
		return fmt.Sprintf("the workload opted out with the label %s=%s", v1alpha1.InjectLabel, v1alpha1.InjectDisabled)
	case outsel.ProfileDeleting:
		return "the profile is being deleted (metadata.deletionTimestamp is set): it selects nothing"
	case outsel.KindNotSelected:
		if len(pr.ProfileSpec().WorkloadKinds) == 0 {
			// Empty means the fixed default set, so that upgrading Outrigger never reaches new kinds by itself.
			return fmt.Sprintf("spec.workloadKinds is empty, which means [%s] (fixed, so that upgrading Outrigger "+
				"never reaches a new kind by itself): to reach a %s, list every kind wanted: workloadKinds: [%s]",
				flowList(v1alpha1.DefaultWorkloadKinds), kind, flowList(append(slices.Clone(v1alpha1.DefaultWorkloadKinds), kind)))
		}
		return fmt.Sprintf("spec.workloadKinds %v does not include %s", pr.ProfileSpec().WorkloadKinds, kind)
	case outsel.OtherNamespace:
		return fmt.Sprintf("wrong namespace: a SidecarProfile selects only workloads of its own namespace, %s; the workload is in %s",
			pr.GetNamespace(), ns)
	case outsel.ProtectedNamespace:
		return fmt.Sprintf("protected namespace: ClusterSidecarProfiles never select kube-system or Outrigger's namespace (%s)",
			p.opts.OutriggerNamespace)
	case outsel.NamespaceNotSelected:
		msg := "spec.namespaceSelector " + mismatch(pr.sel.Namespaces, nsLabels, "namespace "+ns)
		if !p.ns.told[ns] {
			msg += fmt.Sprintf(" (the CLI knows namespace %s only by its name: add its Namespace object to the inputs, "+
				"or pass --namespace-labels %s=KEY=VALUE)", ns, ns)
		}
		return msg
	case outsel.LabelsNotSelected:
		return "spec.selector " + mismatch(pr.sel.Workloads, obj.GetLabels(), "the workload")
	}
	return string(reason)
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

// flowList writes kinds as a YAML flow sequence's items: "Deployment, Job".
func flowList(kinds []v1alpha1.WorkloadKind) string {
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = string(k)
	}
	return strings.Join(out, ", ")
}
