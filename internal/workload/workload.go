// Package workload is the one registry of the kinds of workload Outrigger injects into. Each entry knows its
// API group, version, kind and resource, where its pod template lives, how its pods are found and how its
// rollout is read; everything that lists kinds (reconcilers, indexes, the webhook's authorization check,
// selection, the CLI) derives the list from All. Adding a kind is one entry here and its rollout reading.
package workload

import (
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
)

// Kind is one kind of workload: how to make its objects, where its pod template is, how to find its pods and
// how to read its rollout.
type Kind struct {
	// Name is the workload kind as profiles name it (spec.workloadKinds).
	Name v1alpha1.WorkloadKind
	// GVK is the API group, version and kind Outrigger reads and writes the workload as.
	GVK schema.GroupVersionKind
	// Resource is the API resource of the kind (lower-case plural), as RBAC and the webhook rules name it.
	Resource string
	// NewObject and NewList return empty objects of the kind, for the client and the cache.
	NewObject func() client.Object
	NewList   func() client.ObjectList
	// Items returns the objects of a list made by NewList.
	Items func(client.ObjectList) []client.Object
	// Template returns the pod template inside an object of a kind with Go types (not a copy: callers must not
	// modify it); nil for kinds read as unstructured objects. Code that serves every kind calls PodTemplate.
	Template func(client.Object) *corev1.PodTemplateSpec
	// readTemplate reads the pod template of a kind read as unstructured objects (see PodTemplate).
	readTemplate func(client.Object) (*corev1.PodTemplateSpec, error)
	// TemplatePath is the JSON pointer of the pod template in the object, for JSON patches.
	TemplatePath string
	// Immutable kinds (Job) cannot change their pod template after creation: they get sidecars at admission
	// only, and the reconcilers report them but never write them.
	Immutable bool
	// PodSelector returns the selector of the workload's own pods; nil for kinds whose pods belong to the
	// objects they make (see PodsThrough).
	PodSelector func(client.Object) *metav1.LabelSelector
	// PodsThrough names the kind of the objects this kind makes and controls, whose pods are this workload's
	// (a CronJob's pods are those of its Jobs); "" when PodSelector finds them.
	PodsThrough v1alpha1.WorkloadKind
	// Rollout reads how far the workload's own controller got in running its current pod template.
	Rollout func(client.Object) Rollout
	// ClaimTemplates returns the names of the volumes the kind's controller adds to each pod besides the
	// template's (a StatefulSet's volumeClaimTemplates); nil for kinds without any.
	ClaimTemplates func(client.Object) []string
	// ClaimTemplatesPath is the JSON pointer of the list ClaimTemplates reads, each item named at metadata.name,
	// for the admission policies, which cannot call ClaimTemplates.
	ClaimTemplatesPath string
}

// PodTemplate returns the workload's pod template. For a kind with Go types it is the object's own (callers must
// not modify it; the reconciler writes it in place); for a kind read as unstructured objects it is a typed copy,
// in which fields our k8s.io/api does not know are missing, so writes to such kinds are JSON patches (see
// internal/mutation.TemplatePatch). A *NoTemplateError says the object has none where the kind keeps it.
func (k Kind) PodTemplate(obj client.Object) (*corev1.PodTemplateSpec, error) {
	if k.readTemplate != nil {
		return k.readTemplate(obj)
	}
	return k.Template(obj), nil
}

// InjectOptions tell the engine about the workload beyond its pod template: the overrides its annotations ask
// for, and what it adds to its pods outside the template, so that a profile's volume named like a claim
// template is a conflict rather than a pod the apiserver refuses.
func (k Kind) InjectOptions(obj client.Object) []inject.Option {
	opts := []inject.Option{inject.WorkloadAnnotations(obj.GetAnnotations())}
	if k.ClaimTemplates == nil {
		return opts
	}
	if names := k.ClaimTemplates(obj); len(names) > 0 {
		opts = append(opts, inject.WorkloadVolumes(fmt.Sprintf("the %s's volumeClaimTemplates", k.Name), names...))
	}
	return opts
}

