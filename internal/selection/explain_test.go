package selection_test

import (
	"testing"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/selection"
)

// Explain names the first of Selects' checks that fails, in Selects' order; Selects is Explain == Selected.
func TestExplain(t *testing.T) {
	optedOut := labelMap("app", "web", v1alpha1.InjectLabel, v1alpha1.InjectDisabled)
	for _, tc := range []struct {
		name     string
		profile  selection.Profile
		kind     v1alpha1.WorkloadKind
		ns       string
		labels   map[string]string
		nsLabels map[string]string
		want     selection.Reason
	}{
		{"selected", sp("a", "p", matchLabels("app", "web")), v1alpha1.KindDeployment, "a", labelMap("app", "web"), nil, selection.Selected},
		{"cluster profile selected", csp("p", everything, matchLabels("team", "a")), v1alpha1.KindJob, "a", nil, labelMap("team", "a"), selection.Selected},
		// The opt-out comes first, even before a profile of another kind or namespace.
		{"opted out", sp("other", "p", everything, kinds(v1alpha1.KindJob)), v1alpha1.KindDeployment, "a", optedOut, nil, selection.WorkloadOptedOut},
		{"deleting", deleting(sp("a", "p", everything)), v1alpha1.KindDeployment, "a", nil, nil, selection.ProfileDeleting},
		{"kind", sp("other", "p", everything, kinds(v1alpha1.KindJob)), v1alpha1.KindDeployment, "a", nil, nil, selection.KindNotSelected},
		{"other namespace", sp("other", "p", everything), v1alpha1.KindDeployment, "a", nil, nil, selection.OtherNamespace},
		// A SidecarProfile in kube-system still selects there: only cluster profiles are kept out.
		{"SidecarProfile in kube-system", sp("kube-system", "p", everything), v1alpha1.KindDeployment, "kube-system", nil, nil, selection.Selected},
		{"protected namespace", csp("p", everything, nil), v1alpha1.KindDeployment, "kube-system", nil, labelMap("kubernetes.io/metadata.name", "kube-system"), selection.ProtectedNamespace},
		{"namespace selector", csp("p", matchLabels("app", "nope"), matchLabels("team", "a")), v1alpha1.KindDeployment, "b", nil, labelMap("team", "b"), selection.NamespaceNotSelected},
		{"labels", csp("p", matchLabels("app", "web"), nil), v1alpha1.KindDeployment, "b", labelMap("app", "api"), nil, selection.LabelsNotSelected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := selection.Parse(tc.profile, selection.Protected{})
			if err != nil {
				t.Fatal(err)
			}
			w := deployment(tc.ns, "w", tc.labels)
			if got := selection.Explain(tc.profile, s, tc.kind, w, tc.nsLabels); got != tc.want {
				t.Errorf("Explain = %s, want %s", got, tc.want)
			}
			if got := selection.Selects(tc.profile, s, tc.kind, w, tc.nsLabels); got != (tc.want == selection.Selected) {
				t.Errorf("Selects = %v, but Explain = %s", got, tc.want)
			}
		})
	}
}
