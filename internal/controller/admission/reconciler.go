// Package admission keeps the admission policies that internal/admission/policy compiles current: the
// MutatingAdmissionPolicies and bindings of the profiles, for each served workload kind one per namespace with
// SidecarProfiles and one for the others, each with the ValidatingAdmissionPolicy that warns of the profiles it
// skipped; and the ValidatingAdmissionPolicies that check profiles (their workloadKinds, their selectors, their
// author's rights), which the apiserver runs whether the manager is up or not. They are written when a profile
// changes (its spec, or its rollout, which changes the revision new workloads get), put back when someone edits
// or deletes one, and pruned when no profile needs them. A policy that cannot be compiled within the apiserver's
// limits, or that the apiserver refuses, keeps what it had, and the profiles it should place say why: in their
// status (NotAdmitted, which the profile reconciler reads) and in an event.
package admission

import (
	"context"
	"errors"
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/admission/policy"
	"github.com/outrigger-dev/outrigger/internal/catalog"
	"github.com/outrigger-dev/outrigger/internal/selection"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingadmissionpolicies;mutatingadmissionpolicybindings,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingadmissionpolicies;validatingadmissionpolicybindings,verbs=get;list;watch;create;patch;delete

// FieldOwner is the field manager of Outrigger's writes to its policies.
const FieldOwner = "outrigger"

// Reconciler writes the policies of every served kind from every profile. It has one key: the profiles are
// compiled together, since a cluster-wide profile is in every policy of its kinds.
type Reconciler struct {
	client.Client
	// APIReader reads the owner (the profiles' ValidatingWebhookConfiguration), which the cache does not hold.
	APIReader client.Reader
	Catalog   catalog.Catalog
	Kinds     *workload.Set
	// Known are the kinds a profile may list (the built-in ones and the configured ones, served or not), which
	// the profile checks are compiled for; nil means the built-in ones.
	Known   workload.Kinds
	Options policy.Options
	// Owner names the cluster-scoped object that owns what the reconciler writes, so that uninstalling
	// Outrigger removes its policies with it: the ValidatingWebhookConfiguration for profiles, which every mode
	// installs. Empty, or not found, means no owner.
	Owner string
	owner *metav1.OwnerReference
	// NotAdmitted is where the reconciler says, per profile, why a policy that should place it does not (nil: it
	// says it only in its log); ProfilesChanged has the profiles' status computed again when that changed.
	NotAdmitted     *NotAdmitted
	ProfilesChanged func()
	// Events records on a profile why a policy that should place it does not, when that first shows or changes.
	Events events.EventRecorder

	kindsChanged chan event.GenericEvent
}

var key = ctrl.Request{NamespacedName: types.NamespacedName{Name: "admission-policies"}}

// Reconcile compiles the profiles and writes the policies that differ, then deletes Outrigger's policies and
// bindings that no kind needs any more.
func (r *Reconciler) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	byImmutability, objects, err := r.profiles(ctx)
	if err != nil {
		return ctrl.Result{}, err
	}
	r.findOwner(ctx)
	keep := map[string]bool{} // and the warnings' policy and the bindings, of the same names
	problems := map[profileKey][]string{}
	note := func(profiles []policy.Listed, why string) {
		for _, l := range profiles {
			problems[keyOfListed(l)] = append(problems[keyOfListed(l)], why)
		}
	}
	var errs []error
	for _, v := range policy.ProfileChecks(r.known()) {
		keep[v.Policy.Name] = true
		errs = append(errs, r.writeAll(ctx, v.Policy, v.Binding)...)
	}
	for _, kind := range r.Kinds.List() {
		compiled, err := policy.Compile(kind, byImmutability[kind.Immutable], r.Options)
		for _, failed := range policy.ShardErrors(err) {
			// The policy keeps what it has, which the apiserver goes on admitting by. Compiling again changes
			// nothing until the profiles change, which compiles again: no retry.
			keep[failed.Policy] = true
			log.FromContext(ctx).Error(failed, "an admission policy cannot be compiled", "policy", failed.Policy)
			note(failed.Profiles, failed.Error())
		}
		for _, c := range compiled {
			keep[c.Policy.Name] = true
			failed := r.writeAll(ctx, c.Policy, c.Binding, c.Warnings.Policy, c.Warnings.Binding)
			errs = append(errs, failed...)
			if why := refusal(c.Policy, failed); why != "" {
				note(placedBy(c.Policy), why)
			}
		}
	}
	if err := r.prune(ctx, func(name string) bool { return keep[name] }); err != nil {
		errs = append(errs, err)
	}
	r.report(problems, objects)
	return ctrl.Result{}, errors.Join(errs...)
}

