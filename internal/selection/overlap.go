package selection

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// MayOverlap reports whether two profiles can select a common workload. It answers false only when that is
// provably impossible (disjoint kinds, namespaces or label requirements), so a collision check built on it errs
// on the side of refusing. namespaceLabels returns the labels of an existing namespace (nil when unknown).
func MayOverlap(a, b Profile, namespaceLabels func(string) map[string]string, protected Protected) bool {
	if !kindsOverlap(a.ProfileSpec(), b.ProfileSpec()) || !scopesOverlap(a, b, namespaceLabels, protected) {
		return false
	}
	return !Disjoint(a.ProfileSpec().Selector, b.ProfileSpec().Selector)
}

func kindsOverlap(a, b *v1alpha1.SidecarProfileSpec) bool {
	kinds := a.WorkloadKinds
	if len(kinds) == 0 {
		kinds = v1alpha1.DefaultWorkloadKinds
	}
	return slices.ContainsFunc(kinds, b.SelectsKind)
}

// scopesOverlap: two SidecarProfiles share only their own namespace; a SidecarProfile and a
// ClusterSidecarProfile share the former's namespace if the latter selects it; two ClusterSidecarProfiles share
// some namespace unless their namespace selectors are disjoint.
func scopesOverlap(a, b Profile, namespaceLabels func(string) map[string]string, protected Protected) bool {
	aNS, bNS := a.GetNamespace(), b.GetNamespace()
	switch {
	case aNS != "" && bNS != "":
		return aNS == bNS
	case aNS != "":
		return clusterReaches(b, aNS, namespaceLabels(aNS), protected)
	case bNS != "":
		return clusterReaches(a, bNS, namespaceLabels(bNS), protected)
	default:
		return !Disjoint(allIfNil(a.NamespaceSelector()), allIfNil(b.NamespaceSelector()))
	}
}

// allIfNil reads a left-out namespaceSelector as what it means: every namespace.
func allIfNil(s *metav1.LabelSelector) *metav1.LabelSelector {
	if s == nil {
		return &metav1.LabelSelector{}
	}
	return s
}

// clusterReaches reports whether a ClusterSidecarProfile can select workloads in a namespace.
func clusterReaches(p Profile, namespace string, nsLabels map[string]string, protected Protected) bool {
	if protected.Has(namespace) {
		return false
	}
	if p.NamespaceSelector() == nil {
		return true
	}
	sel, err := metav1.LabelSelectorAsSelector(p.NamespaceSelector())
	if err != nil {
		return true
	}
	if nsLabels == nil {
		nsLabels = map[string]string{"kubernetes.io/metadata.name": namespace}
	}
	return sel.Matches(labels.Set(nsLabels))
}

// Disjoint reports whether no label set can match both selectors, judged key by key. A nil selector selects
// nothing, so it is disjoint from everything; an unparsable one is taken to overlap.
func Disjoint(a, b *metav1.LabelSelector) bool {
	if a == nil || b == nil {
		return true
	}
	sa, errA := metav1.LabelSelectorAsSelector(a)
	sb, errB := metav1.LabelSelectorAsSelector(b)
	if errA != nil || errB != nil {
		return false
	}
	ra, _ := sa.Requirements()
	rb, _ := sb.Requirements()
	for _, x := range ra {
		for _, y := range rb {
			if x.Key() == y.Key() && (contradicts(x, y) || contradicts(y, x)) {
				return true
			}
		}
	}
	return false
}

// contradicts reports whether no value of one label key can satisfy both requirements.
func contradicts(x, y labels.Requirement) bool {
	xs, ys := sets.New(x.ValuesUnsorted()...), sets.New(y.ValuesUnsorted()...)
	switch x.Operator() {
	case selection.In, selection.Equals, selection.DoubleEquals:
		switch y.Operator() {
		case selection.In, selection.Equals, selection.DoubleEquals:
			return xs.Intersection(ys).Len() == 0
		case selection.NotIn, selection.NotEquals:
			return ys.IsSuperset(xs)
		case selection.DoesNotExist:
			return true
		}
	case selection.Exists:
		return y.Operator() == selection.DoesNotExist
	}
	return false
}

// SharedNames lists the sidecar and volume names p declares that q declares too, each with its field in p's
// spec: on a workload both select, one of the two would be left out as a conflict.
func SharedNames(p, q Profile) []string {
	theirs := map[string]bool{}
	for _, s := range q.ProfileSpec().Sidecars {
		theirs["container/"+s.Name] = true
	}
	for _, v := range q.ProfileSpec().Volumes {
		theirs["volume/"+v.Name] = true
	}
	var shared []string
	for i, s := range p.ProfileSpec().Sidecars {
		if theirs["container/"+s.Name] {
			shared = append(shared, fmt.Sprintf("sidecar %q (spec.sidecars[%d].name)", s.Name, i))
		}
	}
	for i, v := range p.ProfileSpec().Volumes {
		if theirs["volume/"+v.Name] {
			shared = append(shared, fmt.Sprintf("volume %q (spec.volumes[%d].name)", v.Name, i))
		}
	}
	return shared
}

// Collision is why Outrigger's validating webhook refuses p while q, another profile, exists: the sidecar and
// volume names they share (SharedNames), and what to do; "" when they share none. Call it only for profiles that
// MayOverlap.
func Collision(p, q Profile) string {
	shared := SharedNames(p, q)
	if len(shared) == 0 {
		return ""
	}
	return fmt.Sprintf("%s collides with %s, which can select the same workloads: rename it, or make the two profiles' "+
		"selectors (or workloadKinds) disjoint", strings.Join(shared, " and "), Name(q))
}
