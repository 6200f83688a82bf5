package faults

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
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/test/profilecases"
)

// setLabel marks the Deployments of a test (and the tracker watches only those).
const setLabel = "faults.outrigger.dev/set"

// The sidecar names of the profiles; the collide variant has a container of its own named like the first.
const (
	logshipperName = "logshipper"
	meshProxyName  = "mesh-proxy"
)

// variant is one shape of pod template a team writes.
type variant struct {
	name     string
	labels   map[string]string // on the Deployment, besides app and the set
	template func(app string) corev1.PodTemplateSpec
}

// variants are the regular shapes, used round-robin: what the engine must keep exactly as written around the
// sidecars (the user's init containers and native sidecars, several app containers, volumes and mounts of all
// kinds, the template's own labels and annotations).
var variants = []variant{
	{name: "plain", template: func(app string) corev1.PodTemplateSpec {
		return template(app, nil, []corev1.Container{appContainer()}, nil)
	}},
	{name: "init", template: func(app string) corev1.PodTemplateSpec {
		c := appContainer()
		c.VolumeMounts = []corev1.VolumeMount{{Name: "cache", MountPath: "/cache"}}
		return template(app,
			[]corev1.Container{{Name: "migrate", Image: "registry.example/shop/migrate:3", Args: []string{"up"}}},
			[]corev1.Container{c, {Name: "worker", Image: "registry.example/shop/worker:1.4.2",
				VolumeMounts: []corev1.VolumeMount{{Name: "cache", MountPath: "/cache", ReadOnly: true}}}},
			[]corev1.Volume{{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
				SizeLimit: ptr.To(resource.MustParse("1Gi"))}}}})
	}},
	{name: "multi", template: func(app string) corev1.PodTemplateSpec {
		c := appContainer()
		c.VolumeMounts = []corev1.VolumeMount{{Name: "config", MountPath: "/etc/app"}, {Name: "tmp", MountPath: "/tmp"}}
		return template(app, nil, []corev1.Container{c,
			{Name: "metrics", Image: "registry.example/shop/metrics:0.9", Ports: []corev1.ContainerPort{{Name: "metrics", ContainerPort: 9090}}},
			{Name: "proxy", Image: "registry.example/shop/envoy:1.30", Env: []corev1.EnvVar{{Name: "UPSTREAM", Value: "127.0.0.1:8080"}},
				VolumeMounts: []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}}},
		}, []corev1.Volume{
			{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: app + "-config"}}}},
			{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
		})
	}},
	{name: "own-sidecar", template: func(app string) corev1.PodTemplateSpec {
		return template(app, []corev1.Container{
			{Name: "setup", Image: "registry.example/shop/setup:1"},
			{Name: "vault-agent", Image: "registry.example/vault:1.17", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
				VolumeMounts: []corev1.VolumeMount{{Name: "secrets", MountPath: "/vault/secrets"}}},
		}, []corev1.Container{appContainer()}, []corev1.Volume{{Name: "secrets", VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: app + "-secrets"}}}})
	}},
	{name: "annotated", labels: map[string]string{"team": "payments"}, template: func(app string) corev1.PodTemplateSpec {
		c := appContainer()
		c.VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/var/log/other", SubPath: "logs"}}
		t := template(app, nil, []corev1.Container{c}, []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: app + "-data"}}}})
		t.Labels["team"] = "payments"
		t.Annotations = map[string]string{"prometheus.io/scrape": "true", "kubectl.kubernetes.io/default-container": "app"}
		return t
	}},
}

// The special Deployments: one whose container has the name of the cluster profile's sidecar (a conflict to
// report, never an overwrite), and one that opted out.
var (
	collide = variant{name: "collide", template: func(app string) corev1.PodTemplateSpec {
		return template(app, nil, []corev1.Container{appContainer(),
			{Name: logshipperName, Image: "registry.example/team/own-logshipper:7"}}, nil)
	}}
	optedOut = variant{name: "opted-out", labels: map[string]string{v1alpha1.InjectLabel: v1alpha1.InjectDisabled},
		template: func(app string) corev1.PodTemplateSpec {
			return template(app, nil, []corev1.Container{appContainer()}, nil)
		}}
)

