package integration

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// foreignFinalizer is another controller's finalizer on a profile (a backup tool, a policy engine).
const foreignFinalizer = "test.outrigger.dev/hold"

// Deleted profiles carrying another controller's finalizer, which goes while Outrigger removes its own: every
// write of the other controller can turn Outrigger's finalizer patch into a conflict, and each profile must
// still be gone, without waiting for a resync.
func TestProfileDeletion_ForeignFinalizerRemovedConcurrentlyLetsTheProfileGo(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, nil)
	const n = 8
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("p%d", i)
		app := "app-" + names[i]
		if i%2 == 0 { // half of them have sidecars to remove first
			create(t, newDeployment(ns, app))
		}
		p := newProfile(ns, names[i], sidecarSpec(app, "sidecar-"+names[i]))
		p.Finalizers = []string{foreignFinalizer}
		create(t, p)
	}
	g.Eventually(func(g Gomega) {
		for _, name := range names {
			g.Expect(getProfile(g, ns, name).Finalizers).To(ContainElement(v1alpha1.Finalizer))
		}
	}, timeout, interval).Should(Succeed())

	var wg sync.WaitGroup
	for _, name := range names {
		g.Expect(k8s.Delete(context.Background(), newProfile(ns, name, v1alpha1.SidecarProfileSpec{}))).To(Succeed())
		wg.Go(func() {
			p := &v1alpha1.SidecarProfile{}
			updateObject(g, client.ObjectKey{Namespace: ns, Name: name}, p, func() {
				p.Finalizers = slices.DeleteFunc(p.Finalizers, func(f string) bool { return f == foreignFinalizer })
			})
		})
	}
	wg.Wait()
	g.Eventually(func(g Gomega) {
		for _, name := range names {
			err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &v1alpha1.SidecarProfile{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "profile %s is still there: %v", name, err)
		}
	}, timeout, interval).Should(Succeed())
}
