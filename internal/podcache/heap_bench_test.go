package podcache_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/controller"
	"github.com/outrigger-dev/outrigger/internal/controlplane"
	"github.com/outrigger-dev/outrigger/internal/podcache"
)

// BenchmarkManagerHeap loads a real apiserver (envtest) with 10,000 pods, half of them Outrigger's, runs
// Outrigger's manager (its controllers, without webhooks) until its cache holds the pods, and reports the heap
// the manager added: with the pod cache as cmd/manager configures it (podcache.ByObject), and, for comparison,
// caching every pod whole. Not a timed test: read the MB-heap metrics.
//
//	go test ./internal/podcache -run '^$' -bench ManagerHeap -benchtime 1x
func BenchmarkManagerHeap(b *testing.B) {
	const pods, namespaces = 10_000, 10
	env, err := controlplane.Start(filepath.Join("..", ".."), controlplane.Options{CRDs: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = env.Stop() })
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = -1, 0 // no client-side rate limit while loading
	if err := loadPods(b.Context(), cfg, pods, namespaces); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		byObject map[client.Object]cache.ByObject
		want     int
	}{
		{"outrigger", podcache.ByObject(), pods / 2},
		{"every-pod-whole", nil, pods},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var held uint64
			for b.Loop() {
				held = managerHeap(b, cfg, tc.byObject, tc.want)
			}
			b.ReportMetric(float64(held)/1e6, "MB-heap")
			b.ReportMetric(float64(held)/float64(tc.want), "B-heap/pod")
		})
	}
}

// managerHeap runs a manager until its cache holds want pods, and returns the live heap it added.
func managerHeap(b *testing.B, cfg *rest.Config, byObject map[client.Object]cache.ByObject, want int) uint64 {
	b.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	scheme := k8sruntime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Cache: cache.Options{ByObject: byObject},
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Controller: config.Controller{SkipNameValidation: ptr.To(true)}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(b.Context())
	if _, err := controller.Setup(ctx, mgr, controller.Options{}); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Start(ctx) }()
	defer func() { cancel(); <-done }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		b.Fatal("the manager's cache did not sync")
	}
	var list corev1.PodList
	if err := mgr.GetCache().List(ctx, &list); err != nil || len(list.Items) != want {
		b.Fatalf("the cache holds %d pods, want %d (%v)", len(list.Items), want, err)
	}
	list = corev1.PodList{}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(mgr)
	return after.HeapAlloc - min(before.HeapAlloc, after.HeapAlloc)
}

// loadPods creates the pods, every other one Outrigger's, with a status such as a kubelet writes.
func loadPods(ctx context.Context, cfg *rest.Config, n, namespaces int) error {
	k, err := client.New(cfg, client.Options{})
	if err != nil {
		return err
	}
	for i := range namespaces {
		if err := k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("ns-%d", i)}}); err != nil {
			return err
		}
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(64)
	for i := range n {
		g.Go(func() error {
			p := realisticPod(fmt.Sprintf("ns-%d", i%namespaces), fmt.Sprintf("web-%d", i), i%2 == 0)
			st := p.Status
			if err := k.Create(ctx, p); err != nil {
				return err
			}
			p.Status = st
			return k.Status().Update(ctx, p)
		})
	}
	return g.Wait()
}

// realisticPod is a pod of an ordinary web Deployment: an app container with env, resources, probes and mounts,
// and, when injected, Outrigger's log shipper as a native sidecar.
func realisticPod(namespace, name string, injected bool) *corev1.Pod {
	now := metav1.Now()
	container := func(name string) corev1.Container {
		c := corev1.Container{Name: name, Image: "registry.example.com/team/" + name + ":1.2.3",
			Args:      []string{"--listen=:8080", "--log-format=json", "--config=/etc/app/config.yaml"},
			Ports:     []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8080)}},
				PeriodSeconds: 5},
			VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/etc/app"}, {Name: "logs", MountPath: "/var/log/app"}},
		}
		for j := range 10 {
			c.Env = append(c.Env, corev1.EnvVar{Name: fmt.Sprintf("SETTING_%d", j), Value: "a value of moderate length for realism"})
		}
		return c
	}
	status := func(name string) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: name, Ready: true, Started: ptr.To(true), Image: "registry.example.com/team/" + name + ":1.2.3",
			ImageID:     "registry.example.com/team/" + name + "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
			ContainerID: "containerd://0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
			State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name,
			Labels:      map[string]string{"app": "web", "pod-template-hash": "5d8f7c9b6d", "team": "payments"},
			Annotations: map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "8080"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{container("app")},
			Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}}}},
				{Name: "logs", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &now, PodIP: "10.1.2.3", HostIP: "192.168.1.10",
			QOSClass: corev1.PodQOSBurstable, ContainerStatuses: []corev1.ContainerStatus{status("app")},
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			}},
	}
	if injected {
		p.Labels[v1alpha1.InjectedLabel] = "true"
		p.Annotations[v1alpha1.InjectionAnnotation] = `{"profiles":[{"kind":"SidecarProfile","name":"logs","hash":"1a2b3c4d5e",` +
			`"placement":"BeforeInitContainers","initContainers":["logshipper"],"volumes":["logs"],"mounts":[{"container":"app","mountPath":"/var/log/app"}]}]}`
		sidecar := container("logshipper")
		sidecar.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
		p.Spec.InitContainers = []corev1.Container{sidecar}
		p.Status.InitContainerStatuses = []corev1.ContainerStatus{status("logshipper")}
	}
	return p
}