// GroupResource is how RBAC and kubectl name the kind's resource: deployments.apps.
func (k Kind) GroupResource() schema.GroupResource {
	return schema.GroupResource{Group: k.GVK.Group, Resource: k.Resource}
}

// Deployment is the apps/v1 Deployment kind.
var Deployment = Kind{
	Name:         v1alpha1.KindDeployment,
	GVK:          appsv1.SchemeGroupVersion.WithKind("Deployment"),
	Resource:     "deployments",
	NewObject:    func() client.Object { return &appsv1.Deployment{} },
	NewList:      func() client.ObjectList { return &appsv1.DeploymentList{} },
	Items:        func(l client.ObjectList) []client.Object { return objects(l.(*appsv1.DeploymentList).Items) },
	Template:     func(o client.Object) *corev1.PodTemplateSpec { return &o.(*appsv1.Deployment).Spec.Template },
	TemplatePath: "/spec/template",
	PodSelector:  func(o client.Object) *metav1.LabelSelector { return o.(*appsv1.Deployment).Spec.Selector },
	Rollout:      func(o client.Object) Rollout { return deploymentRollout(o.(*appsv1.Deployment)) },
}

// Job is the batch/v1 Job kind. Its pod template is immutable once created.
var Job = Kind{
	Name:         v1alpha1.KindJob,
	GVK:          batchv1.SchemeGroupVersion.WithKind("Job"),
	Resource:     "jobs",
	NewObject:    func() client.Object { return &batchv1.Job{} },
	NewList:      func() client.ObjectList { return &batchv1.JobList{} },
	Items:        func(l client.ObjectList) []client.Object { return objects(l.(*batchv1.JobList).Items) },
	Template:     func(o client.Object) *corev1.PodTemplateSpec { return &o.(*batchv1.Job).Spec.Template },
	TemplatePath: "/spec/template",
	Immutable:    true,
	PodSelector:  func(o client.Object) *metav1.LabelSelector { return o.(*batchv1.Job).Spec.Selector },
	Rollout:      func(o client.Object) Rollout { return jobRollout(o.(*batchv1.Job)) },
}

// CronJob is the batch/v1 CronJob kind: its jobTemplate's pod template is injected, so the Jobs it makes next
// have the sidecars.
var CronJob = Kind{
	Name:      v1alpha1.KindCronJob,
	GVK:       batchv1.SchemeGroupVersion.WithKind("CronJob"),
	Resource:  "cronjobs",
	NewObject: func() client.Object { return &batchv1.CronJob{} },
	NewList:   func() client.ObjectList { return &batchv1.CronJobList{} },
	Items:     func(l client.ObjectList) []client.Object { return objects(l.(*batchv1.CronJobList).Items) },
	Template: func(o client.Object) *corev1.PodTemplateSpec {
		return &o.(*batchv1.CronJob).Spec.JobTemplate.Spec.Template
	},
	TemplatePath: "/spec/jobTemplate/spec/template",
	PodsThrough:  v1alpha1.KindJob,
	Rollout:      func(o client.Object) Rollout { return cronJobRollout(o.(*batchv1.CronJob)) },
}

// StatefulSet is the apps/v1 StatefulSet kind. Its volumeClaimTemplates are never touched; their names are
// taken, as the pods get volumes of those names.
var StatefulSet = Kind{
	Name:               v1alpha1.KindStatefulSet,
	GVK:                appsv1.SchemeGroupVersion.WithKind("StatefulSet"),
	Resource:           "statefulsets",
	NewObject:          func() client.Object { return &appsv1.StatefulSet{} },
	NewList:            func() client.ObjectList { return &appsv1.StatefulSetList{} },
	Items:              func(l client.ObjectList) []client.Object { return objects(l.(*appsv1.StatefulSetList).Items) },
	Template:           func(o client.Object) *corev1.PodTemplateSpec { return &o.(*appsv1.StatefulSet).Spec.Template },
	TemplatePath:       "/spec/template",
	PodSelector:        func(o client.Object) *metav1.LabelSelector { return o.(*appsv1.StatefulSet).Spec.Selector },
	Rollout:            func(o client.Object) Rollout { return statefulSetRollout(o.(*appsv1.StatefulSet)) },
	ClaimTemplatesPath: "/spec/volumeClaimTemplates",
	ClaimTemplates: func(o client.Object) []string {
		var names []string
		for _, c := range o.(*appsv1.StatefulSet).Spec.VolumeClaimTemplates {
			names = append(names, c.Name)
		}
		return names
	},
}

