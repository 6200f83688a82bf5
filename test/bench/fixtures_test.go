package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/workload"
	"github.com/outrigger-dev/outrigger/test/profilecases"
)

// Labels of the benchmark's objects.
const (
	setLabel       = "bench.outrigger.dev/set" // which measurement a workload belongs to
	namespaceLabel = "bench.outrigger.dev/namespace"
)

// The sets of workloads.
const (
	setControl     = "control"     // created with no webhook configured
	setNoop        = "noop"        // created through a webhook that does nothing
	setPreInjected = "preinjected" // created with the sidecar already in, with no webhook configured
	setFixedPatch  = "fixedpatch"  // created through a webhook answering a precomputed sidecar patch
	setAdmission   = "admission"   // created with a profile selecting them: admission with injection
	setPolicy      = "policy"      // created through the MutatingAdmissionPolicy compiled from that profile
	setFloor       = "floor"       // created through a one-operation MutatingAdmissionPolicy
	setBare        = "bare"        // injected and cleaned up by the bare client
	setOutrigger   = "outrigger"   // injected and cleaned up by Outrigger
)

func namespaceName(i int) string { return fmt.Sprintf("bench-%02d", i) }

// plural is how the benchmark's text names workloads of a kind: Deployments, StatefulSets.
func plural(kind workload.Kind) string { return string(kind.Name) + "s" }

// workloadOf is an app workload of a kind as a team would write it: two containers, probes, resources, a volume;
// a StatefulSet also has a volume claim template, mounted in the app container, as a database's would.
func workloadOf(kind workload.Kind, set string, i, namespaces int) client.Object {
	name := fmt.Sprintf("%s-%05d", set, i)
	meta := metav1.ObjectMeta{Name: name, Namespace: namespaceName(i % namespaces), Labels: map[string]string{"app": name, setLabel: set}}
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}
	template := podTemplate(name)
	switch kind.Name {
	case v1alpha1.KindDeployment:
		return &appsv1.Deployment{ObjectMeta: meta,
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: selector, Template: template}}
	case v1alpha1.KindStatefulSet:
		app := &template.Spec.Containers[0]
		app.VolumeMounts = append(app.VolumeMounts, corev1.VolumeMount{Name: "data", MountPath: "/var/lib/app"})
		return &appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To[int32](2), Selector: selector, Template: template, ServiceName: name,
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
			}},
		}}
	}
	panic(fmt.Sprintf("the benchmark has no %s fixture", kind.Name))
}

// deployment is workloadOf a Deployment, for the measurements made on Deployments only.
func deployment(set string, i, namespaces int) *appsv1.Deployment {
	return workloadOf(workload.Deployment, set, i, namespaces).(*appsv1.Deployment)
}

// podTemplate is the pod template of every workload of the benchmark.
func podTemplate(name string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "app", Image: "registry.example/shop/app:1.4.2",
				Args:  []string{"--listen=:8080", "--log-file=/var/log/app/app.log"},
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				Env:   []corev1.EnvVar{{Name: "MODE", Value: "production"}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
				},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromString("http")}}},
				VolumeMounts:   []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}},
			}, {
				Name: "metrics", Image: "registry.example/shop/metrics:0.9",
			}},
			Volumes: []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
}

// profileSpec is a log shipper like the seed example's: a sidecar with a startup probe, resources and a volume
// shared with the app, for the workloads of one kind.
func profileSpec(kind workload.Kind, set string) v1alpha1.ClusterSidecarProfileSpec {
	return v1alpha1.ClusterSidecarProfileSpec{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{namespaceLabel: "true"}},
		SidecarProfileSpec: v1alpha1.SidecarProfileSpec{
			Selector:      &metav1.LabelSelector{MatchLabels: map[string]string{setLabel: set}},
			WorkloadKinds: []v1alpha1.WorkloadKind{kind.Name},
			Sidecars: []v1alpha1.Sidecar{{Container: corev1.Container{
				Name: "logshipper", Image: "registry.example/platform/logshipper:2.1",
				Args: []string{"--path=/var/log/app/*.log"},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
				},
				StartupProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"test", "-e", "/tmp/ready"}}}},
				VolumeMounts: []corev1.VolumeMount{{Name: "app-logs", MountPath: "/var/log/app"}},
			}}},
			Volumes: []v1alpha1.ProfileVolume{{Volume: corev1.Volume{Name: "app-logs",
				VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}},
			AppContainerMounts: []v1alpha1.AppContainerMount{{Name: "app-logs", MountPath: "/var/log/app", Containers: []string{"app"}}},
			// The benchmarks measure how fast Outrigger converges, not the waves' gates.
			Rollout: profilecases.AllAtOnce(),
		},
	}
}

func clusterProfile(kind workload.Kind, name, set string) *v1alpha1.ClusterSidecarProfile {
	return &v1alpha1.ClusterSidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: profileSpec(kind, set)}
}

// parallel runs do(i) for i in [0, n) on workers goroutines and returns the first error.
func parallel(ctx context.Context, n, workers int, do func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := do(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && err != context.Canceled {
		return err
	}
	return nil
}

// createWorkloads creates n workloads of a kind and a set on workers goroutines.
func createWorkloads(ctx context.Context, c client.Client, kind workload.Kind, set string, from, n, namespaces, workers int) error {
	return parallel(ctx, n, workers, func(ctx context.Context, i int) error {
		return c.Create(ctx, workloadOf(kind, set, from+i, namespaces))
	})
}
