package offline

import (
	"context"
	"fmt"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// memReader is the cache the webhook reads, made of the CLI's inputs: so that catalog.Catalog, the code that
// builds the webhook's engine input, builds the CLI's too, and the two cannot disagree.
type memReader struct {
	profiles   []profile
	namespaces *namespaces
	judges     *judges
}

var _ client.Reader = memReader{}

// inNamespace returns the items of a namespace (all for ""), copied, as a cache's list would.
func inNamespace[T any](items []T, ns string, of func(T) string) []T {
	var out []T
	for _, it := range items {
		if ns == "" || of(it) == ns {
			out = append(out, it)
		}
	}
	return out
}

// Get reads a Namespace. Every namespace exists: a workload can only be created in one that does.
func (r memReader) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return fmt.Errorf("offline: cannot read a %T", obj)
	}
	ns.Name, ns.Labels = key.Name, r.namespaces.Labels(key.Name)
	return nil
}

// List lists SidecarProfiles (of one namespace, or all) and ClusterSidecarProfiles.
func (r memReader) List(_ context.Context, list client.ObjectList, opts ...client.ListOption) error {
	o := (&client.ListOptions{}).ApplyOptions(opts)
	switch l := list.(type) {
	case *v1alpha1.SidecarProfileList:
		for _, p := range r.profiles {
			if sp, ok := p.Profile.(*v1alpha1.SidecarProfile); ok && (o.Namespace == "" || sp.Namespace == o.Namespace) {
				l.Items = append(l.Items, *sp.DeepCopy())
			}
		}
	case *v1alpha1.ClusterSidecarProfileList:
		for _, p := range r.profiles {
			if cp, ok := p.Profile.(*v1alpha1.ClusterSidecarProfile); ok {
				l.Items = append(l.Items, *cp.DeepCopy())
			}
		}
	case *corev1.ResourceQuotaList:
		l.Items = inNamespace(r.judges.quotas, o.Namespace, func(q corev1.ResourceQuota) string { return q.Namespace })
	case *corev1.LimitRangeList:
		l.Items = inNamespace(r.judges.limitRanges, o.Namespace, func(q corev1.LimitRange) string { return q.Namespace })
	case *autoscalingv2.HorizontalPodAutoscalerList:
		l.Items = inNamespace(r.judges.autoscalers, o.Namespace, func(h autoscalingv2.HorizontalPodAutoscaler) string { return h.Namespace })
	default:
		return fmt.Errorf("offline: cannot list %T", list)
	}
	return nil
}