// refusal says why a compiled policy is not in place when the apiserver refused one of its writes (the object
// itself, not a transient failure, which the retry overcomes): "" when none was refused.
func refusal(p *admissionregistrationv1.MutatingAdmissionPolicy, errs []error) string {
	for _, err := range errs {
		if apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) || apierrors.IsRequestEntityTooLargeError(err) ||
			apierrors.IsForbidden(err) || strings.Contains(err.Error(), "too large") { // etcd's "request is too large"
			return fmt.Sprintf("the apiserver refused the admission policy %s, which should place this profile and %d more: %v; "+
				"until it takes it, the workloads the policy is for get no sidecars at admission from the profiles it lacks: "+
				"use fewer or smaller profiles there, or admission by webhook (--admission=webhook, Helm value admission: webhook)",
				p.Name, len(placedBy(p))-1, err)
		}
	}
	return ""
}

// placedBy are the profiles a compiled policy places: its annotation, which the compiler wrote.
func placedBy(p *admissionregistrationv1.MutatingAdmissionPolicy) []policy.Listed {
	listed, _ := policy.Places(p)
	return listed
}

// report keeps, per profile, why the policies that should place it do not (problems), records an event on each
// profile whose reason showed or changed, and has the profiles' status computed again when any changed.
func (r *Reconciler) report(problems map[profileKey][]string, objects map[profileKey]selection.Profile) {
	if r.NotAdmitted == nil {
		return
	}
	changed := r.NotAdmitted.set(problems)
	for k, why := range changed {
		if p, ok := objects[k]; ok && why != "" && r.Events != nil {
			r.Events.Eventf(p, nil, corev1.EventTypeWarning, v1alpha1.EventAdmissionPolicyFailed, "Admit", "%s", why)
		}
	}
	if len(changed) > 0 && r.ProfilesChanged != nil {
		r.ProfilesChanged()
	}
}

func (r *Reconciler) known() workload.Kinds {
	if r.Known == nil {
		return workload.All
	}
	return r.Known
}

// writeAll writes each object, policies before their bindings, and returns what failed.
func (r *Reconciler) writeAll(ctx context.Context, objs ...client.Object) []error {
	var errs []error
	for _, obj := range objs {
		if err := r.write(ctx, obj); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// profiles are every profile not being deleted, at the revision new workloads get, for kinds with a mutable
// template (false) and an immutable one (true), and the objects, to record events on. A profile whose selectors
// do not parse is left out: its status says what to fix, and it selects nothing.
func (r *Reconciler) profiles(ctx context.Context) (map[bool][]policy.Profile, map[profileKey]selection.Profile, error) {
	all, err := r.Catalog.AllProfiles(ctx)
	if err != nil {
		return nil, nil, err
	}
	out, objects := map[bool][]policy.Profile{}, map[profileKey]selection.Profile{}
	for _, p := range all {
		if !p.GetDeletionTimestamp().IsZero() {
			continue
		}
		objects[keyOf(p)] = p
		compiled, err := policy.FromProfile(p, nil)
		if err != nil {
			log.FromContext(ctx).V(1).Info("not compiling a profile whose selectors do not parse", "profile", p.GetName(), "error", err.Error())
			continue
		}
		for _, frozen := range []bool{false, true} {
			compiled.Rendered = r.Catalog.AdmissionSpec(ctx, p, frozen)
			out[frozen] = append(out[frozen], compiled)
		}
	}
	return out, objects, nil
}

// findOwner looks the owner up once; until it exists, policies are written without one.
func (r *Reconciler) findOwner(ctx context.Context) {
	if r.owner != nil || r.Owner == "" {
		return
	}
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Name: r.Owner}, vwc); err != nil {
		log.FromContext(ctx).Info("the admission policies are written without an owner: uninstalling Outrigger leaves them",
			"validatingWebhookConfiguration", r.Owner, "error", err.Error())
		return
	}
	r.owner = &metav1.OwnerReference{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(),
		Kind: "ValidatingWebhookConfiguration", Name: vwc.Name, UID: vwc.UID}
}