// DaemonSet is the apps/v1 DaemonSet kind.
var DaemonSet = Kind{
	Name:         v1alpha1.KindDaemonSet,
	GVK:          appsv1.SchemeGroupVersion.WithKind("DaemonSet"),
	Resource:     "daemonsets",
	NewObject:    func() client.Object { return &appsv1.DaemonSet{} },
	NewList:      func() client.ObjectList { return &appsv1.DaemonSetList{} },
	Items:        func(l client.ObjectList) []client.Object { return objects(l.(*appsv1.DaemonSetList).Items) },
	Template:     func(o client.Object) *corev1.PodTemplateSpec { return &o.(*appsv1.DaemonSet).Spec.Template },
	TemplatePath: "/spec/template",
	PodSelector:  func(o client.Object) *metav1.LabelSelector { return o.(*appsv1.DaemonSet).Spec.Selector },
	Rollout:      func(o client.Object) Rollout { return daemonSetRollout(o.(*appsv1.DaemonSet)) },
}

// All are the kinds Outrigger injects into, in the order spec.workloadKinds documents them. Those not built into
// Kubernetes (Rollout) are served only when their CRD is installed.
var All = Kinds{Deployment, Job, CronJob, StatefulSet, DaemonSet, ArgoRollout}

// Kinds is a list of kinds: All, or All with the kinds a manager's configuration adds (see Custom).
type Kinds []Kind

// With returns the kinds followed by more, in a new list.
func (ks Kinds) With(more ...Kind) Kinds { return append(slices.Clone(ks), more...) }

// Names returns the names of the kinds, in their order.
func (ks Kinds) Names() []v1alpha1.WorkloadKind {
	out := make([]v1alpha1.WorkloadKind, len(ks))
	for i, k := range ks {
		out[i] = k.Name
	}
	return out
}

// ByName returns the kind of a name, if the list has it.
func (ks Kinds) ByName(name v1alpha1.WorkloadKind) (Kind, bool) {
	i := slices.IndexFunc(ks, func(k Kind) bool { return k.Name == name })
	if i < 0 {
		return Kind{}, false
	}
	return ks[i], true
}

// ByGVK returns the kind Outrigger reads and writes as gvk, if the list has one. Another version of a known
// kind is not known: Outrigger would not read it the same way.
func (ks Kinds) ByGVK(gvk schema.GroupVersionKind) (Kind, bool) {
	i := slices.IndexFunc(ks, func(k Kind) bool { return k.GVK == gvk })
	if i < 0 {
		return Kind{}, false
	}
	return ks[i], true
}

// Names returns the names of the built-in kinds, in the order of All.
func Names() []v1alpha1.WorkloadKind { return All.Names() }

// ByName returns the built-in kind of a name, if there is one.
func ByName(name v1alpha1.WorkloadKind) (Kind, bool) { return All.ByName(name) }

// ByGVK returns the built-in kind of a group, version and kind, if there is one.
func ByGVK(gvk schema.GroupVersionKind) (Kind, bool) { return All.ByGVK(gvk) }

// objects returns pointers to the items of a typed list, as client.Objects.
func objects[T any, PT interface {
	*T
	client.Object
}](items []T) []client.Object {
	out := make([]client.Object, len(items))
	for i := range items {
		out[i] = PT(&items[i])
	}
	return out
}
