// Package workload describes the kinds of workload Outrigger injects into, so that reconcilers, indexes and
// patches are written once for all of them.
package workload

import (
	appsv1 "k8s.io/api/apps/v1"
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
}

// Deployment is the apps/v1 Deployment kind.
var Deployment = Kind{
	Name:      v1alpha1.KindDeployment,
	NewObject: func() client.Object { return &appsv1.Deployment{} },
	NewList:   func() client.ObjectList { return &appsv1.DeploymentList{} },
	Items: func(l client.ObjectList) []client.Object {
		items := l.(*appsv1.DeploymentList).Items
		out := make([]client.Object, len(items))
		for i := range items {
			out[i] = &items[i]
		}
		return out
	},
	Template:     func(o client.Object) *corev1.PodTemplateSpec { return &o.(*appsv1.Deployment).Spec.Template },
	TemplatePath: "/spec/template",
}
