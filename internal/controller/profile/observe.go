package profile

import (
	"context"
	"errors"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/advice"
	"github.com/outrigger-dev/outrigger/internal/advisor"
	"github.com/outrigger-dev/outrigger/internal/catalog"
	"github.com/outrigger-dev/outrigger/internal/controller/failure"
	"github.com/outrigger-dev/outrigger/internal/controller/index"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/revision"
	"github.com/outrigger-dev/outrigger/internal/selection"
	"github.com/outrigger-dev/outrigger/internal/status"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch

// observe gathers, for every workload the profile selects or is recorded on, what it carries and what the engine
// would do with it.
func (r *Reconciler) observe(ctx context.Context, p selection.Profile) (status.Input, error) {
	in := status.Input{
		Generation: p.GetGeneration(),
		Revision:   inject.Revision(p.ProfileSpec()),
		Deleting:   !p.GetDeletionTimestamp().IsZero(),
		Now:        r.Now(),

		NativeSidecarsUnsupported: r.NativeSidecarsUnsupported,

		Strategy:  p.ProfileSpec().Rollout,
		OnCreate:  p.ProfileSpec().UpdatePolicy == v1alpha1.UpdatePolicyOnCreate,
		Revisions: status.RevisionStore{Namespace: revision.Namespace(p.GetNamespace(), r.Catalog.RevisionNamespace), Profile: p.GetName()},
	}
	for _, k := range p.ProfileSpec().WorkloadKinds {
		if why, refused := r.Kinds.Refusal(k); refused {
			in.KindsNotServed = append(in.KindsNotServed, fmt.Sprintf("%s: %s", k, why))
		}
	}
	if r.NotAdmitted != nil {
		in.NotAdmitted = r.NotAdmitted(p)
	}
	sel, specErr := selection.Parse(p, r.Catalog.Protected)
	in.SpecError = specErr
	ref := selection.Ref(p)
	for _, kind := range r.Kinds.List() {
		objs, err := index.WorkloadsOf(ctx, r.Client, kind, p, r.Catalog.Protected)
		if err != nil {
			return in, fmt.Errorf("listing %ss: %w", kind.Name, err)
		}
		for _, obj := range objs {
			w, err := r.observeWorkload(ctx, kind, obj, observed{p, sel, specErr, ref, in.Revision})
			if err != nil {
				return in, err
			}
			in.Workloads = append(in.Workloads, w)
		}
	}
	return in, nil
}

// observed is the profile whose status is being computed, with what is derived from it once for all workloads.
type observed struct {
	p        selection.Profile
	sel      selection.Selectors
	specErr  error
	ref      inject.ProfileRef
	revision string
}

func (r *Reconciler) observeWorkload(ctx context.Context, kind workload.Kind, obj client.Object, o observed) (status.WorkloadObservation, error) {
	p, sel, specErr, ref := o.p, o.sel, o.specErr, o.ref
	w := status.WorkloadObservation{Kind: kind.Name, Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: obj.GetUID(), Immutable: kind.Immutable}
	w.Failure = r.Failures.Get(failure.ID{Kind: kind.Name, NamespacedName: client.ObjectKeyFromObject(obj)})
	tmpl, err := kind.PodTemplate(obj)
	if err != nil {
		return r.observeWithoutTemplate(ctx, kind, obj, o, w, err)
	}
	rec, err := inject.ReadRecord(tmpl)
	if err != nil {
		w.Selected, w.Failure = true, status.Failure{Reason: v1alpha1.ReasonInvalidRecord, Message: err.Error()}
		return w, nil
	}
	if e, ok := rec.Entry(ref); ok {
		w.LiveRevision = e.Hash
	}
	if specErr == nil {
		var nsLabels map[string]string
		if nsLabels, err = r.Catalog.NamespaceLabels(ctx, obj.GetNamespace()); err != nil {
			return w, err
		}
		w.Selected = selection.Selects(p, sel, kind.Name, obj, nsLabels)
		if w.Selected {
			w.Rank = catalog.RankOf(sel, kind, obj, nsLabels)
			w.Canary = sel.InCanary(obj.GetLabels(), nsLabels)
		}
	}
	if !w.Selected {
		return w, nil
	}
	if w.LiveRevision != "" {
		w.Rollout = kind.Rollout(obj)
		if w.Sidecars, err = sidecarsOf(ctx, r.Client, kind, obj, ref); err != nil {
			return w, err
		}
	}
	if w.LiveRevision == o.revision {
		// The workload carries the current revision, so its sidecars claimed their names before anyone else's:
		// the engine can only answer Injected. Skipping it keeps a status computation over thousands of converged
		// workloads cheap.
		w.Outcome = inject.Injected
		w.Advice = r.advise(ctx, kind, obj, tmpl, &rec, o)
		return w, nil
	}
	// What the current revision would do: the waves decide when the workload gets it (status.countInjection),
	// not whether it conflicts.
	mode := catalog.Current
	if kind.Immutable {
		mode = catalog.Frozen
	}
	input, err := r.Catalog.EngineInput(ctx, kind, obj, mode)
	if err != nil {
		return w, err
	}
	res, err := inject.Inject(tmpl, input, kind.InjectOptions(obj)...)
	if err != nil {
		w.Failure = status.Failure{Reason: v1alpha1.ReasonInvalidRecord, Message: err.Error()}
		return w, nil
	}
	if pr, ok := res.Profile(ref); ok {
		w.Outcome, w.Conflicts = pr.Outcome, pr.Conflicts
	}
	carried := &rec
	if w.Outcome == inject.Injected {
		// What the current revision will make of it, with a record of its own: say so before it rolls out.
		tmpl, carried = res.Template, nil
	}
	w.Advice = r.advise(ctx, kind, obj, tmpl, carried, o)
	return w, nil
}

// advise returns the advice about the profile on a workload whose pod template (with the sidecars) is tmpl, with
// its injection record rec (nil: not read yet). A Job a CronJob made gets none: the CronJob has the same, and one
// entry is what a person acts on. A read that failed is logged: advice never holds the status back.
func (r *Reconciler) advise(ctx context.Context, kind workload.Kind, obj client.Object, tmpl *corev1.PodTemplateSpec, rec *inject.Record, o observed) []advice.Advice {
	if owner := metav1.GetControllerOf(obj); owner != nil && kind.Name == v1alpha1.KindJob && owner.Kind == string(v1alpha1.KindCronJob) {
		return nil
	}
	all, err := advisor.Advisor{Reader: r.Client}.Advise(ctx, advisor.Workload{Kind: kind, Object: obj, Template: tmpl, Record: rec,
		Profiles: []inject.Profile{{Ref: o.ref, Spec: o.p.ProfileSpec()}}})
	if err != nil {
		log.FromContext(ctx).Error(err, "no advice on a workload", "kind", kind.Name, "namespace", obj.GetNamespace(), "name", obj.GetName())
	}
	return all
}

// observeWithoutTemplate observes a workload whose pod template cannot be read: one that has none of its own is
// reported with where its template is, if the profile selects it; an unreadable one is a read failure.
func (r *Reconciler) observeWithoutTemplate(ctx context.Context, kind workload.Kind, obj client.Object, o observed,
	w status.WorkloadObservation, err error) (status.WorkloadObservation, error) {
	var none *workload.NoTemplateError
	if !errors.As(err, &none) {
		w.Selected, w.Failure = true, status.Failure{Reason: v1alpha1.ReasonReadFailed, Message: err.Error()}
		return w, nil
	}
	if o.specErr != nil {
		return w, nil
	}
	nsLabels, err := r.Catalog.NamespaceLabels(ctx, obj.GetNamespace())
	if err != nil {
		return w, err
	}
	if w.Selected = selection.Selects(o.p, o.sel, kind.Name, obj, nsLabels); w.Selected {
		w.NoTemplate = none.Message
	}
	return w, nil
}

// sidecarsOf observes the profile's sidecars in a workload's running pods, from the pod cache (only pods that
// carry Outrigger's label, trimmed). Pods are found as the workload's controller finds them (index.PodsOf).
func sidecarsOf(ctx context.Context, c client.Reader, kind workload.Kind, obj client.Object, ref inject.ProfileRef) ([]status.SidecarObservation, error) {
	pods, err := index.PodsOf(ctx, c, kind, obj)
	if err != nil {
		return nil, err
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	var out []status.SidecarObservation
	for i := range pods {
		out = append(out, status.SidecarsIn(&pods[i], ref)...)
	}
	return out, nil
}
