package profile

import (
	"errors"
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
)

// A finalizer patch that met a newer object is tried again soon; one on a profile already gone is done; any
// other error goes back to the queue with backoff.
func TestRetryIfStale_RequeuesAConflictedFinalizerPatch(t *testing.T) {
	gr := schema.GroupResource{Group: "sidecars.outrigger.dev", Resource: "sidecarprofiles"}
	boom := errors.New("connection refused")
	for _, tc := range []struct {
		name    string
		err     error
		want    ctrl.Result
		wantErr error
	}{
		{"written", nil, ctrl.Result{}, nil},
		{"a conflict", apierrors.NewConflict(gr, "logs", errors.New("the object has been modified")), ctrl.Result{RequeueAfter: staleRetry}, nil},
		{"gone meanwhile", apierrors.NewNotFound(gr, "logs"), ctrl.Result{}, nil},
		{"anything else", boom, ctrl.Result{}, boom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			got, err := retryIfStale(t.Context(), tc.err)
			g.Expect(got).To(Equal(tc.want))
			if tc.wantErr == nil {
				g.Expect(err).NotTo(HaveOccurred())
			} else {
				g.Expect(err).To(MatchError(tc.wantErr))
			}
		})
	}
}
