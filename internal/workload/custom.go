package workload

import (
	"fmt"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// Custom is a kind that a manager's configuration adds (an OpenKruise CloneSet, a company's own CRD): read as
// unstructured objects, with its pod template and pod selector at JSON pointers, and its rollout read as kstatus
// reads any object (its Ready and Reconciling/Stalled conditions, its observedGeneration), as Flux's health
// checks do.
func Custom(gvk schema.GroupVersionKind, resource, templatePath, selectorPath string) Kind {
	k := unstructuredKind(v1alpha1.WorkloadKind(gvk.Kind), gvk, resource, templatePath, selectorPath, nil)
	k.Rollout = func(o client.Object) Rollout { return kstatusRollout(o.(*unstructured.Unstructured)) }
	return k
}

// kstatusRollout: done when kstatus says Current, stuck when it says Failed.
func kstatusRollout(u *unstructured.Unstructured) Rollout {
	res, err := status.Compute(u)
	if err != nil {
		return Rollout{Message: fmt.Sprintf("its status cannot be read: %v", err)}
	}
	o := Rollout{Message: fmt.Sprintf("kstatus %s", res.Status)}
	if res.Message != "" {
		o.Message += ": " + res.Message
	}
	switch res.Status {
	case status.CurrentStatus:
		o.Done = true
	case status.FailedStatus:
		o.Stuck = true
	}
	return o
}
