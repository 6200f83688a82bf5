//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// A profile change to a sidecar that fails its startupProbe halts after the canary wave: only the canary carries
// it, the other Deployments and their pods are untouched, and a Job created during the halt (in the canary's
// tier, even) gets the stable sidecar and completes. Changing the profile to a good sidecar rolls it out to all,
// canary first, and the profile is Ready with it stable.
func TestWavesHaltABadSidecarAtTheCanary(t *testing.T) {
	t.Parallel()
	k := connect(t)
	ns := k.namespace(t, "waves")
	ctx := context.Background()

	fleet := map[string]string{"fleet": "waves"}
	profile := k.createProfile(t, ns, "agent", v1alpha1.SidecarProfileSpec{
		Selector:      &metav1.LabelSelector{MatchLabels: fleet},
		WorkloadKinds: []v1alpha1.WorkloadKind{v1alpha1.KindDeployment, v1alpha1.KindJob},
		Sidecars:      []v1alpha1.Sidecar{sidecar("agent", idleScript("agent started"))},
		Rollout: v1alpha1.RolloutStrategy{
			Canary:                  &v1alpha1.CanaryWave{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "canary"}}},
			Waves:                   []intstr.IntOrString{intstr.FromString("100%")},
			MinHealthySeconds:       ptr.To[int32](5),
			ProgressDeadlineSeconds: ptr.To[int32](120),
		},
	})
	names := []string{"canary", "web-a", "web-b"}
	for _, name := range names {
		d := deployment(ns, name, 1, app(idleScript("app started")))
		d.Labels["fleet"] = "waves" // the labels of the workload, its selector and its pods: one map
		if name == "canary" {
			d.Labels["tier"] = "canary"
		}
		d.Spec.Template.Spec.TerminationGracePeriodSeconds = ptr.To[int64](1)
		if err := k.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	stable := k.templateHashes(t, ns, names)["canary"]
	if stable == "" {
		t.Fatal("the canary as created carries no injection of profile agent")
	}
	before := map[string]string{}
	for _, name := range names {
		before[name] = k.readyPods(t, ns, name, 1)[0].Name
	}
	k.waitProfile(t, profile, 2*time.Minute, "Ready with its first revision stable", func(p *v1alpha1.SidecarProfile) bool {
		return readyTrue(p) && p.Status.Rollout != nil && p.Status.Rollout.StableRevision == stable
	})

	// The bad change: the sidecar's startupProbe never passes, so the kubelet restarts it again and again.
	patch := client.MergeFrom(profile.DeepCopy())
	profile.Spec.Sidecars[0].StartupProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"false"}}},
		PeriodSeconds: 1, FailureThreshold: 1,
	}
	if err := k.Patch(ctx, profile, patch); err != nil {
		t.Fatal(err)
	}
	k.waitProfile(t, profile, 2*time.Minute, "halted (Stalled, RolloutHalted)", func(p *v1alpha1.SidecarProfile) bool {
		c := condition(p, v1alpha1.ConditionStalled)
		return c.Status == metav1.ConditionTrue && c.Reason == v1alpha1.ReasonRolloutHalted && p.Status.Rollout.Halted != ""
	})
	bad := profile.Status.Rollout.CandidateRevision
	t.Logf("halted: %s", condition(profile, v1alpha1.ConditionStalled).Message)
	hashes := k.templateHashes(t, ns, names)
	if hashes["canary"] != bad {
		t.Errorf("the canary carries revision %q, want the candidate %q", hashes["canary"], bad)
	}
	for _, name := range []string{"web-a", "web-b"} {
		if hashes[name] != stable {
			t.Errorf("%s carries revision %q during the halt, want the stable %q", name, hashes[name], stable)
		}
		if pods := k.readyPods(t, ns, name, 1); pods[0].Name != before[name] {
			t.Errorf("%s's pod was replaced during the halt: %s, was %s", name, pods[0].Name, before[name])
		}
	}

	// A Job created during the halt, in the canary's tier: the stable sidecar, and it completes.
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "batch", Labels: map[string]string{"fleet": "waves", "tier": "canary"}},
		Spec: batchv1.JobSpec{BackoffLimit: ptr.To[int32](0), Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"job": "batch"}},
			Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{app(`echo "app started"; sleep 2; exit 0`)}},
		}},
	}
	if err := k.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	if h := injectedHash(t, job.Spec.Template.Annotations, "agent"); h != stable {
		t.Fatalf("the Job created during the halt carries revision %q, want the stable %q", h, stable)
	}
	k.waitJobComplete(t, job)

	// The fix: a good sidecar (another image), a new revision, from the canary wave to all.
	patch = client.MergeFrom(profile.DeepCopy())
	profile.Spec.Sidecars[0].StartupProbe = nil
	profile.Spec.Sidecars[0].Image = busybox2
	if err := k.Patch(ctx, profile, patch); err != nil {
		t.Fatal(err)
	}
	k.waitProfile(t, profile, 4*time.Minute, "Ready with the fix stable", func(p *v1alpha1.SidecarProfile) bool {
		r := p.Status.Rollout
		return readyTrue(p) && r != nil && r.StableRevision != stable && r.StableRevision != bad && r.CandidateRevision == ""
	})
	fixed := profile.Status.Rollout.StableRevision
	for name, h := range k.templateHashes(t, ns, names) {
		if h != fixed {
			t.Errorf("%s carries revision %q after the fix, want %q", name, h, fixed)
		}
	}
	for _, name := range names {
		for _, p := range k.readyPods(t, ns, name, 1) {
			if h := injectedHash(t, p.Annotations, "agent"); h != fixed {
				t.Errorf("pod %s runs revision %q after the fix, want %q", p.Name, h, fixed)
			}
		}
	}
}

// templateHashes returns the revision of profile agent each Deployment's pod template carries.
func (k *cluster) templateHashes(t *testing.T, ns string, names []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, name := range names {
		d := deployment(ns, name, 1, corev1.Container{})
		if err := k.Get(context.Background(), client.ObjectKeyFromObject(d), d); err != nil {
			t.Fatal(err)
		}
		out[name] = injectedHash(t, d.Spec.Template.Annotations, "agent")
	}
	return out
}

// waitJobComplete waits for a Job to complete, and fails at once if it fails.
func (k *cluster) waitJobComplete(t *testing.T, job *batchv1.Job) {
	t.Helper()
	waitFor(t, 2*time.Minute, "Job "+job.Name+" Complete", func(ctx context.Context) (bool, string, error) {
		if err := k.Get(ctx, client.ObjectKeyFromObject(job), job); err != nil {
			return false, err.Error(), nil
		}
		for _, c := range job.Status.Conditions {
			if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
				return false, "", fmt.Errorf("the Job failed: %s: %s", c.Reason, c.Message)
			}
			if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
				return true, "", nil
			}
		}
		return false, jobConditions(job), nil
	})
}
