package bench

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// The bare client writes Outrigger's very patches, but keeps its record under keys of its own: the manager, when
// it runs again, must see the bare set as workloads someone else gave containers to, and leave them alone.
const (
	bareRecordAnnotation = "bench.outrigger.dev/injection"
	bareInjectedLabel    = "bench.outrigger.dev/injected"
)

// bareClient makes, with a plain client and no cache, the patches Outrigger's reconciler makes to the workloads
// of one kind: the engine's template as a strategic merge patch with a resourceVersion precondition.
type bareClient struct {
	c       client.Client
	kind    workload.Kind
	profile inject.Profile
}

func newBareClient(c client.Client, kind workload.Kind) bareClient {
	spec := profileSpec(kind, setBare)
	return bareClient{c: c, kind: kind, profile: inject.Profile{
		Ref: inject.ProfileRef{Kind: inject.KindClusterSidecarProfile, Name: "bench-bare"}, Spec: &spec.SidecarProfileSpec,
	}}
}

// list reads the bare set, as the reconciler has it in its cache before it starts.
func (b bareClient) list(ctx context.Context) ([]client.Object, error) {
	l := b.kind.NewList()
	if err := b.c.List(ctx, l, client.MatchingLabels{setLabel: setBare}); err != nil {
		return nil, err
	}
	return b.kind.Items(l), nil
}

// run patches every workload with workers goroutines: injects the profile (add) or removes it.
func (b bareClient) run(ctx context.Context, objs []client.Object, workers int, add bool) error {
	return parallel(ctx, len(objs), workers, func(ctx context.Context, i int) error {
		obj := objs[i]
		after := obj.DeepCopyObject().(client.Object)
		tmpl := b.kind.Template(after)
		var profiles []inject.Profile
		if add {
			profiles = []inject.Profile{b.profile}
		}
		res, err := inject.Inject(asOutriggers(tmpl), profiles, b.kind.InjectOptions(obj)...)
		if err != nil {
			return err
		}
		if !res.Changed {
			return fmt.Errorf("%s/%s: the engine changes nothing", obj.GetNamespace(), obj.GetName())
		}
		*tmpl = *asBares(res.Template)
		return b.c.Patch(ctx, after, client.StrategicMergeFrom(obj, client.MergeFromWithOptimisticLock{}), client.FieldOwner("bench-bare"))
	})
}

// asOutriggers and asBares move the record between the bare client's keys and Outrigger's.
func asOutriggers(t *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
	return renameKeys(t, bareRecordAnnotation, v1alpha1.InjectionAnnotation, bareInjectedLabel, v1alpha1.InjectedLabel)
}

func asBares(t *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
	return renameKeys(t, v1alpha1.InjectionAnnotation, bareRecordAnnotation, v1alpha1.InjectedLabel, bareInjectedLabel)
}

func renameKeys(t *corev1.PodTemplateSpec, fromAnnotation, toAnnotation, fromLabel, toLabel string) *corev1.PodTemplateSpec {
	out := t.DeepCopy()
	if v, ok := out.Annotations[fromAnnotation]; ok {
		delete(out.Annotations, fromAnnotation)
		out.Annotations[toAnnotation] = v
	}
	if v, ok := out.Labels[fromLabel]; ok {
		delete(out.Labels, fromLabel)
		out.Labels[toLabel] = v
	}
	return out
}