func appContainer() corev1.Container {
	return corev1.Container{
		Name: "app", Image: "registry.example/shop/app:1.4.2",
		Args:  []string{"--listen=:8080"},
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
		Env:   []corev1.EnvVar{{Name: "MODE", Value: "production"}},
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")}},
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: "/ready", Port: intstr.FromString("http")}}},
	}
}

func template(app string, inits, containers []corev1.Container, volumes []corev1.Volume) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec:       corev1.PodSpec{InitContainers: inits, Containers: containers, Volumes: volumes},
	}
}

// deployment is the Deployment as its author wrote it: what the expected result is computed from.
func deployment(v variant, set, namespace, name string) *appsv1.Deployment {
	labels := map[string]string{"app": name, setLabel: set}
	for k, val := range v.labels {
		labels[k] = val
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: labels,
			Annotations: map[string]string{"owner": "team-" + v.name}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: v.template(name),
		},
	}
}

// logshipperSpec is a log shipper sharing an emptyDir with the app container, with a startup probe, placed
// before the workload's own init containers.
func logshipperSpec(image string) v1alpha1.SidecarProfileSpec {
	return v1alpha1.SidecarProfileSpec{
		Sidecars: []v1alpha1.Sidecar{{Container: corev1.Container{
			Name: logshipperName, Image: image, Args: []string{"--path=/var/log/app/*.log"},
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")}},
			StartupProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"test", "-e", "/tmp/ready"}}}},
			VolumeMounts: []corev1.VolumeMount{{Name: "app-logs", MountPath: "/var/log/app"}},
		}}},
		Volumes: []v1alpha1.ProfileVolume{{Volume: corev1.Volume{Name: "app-logs",
			VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}},
		AppContainerMounts: []v1alpha1.AppContainerMount{{Name: "app-logs", MountPath: "/var/log/app", Containers: []string{"app"}}},
		Rollout:            profilecases.AllAtOnce(),
	}
}

// clusterProfile gives a log shipper to the Deployments of a set in the namespaces labelled nsLabel=true.
func clusterProfile(name, set, nsLabel, image string) *v1alpha1.ClusterSidecarProfile {
	spec := logshipperSpec(image)
	spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{setLabel: set}}
	return &v1alpha1.ClusterSidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: runLabels()},
		Spec: v1alpha1.ClusterSidecarProfileSpec{
			NamespaceSelector:  &metav1.LabelSelector{MatchLabels: map[string]string{nsLabel: "true"}},
			SidecarProfileSpec: spec,
		}}
}

// meshProfile is a namespace's proxy, placed after the workload's own init containers, second in order.
func meshProfile(namespace, name, set string) *v1alpha1.SidecarProfile {
	return &v1alpha1.SidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: runLabels()},
		Spec: v1alpha1.SidecarProfileSpec{
			Selector:  &metav1.LabelSelector{MatchLabels: map[string]string{setLabel: set}},
			Placement: v1alpha1.PlacementAfterInitContainers,
			Order:     10,
			Sidecars: []v1alpha1.Sidecar{{Container: corev1.Container{
				Name: meshProxyName, Image: "registry.example/mesh/proxy:1.0",
				Ports: []corev1.ContainerPort{{Name: "mesh-admin", ContainerPort: 15000}},
				Env:   []corev1.EnvVar{{Name: "MESH_MODE", Value: "sidecar"}},
			}}},
			Rollout: profilecases.AllAtOnce(),
		}}
}

// parallel runs do(i) for i in [0, n) on workers goroutines and returns the first error.
func parallel(ctx context.Context, n, workers int, do func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n && ctx.Err() == nil; i = int(next.Add(1)) - 1 {
				if err := do(ctx, i); err != nil {
					cancel(fmt.Errorf("item %d: %w", i, err))
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

// setClusterSidecarImage sets the image of a cluster profile's first sidecar, retrying when the manager's status
// or finalizer write got there first.
func setClusterSidecarImage(ctx context.Context, name, image string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p := &v1alpha1.ClusterSidecarProfile{}
		if err := shared.c.Get(ctx, client.ObjectKey{Name: name}, p); err != nil {
			return err
		}
		p.Spec.Sidecars[0].Image = image
		return shared.c.Update(ctx, p)
	})
}
