// Package advisor gathers every piece of advice (internal/advice) about one workload after injection: the
// native-sidecar pitfalls (internal/pitfall), with what they need of the workload's namespace read from a reader:
// the manager's cache in the webhook and the profile reconciler, the manifests in the CLI. All three ask it, so
// an admission warning, a needsAttention entry and a line of `outrigger explain` say the same.
//
// The overrides a workload asks for that its profiles refuse are advice too, gathered here with the pitfalls.
package advisor

import (
	"context"
	"fmt"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/advice"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/pitfall"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// The pitfall checks read the quotas, limit ranges and autoscalers of a workload's namespace, from the cache.
// +kubebuilder:rbac:groups="",resources=resourcequotas;limitranges,verbs=get;list;watch
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch

// Advisor gathers the advice about workloads, reading their namespaces' objects from Reader.
type Advisor struct {
	client.Reader
}

// Workload is one workload as it is (or will be) stored, after injection.
type Workload struct {
	Kind   workload.Kind
	Object client.Object
	// Template is the workload's pod template with the sidecars injected (the engine's Result.Template, or the
	// stored template of a workload that carries them).
	Template *corev1.PodTemplateSpec
	// Record is the template's injection record when the caller has read it already (the profile reconciler, for
	// the thousands of workloads that carry its current revision); nil to have Advise read it.
	Record *inject.Record
	// Profiles are the profiles whose advice is wanted: the engine's input at admission, the one profile whose
	// status is computed. Advice about other profiles is left out.
	Profiles []inject.Profile
}

// Advise returns the advice about the workload's profiles, sorted (advice.Sort). It reads nothing when the
// template carries none of their sidecars. An error is a read that failed: the caller goes on without advice.
func (a Advisor) Advise(ctx context.Context, w Workload) ([]advice.Advice, error) {
	refs := make([]inject.ProfileRef, 0, len(w.Profiles))
	for _, p := range w.Profiles {
		refs = append(refs, p.Ref)
	}
	rec, ok := carriesAny(w.Template, w.Record, refs)
	if !ok {
		return nil, nil
	}
	ns, err := a.namespace(ctx, w.Object.GetNamespace())
	if err != nil {
		return nil, err
	}
	out := pitfall.Check(pitfall.Input{Object: w.Object, GVK: w.Kind.GVK, Template: w.Template, Record: &rec, Profiles: refs, Namespace: ns})
	out = append(out, refusedOverrides(w)...)
	advice.Sort(out)
	return out, nil
}

// carriesAny returns the template's injection record (read, unless given), and whether it names one of the
// profiles.
func carriesAny(tmpl *corev1.PodTemplateSpec, given *inject.Record, refs []inject.ProfileRef) (inject.Record, bool) {
	if tmpl == nil {
		return inject.Record{}, false
	}
	var rec inject.Record
	if given != nil {
		rec = *given
	} else {
		var err error
		if rec, err = inject.ReadRecord(tmpl); err != nil {
			return rec, false
		}
	}
	for _, ref := range refs {
		if _, ok := rec.Entry(ref); ok {
			return rec, true
		}
	}
	return rec, false
}

// namespace reads the objects of a namespace the checks judge pods with: the cache's own objects, not copies
// (the checks only read them), since the webhook asks for every workload it admits.
func (a Advisor) namespace(ctx context.Context, name string) (pitfall.Namespace, error) {
	var ns pitfall.Namespace
	opts := []client.ListOption{client.InNamespace(name), client.UnsafeDisableDeepCopy}
	var quotas corev1.ResourceQuotaList
	if err := a.List(ctx, &quotas, opts...); err != nil {
		return ns, fmt.Errorf("listing the ResourceQuotas of namespace %s: %w", name, err)
	}
	var ranges corev1.LimitRangeList
	if err := a.List(ctx, &ranges, opts...); err != nil {
		return ns, fmt.Errorf("listing the LimitRanges of namespace %s: %w", name, err)
	}
	var hpas autoscalingv2.HorizontalPodAutoscalerList
	if err := a.List(ctx, &hpas, opts...); err != nil {
		return ns, fmt.Errorf("listing the HorizontalPodAutoscalers of namespace %s: %w", name, err)
	}
	ns.Quotas, ns.LimitRanges, ns.Autoscalers = quotas.Items, ranges.Items, hpas.Items
	return ns, nil
}

// Watched are the kinds the checks read, for the profile reconciler to watch: a new quota changes the advice on
// the workloads of its namespace.
func Watched() []client.Object {
	return []client.Object{&corev1.ResourceQuota{}, &corev1.LimitRange{}, &autoscalingv2.HorizontalPodAutoscaler{}}
}

// CacheByObject is the cache configuration of the kinds the checks read, to merge into the manager's
// cache.Options.ByObject: each kept trimmed to what the checks read (a quota's status, which changes with every
// pod, an autoscaler's status and behavior are dropped), so their watches cost little memory and deliver few
// changes.
func CacheByObject() map[client.Object]cache.ByObject {
	return map[client.Object]cache.ByObject{
		&corev1.ResourceQuota{}:                  {Transform: Trim},
		&corev1.LimitRange{}:                     {Transform: Trim},
		&autoscalingv2.HorizontalPodAutoscaler{}: {Transform: Trim},
	}
}

// Trim keeps of a quota, a limit range or an autoscaler what the checks read; anything else passes unchanged.
func Trim(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.ResourceQuota:
		return &corev1.ResourceQuota{TypeMeta: o.TypeMeta, ObjectMeta: trimMeta(o.ObjectMeta), Spec: o.Spec}, nil
	case *corev1.LimitRange:
		return &corev1.LimitRange{TypeMeta: o.TypeMeta, ObjectMeta: trimMeta(o.ObjectMeta), Spec: o.Spec}, nil
	case *autoscalingv2.HorizontalPodAutoscaler:
		return &autoscalingv2.HorizontalPodAutoscaler{TypeMeta: o.TypeMeta, ObjectMeta: trimMeta(o.ObjectMeta),
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: o.Spec.ScaleTargetRef, Metrics: o.Spec.Metrics,
				MinReplicas: o.Spec.MinReplicas, MaxReplicas: o.Spec.MaxReplicas}}, nil
	}
	return obj, nil
}

func trimMeta(m metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
		DeletionTimestamp: m.DeletionTimestamp}
}

// Changed passes the events of the watched kinds that change what the checks read: creations, deletions, and
// updates of the trimmed object beyond its resourceVersion.
var Changed = predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
	a, errA := Trim(e.ObjectOld)
	b, errB := Trim(e.ObjectNew)
	if errA != nil || errB != nil {
		return true
	}
	x, y := a.(client.Object), b.(client.Object)
	x, y = x.DeepCopyObject().(client.Object), y.DeepCopyObject().(client.Object)
	x.SetResourceVersion("")
	y.SetResourceVersion("")
	return !equality.Semantic.DeepEqual(x, y)
}}

// refusedOverrides is the advice of the overrides the workload asks for that its profiles refuse: it keeps the
// profiles' values.
func refusedOverrides(w Workload) []advice.Advice {
	var out []advice.Advice
	for _, p := range w.Profiles {
		if p.Spec == nil {
			continue
		}
		for _, r := range inject.RefusedOverrides(p.Spec, w.Object.GetAnnotations()) {
			out = append(out, advice.Advice{Profile: p.Ref, Sidecar: r.Sidecar, Reason: v1alpha1.ReasonOverrideRefused, Message: r.Message()})
		}
	}
	return out
}