// write applies obj (server-side, taking back any field someone else set), unless the live object already is
// it: a resync writes nothing.
func (r *Reconciler) write(ctx context.Context, obj client.Object) error {
	if r.owner != nil {
		obj.SetOwnerReferences([]metav1.OwnerReference{*r.owner})
	}
	live := obj.DeepCopyObject().(client.Object)
	err := r.Get(ctx, client.ObjectKeyFromObject(obj), live)
	if err == nil && same(live, obj) {
		return nil
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return err
	}
	if err := r.Apply(ctx, client.ApplyConfigurationFromUnstructured(&unstructured.Unstructured{Object: u}),
		client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("writing %s %s: %w", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), err)
	}
	log.FromContext(ctx).Info("wrote an admission policy", "kind", obj.GetObjectKind().GroupVersionKind().Kind, "name", obj.GetName())
	return nil
}

// same reports whether the live object has what Outrigger writes: its spec, labels, annotations and owner.
func same(live, want client.Object) bool {
	if !equality.Semantic.DeepEqual(live.GetOwnerReferences(), want.GetOwnerReferences()) {
		return false
	}
	for k, v := range want.GetLabels() {
		if live.GetLabels()[k] != v {
			return false
		}
	}
	for k, v := range want.GetAnnotations() {
		if live.GetAnnotations()[k] != v {
			return false
		}
	}
	switch w := want.(type) {
	case *admissionregistrationv1.MutatingAdmissionPolicy:
		return equality.Semantic.DeepEqual(live.(*admissionregistrationv1.MutatingAdmissionPolicy).Spec, w.Spec)
	case *admissionregistrationv1.MutatingAdmissionPolicyBinding:
		return equality.Semantic.DeepEqual(live.(*admissionregistrationv1.MutatingAdmissionPolicyBinding).Spec, w.Spec)
	case *admissionregistrationv1.ValidatingAdmissionPolicy:
		return equality.Semantic.DeepEqual(live.(*admissionregistrationv1.ValidatingAdmissionPolicy).Spec, w.Spec)
	case *admissionregistrationv1.ValidatingAdmissionPolicyBinding:
		return equality.Semantic.DeepEqual(live.(*admissionregistrationv1.ValidatingAdmissionPolicyBinding).Spec, w.Spec)
	}
	return false
}

// prune deletes Outrigger's policies and bindings that are not kept.
func (r *Reconciler) prune(ctx context.Context, keep func(string) bool) error {
	mine, err := Mine(ctx, r.Client)
	if err != nil {
		return err
	}
	for _, obj := range mine {
		if keep(obj.GetName()) {
			continue
		}
		if err := r.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
			return err
		}
		log.FromContext(ctx).Info("deleted an admission policy no profile needs", "kind", fmt.Sprintf("%T", obj), "name", obj.GetName())
	}
	return nil
}

