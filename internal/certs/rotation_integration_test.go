package certs_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// admission is one create the writers made: what the apiserver stored at admission.
type admission struct {
	kind, name string
	start      time.Time
	latency    time.Duration
	err        error
	injected   bool // stored at generation 1 with the logshipper native sidecar: the webhook answered
}

// rotation is one forced rotation: from emptying the Secret until the new CA is in both caBundles and the
// webhook server serves a certificate it signed.
type rotation struct{ start, end time.Time }

// While the certificate is rotated several times, alternately by emptying and by deleting the Secret (as an
// administrator forces new certificates; the rotator's own renewal before expiry takes the emptied path), writers
// keep creating Deployments and Jobs from several goroutines. With failurePolicy Ignore a webhook the apiserver
// cannot reach, or whose certificate it does not trust, does not fail the create: the object is stored without
// its sidecars. So every object must come back from the create with the sidecar: the webhook answered every
// request, across every rotation. A Job that missed it would never get it.
// Run by TestSelfManagedCertificatesOnABareCluster, on its manager, once the logshipper profile is served.
func testRotationLosesNoAdmission(t *testing.T, sm selfManaged) {
	const (
		writers   = 4
		rotations = 2                     // one emptied, one deleted
		pace      = 10 * time.Millisecond // between a writer's creates: a steady stream, not a CPU hog
	)
	g := gomega.NewWithT(t)
	g.SetDefaultEventuallyTimeout(timeout)
	g.SetDefaultEventuallyPollingInterval(interval)
	k8s := sm.k8s
	ca := currentCA(g, k8s)
	expectInjectedAtAdmission(t, g, k8s, "rotation-probe")

	stop := make(chan struct{})
	results := make(chan admission, 100000)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				results <- createOne(k8s, fmt.Sprintf("w%d-%d", w, i), i%2 == 1)
				time.Sleep(pace)
			}
		}()
	}

	var rots []rotation
	time.Sleep(time.Second) // some creates before the first rotation
	for i := range rotations {
		r := rotation{start: time.Now()}
		if i%2 == 0 {
			emptySecret(g, k8s)
		} else {
			g.Expect(k8s.Delete(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: systemNamespace, Name: secretName}})).To(gomega.Succeed())
		}
		next := expectCertificatesInPlace(g, k8s, sm.certDir, ca)
		expectServedCertificateVerifies(g, sm.webhookPort, next)
		expectBundleTrusts(g, k8s, next, ca) // the server switched while the previous CA was still trusted
		r.end, ca = time.Now(), next
		rots = append(rots, r)
		time.Sleep(2 * time.Second) // the apiserver takes up the caBundle a moment later; keep creating meanwhile
	}
	close(stop)
	wg.Wait()
	close(results)

	var all, during, lost []admission
	var slowest time.Duration
	for a := range results {
		all = append(all, a)
		for _, r := range rots {
			if !a.start.Before(r.start) && a.start.Before(r.end.Add(2*time.Second)) {
				during = append(during, a)
				break
			}
		}
		if !a.injected {
			lost = append(lost, a)
		}
		slowest = max(slowest, a.latency)
	}
	for i, r := range rots {
		t.Logf("rotation %d: new CA in the Secret, both caBundles, the files and served after %s",
			i+1, r.end.Sub(r.start).Round(time.Millisecond))
	}
	t.Logf("%d creates (Deployments and Jobs) from %d writers, %d of them during a rotation or within 2s after; %d injected at admission; slowest create %s",
		len(all), writers, len(during), len(all)-len(lost), slowest.Round(time.Millisecond))
	g.Expect(len(during)).To(gomega.BeNumerically(">=", 10*rotations), "too few creates during the rotations to tell anything")
	for _, a := range lost {
		t.Errorf("%s %s (created %s) was stored without its sidecar: err=%v",
			a.kind, a.name, sinceRotation(rots, a.start), a.err)
	}
}

// createOne creates a Deployment or a Job labelled app=myapp and says whether the apiserver stored it with the
// logshipper native sidecar at generation 1.
func createOne(k8s client.Client, name string, job bool) admission {
	a := admission{kind: "Deployment", name: name, start: time.Now()}
	ctx := context.Background()
	var tmpl *corev1.PodTemplateSpec
	var obj client.Object
	if job {
		j := &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{"app": "myapp"}},
			Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "app", Image: "busybox:latest"}},
			}}},
		}
		a.kind, obj, tmpl = "Job", j, &j.Spec.Template
	} else {
		d := newDeployment(name)
		obj, tmpl = d, &d.Spec.Template
	}
	a.err = k8s.Create(ctx, obj)
	a.latency = time.Since(a.start)
	if a.err != nil {
		return a
	}
	for _, c := range tmpl.Spec.InitContainers {
		if c.Name == "logshipper" && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			a.injected = obj.GetGeneration() == 1
		}
	}
	return a
}

// emptySecret empties the certificate Secret: the rotator issues a new CA and serving certificate into it.
func emptySecret(g *gomega.WithT, k8s client.Client) {
	g.Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		secret := &corev1.Secret{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: systemNamespace, Name: secretName}, secret); err != nil {
			return err
		}
		secret.Data = nil
		return k8s.Update(context.Background(), secret)
	})).To(gomega.Succeed())
}

// sinceRotation says how long after the start of the latest rotation before at a create started.
func sinceRotation(rots []rotation, at time.Time) string {
	for i := len(rots) - 1; i >= 0; i-- {
		if !at.Before(rots[i].start) {
			return fmt.Sprintf("%s after rotation %d started", at.Sub(rots[i].start).Round(time.Millisecond), i+1)
		}
	}
	return "before any rotation"
}

// expectBundleTrusts checks that the caBundle of the mutating webhook holds each of the CAs.
func expectBundleTrusts(g *gomega.WithT, k8s client.Client, cas ...[]byte) {
	mutating := &admissionregistrationv1.MutatingWebhookConfiguration{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Name: mutatingName}, mutating)).To(gomega.Succeed())
	for _, ca := range cas {
		g.Expect(string(mutating.Webhooks[0].ClientConfig.CABundle)).To(gomega.ContainSubstring(string(ca)))
	}
}

// currentCA waits for a complete Secret and returns its CA.
func currentCA(g *gomega.WithT, k8s client.Client) []byte {
	secret := &corev1.Secret{}
	g.Eventually(func(g gomega.Gomega) {
		g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: systemNamespace, Name: secretName}, secret)).To(gomega.Succeed())
		g.Expect(secret.Data).To(gomega.HaveKeyWithValue("ca.crt", gomega.Not(gomega.BeEmpty())))
	}).Should(gomega.Succeed())
	return secret.Data["ca.crt"]
}
