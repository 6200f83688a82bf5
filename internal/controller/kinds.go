package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/outrigger-dev/outrigger/internal/workload"
)

// The kind watcher reads CRDs' metadata only: their names say which kind arrived, and the apiserver's discovery
// says whether it is served.
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=get;list;watch
// +kubebuilder:rbac:groups=argoproj.io,resources=rollouts,verbs=get;list;watch;patch

// kindRecheck is how soon a CRD that exists but is not served yet (not established) is looked at again.
const kindRecheck = 5 * time.Second

// splitServed sorts kinds into those the apiserver serves now and those it does not (a CRD not installed).
func splitServed(mapper meta.RESTMapper, kinds []workload.Kind) (served, pending []workload.Kind, err error) {
	for _, k := range kinds {
		ok, err := isServed(mapper, k)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			served = append(served, k)
		} else {
			pending = append(pending, k)
		}
	}
	return served, pending, nil
}

// isServed asks discovery (through the manager's REST mapper, which looks again for a group it did not know)
// whether the apiserver serves the kind at its version.
func isServed(mapper meta.RESTMapper, k workload.Kind) (bool, error) {
	_, err := mapper.RESTMapping(k.GVK.GroupKind(), k.GVK.Version)
	switch {
	case err == nil:
		return true, nil
	case meta.IsNoMatchError(err):
		return false, nil
	default:
		return false, fmt.Errorf("asking the apiserver whether it serves %s: %w", k.GVK, err)
	}
}

// kindWatcher serves a pending kind once its CRD is installed and established, without a restart: cert-manager
// and Flux need a restart for a CRD installed after them; a platform team installing Argo Rollouts after
// Outrigger should not.
type kindWatcher struct {
	mapper meta.RESTMapper
	serve  func(context.Context, workload.Kind) error

	mu      sync.Mutex
	pending []workload.Kind
}

func (w *kindWatcher) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).Named("workloadkinds").
		For(&apiextensionsv1.CustomResourceDefinition{}, builder.OnlyMetadata, builder.WithPredicates(predicate.NewPredicateFuncs(w.isPending))).
		Complete(w)
}

// crdName is the name a kind's CRD must have: its resource and group.
func crdName(k workload.Kind) string { return k.Resource + "." + k.GVK.Group }

func (w *kindWatcher) isPending(obj client.Object) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.ContainsFunc(w.pending, func(k workload.Kind) bool { return crdName(k) == obj.GetName() })
}

// Reconcile serves the pending kind of a CRD once discovery serves it; until then (the CRD is not established
// yet) a later event, or the requeue, looks again.
func (w *kindWatcher) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	i := slices.IndexFunc(w.pending, func(k workload.Kind) bool { return crdName(k) == req.Name })
	if i < 0 {
		return ctrl.Result{}, nil
	}
	kind := w.pending[i]
	served, err := isServed(w.mapper, kind)
	if err != nil || !served {
		return ctrl.Result{RequeueAfter: kindRecheck}, err
	}
	if err := w.serve(ctx, kind); errors.Is(err, errRefused) {
		return ctrl.Result{}, nil // logged and reported; the next change of the CRD looks again
	} else if err != nil {
		return ctrl.Result{}, fmt.Errorf("serving %s: %w", kind.GVK, err)
	}
	w.pending = slices.Delete(w.pending, i, i+1)
	log.FromContext(ctx).Info("serving a workload kind whose CRD arrived", "kind", kind.GVK.String())
	return ctrl.Result{}, nil
}