// Mine lists Outrigger's admission policies and bindings, of every kind, bindings first (a binding without its
// policy does nothing; a policy without its binding, the same).
func Mine(ctx context.Context, c client.Reader) ([]client.Object, error) {
	lists := []client.ObjectList{
		&admissionregistrationv1.MutatingAdmissionPolicyBindingList{}, &admissionregistrationv1.ValidatingAdmissionPolicyBindingList{},
		&admissionregistrationv1.MutatingAdmissionPolicyList{}, &admissionregistrationv1.ValidatingAdmissionPolicyList{},
	}
	var out []client.Object
	for _, list := range lists {
		if err := c.List(ctx, list, client.MatchingLabels{policy.ManagedByLabel: policy.ManagedBy}); err != nil {
			return nil, err
		}
		if err := meta.EachListItem(list, func(o runtime.Object) error {
			out = append(out, o.(client.Object))
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Placed reports whether one of Outrigger's policies still places the profile (its ProfilesAnnotation lists
// it), from the cache.
func Placed(c client.Reader) func(context.Context, selection.Profile) (bool, error) {
	return func(ctx context.Context, p selection.Profile) (bool, error) {
		var policies admissionregistrationv1.MutatingAdmissionPolicyList
		if err := c.List(ctx, &policies, client.MatchingLabels{policy.ManagedByLabel: policy.ManagedBy}); err != nil {
			return false, err
		}
		ref := selection.Ref(p)
		for i := range policies.Items {
			listed, err := policy.Places(&policies.Items[i])
			if err != nil {
				return false, err
			}
			for _, l := range listed {
				if l.ProfileRef == ref && l.Namespace == p.GetNamespace() {
					return true, nil
				}
			}
		}
		return false, nil
	}
}

// KindsChanged compiles again: a kind is served now that was not (or the manager starts).
func (r *Reconciler) KindsChanged() {
	select {
	case r.kindsChanged <- event.GenericEvent{Object: &admissionregistrationv1.MutatingAdmissionPolicy{}}:
	default:
	}
}

// SetupWithManager watches both profile kinds (spec and status: a rollout moves the revision new workloads get)
// and Outrigger's own policies and bindings (an edit or a deletion by hand is put back).
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.kindsChanged = make(chan event.GenericEvent, 1)
	// Once at start, profiles or not: the profile checks must be in place before the first profile is written.
	r.KindsChanged()
	all := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []ctrl.Request { return []ctrl.Request{key} })
	mine := builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetLabels()[policy.ManagedByLabel] == policy.ManagedBy
	}))
	return ctrl.NewControllerManagedBy(mgr).Named("admissionpolicies").
		Watches(&v1alpha1.SidecarProfile{}, all).
		Watches(&v1alpha1.ClusterSidecarProfile{}, all).
		Watches(&admissionregistrationv1.MutatingAdmissionPolicy{}, all, mine).
		Watches(&admissionregistrationv1.MutatingAdmissionPolicyBinding{}, all, mine).
		Watches(&admissionregistrationv1.ValidatingAdmissionPolicy{}, all, mine).
		Watches(&admissionregistrationv1.ValidatingAdmissionPolicyBinding{}, all, mine).
		WatchesRawSource(source.Channel(r.kindsChanged, all)).
		Complete(r)
}

// CacheByObject has the manager's cache hold only Outrigger's own policies and bindings.
func CacheByObject() map[client.Object]cache.ByObject {
	mine := labels.SelectorFromSet(labels.Set{policy.ManagedByLabel: policy.ManagedBy})
	return map[client.Object]cache.ByObject{
		&admissionregistrationv1.MutatingAdmissionPolicy{}:          {Label: mine},
		&admissionregistrationv1.MutatingAdmissionPolicyBinding{}:   {Label: mine},
		&admissionregistrationv1.ValidatingAdmissionPolicy{}:        {Label: mine},
		&admissionregistrationv1.ValidatingAdmissionPolicyBinding{}: {Label: mine},
	}
}
