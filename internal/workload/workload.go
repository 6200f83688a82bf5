// Package workload describes the kinds of workload Outrigger injects into, so that reconcilers, indexes and
// patches are written once for all of them.
package workload

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// Kind is one kind of workload: how to make its objects and where its pod template is.
type Kind struct {
	// Name is the workload kind as profiles name it.
	Name v1alpha1.WorkloadKind
	// NewObject and NewList return empty objects of the kind, for the client and the cache.
	NewObject func() client.Object
	NewList   func() client.ObjectList
	// Items returns the objects of a list made by NewList.
	Items func(client.ObjectList) []client.Object
	// Template returns the pod template inside an object of the kind (not a copy: callers must not modify it).
	Template func(client.Object) *corev1.PodTemplateSpec
	// TemplatePath is the JSON pointer of the pod template in the object, for JSON patches.
	TemplatePath string
	// Immutable kinds (Job) cannot change their pod template after creation: they get sidecars at admission
	// only, and the reconcilers report them but never write them.
	Immutable bool
}

// Deployment is the apps/v1 Deployment kind.
var Deployment = Kind{
	Name:         v1alpha1.KindDeployment,
	NewObject:    func() client.Object { return &appsv1.Deployment{} },
	NewList:      func() client.ObjectList { return &appsv1.DeploymentList{} },
	Items:        func(l client.ObjectList) []client.Object { return objects(l.(*appsv1.DeploymentList).Items) },
	Template:     func(o client.Object) *corev1.PodTemplateSpec { return &o.(*appsv1.Deployment).Spec.Template },
	TemplatePath: "/spec/template",
}

// CronJob is the batch/v1 CronJob kind: its jobTemplate's pod template is injected, so the Jobs it makes next
// have the sidecars.
var CronJob = Kind{
	Name:      v1alpha1.KindCronJob,
	NewObject: func() client.Object { return &batchv1.CronJob{} },
	NewList:   func() client.ObjectList { return &batchv1.CronJobList{} },
	Items:     func(l client.ObjectList) []client.Object { return objects(l.(*batchv1.CronJobList).Items) },
	Template: func(o client.Object) *corev1.PodTemplateSpec {
		return &o.(*batchv1.CronJob).Spec.JobTemplate.Spec.Template
	},
	TemplatePath: "/spec/jobTemplate/spec/template",
}

// Job is the batch/v1 Job kind. Its pod template is immutable once created.
var Job = Kind{
	Name:         v1alpha1.KindJob,
	NewObject:    func() client.Object { return &batchv1.Job{} },
	NewList:      func() client.ObjectList { return &batchv1.JobList{} },
	Items:        func(l client.ObjectList) []client.Object { return objects(l.(*batchv1.JobList).Items) },
	Template:     func(o client.Object) *corev1.PodTemplateSpec { return &o.(*batchv1.Job).Spec.Template },
	TemplatePath: "/spec/template",
	Immutable:    true,
}

// All are the kinds Outrigger injects into.
var All = []Kind{Deployment, CronJob, Job}

// ByName returns the kind of a name, if Outrigger knows it.
func ByName(name v1alpha1.WorkloadKind) (Kind, bool) {
	for _, k := range All {
		if k.Name == name {
			return k, true
		}
	}
	return Kind{}, false
}

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
