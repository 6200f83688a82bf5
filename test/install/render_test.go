package install_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v4/pkg/chart/common"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/internal/controlplane"
	"github.com/outrigger-dev/outrigger/test/render"
)

const (
	repoRoot     = "../.."
	chartDir     = repoRoot + "/charts/outrigger"
	releaseName  = "outrigger"        // what docs/install.md installs: names then match config/default's
	namespace    = "outrigger-system" // config/default's namespace, and the release namespace
	fieldManager = "outrigger-install-test"
)

// Kinds a rendering may hold that the bare envtest apiserver does not serve (their CRDs come with cert-manager and
// the Prometheus Operator): they are checked for being rendered, not applied.
var externalKinds = map[schema.GroupKind]bool{
	{Group: "cert-manager.io", Kind: "Certificate"}:          true,
	{Group: "cert-manager.io", Kind: "Issuer"}:               true,
	{Group: "monitoring.coreos.com", Kind: "ServiceMonitor"}: true,
}

var (
	env    *controlplane.Env
	cfg    *rest.Config
	k8s    client.Client
	mapper meta.RESTMapper
	// warnings the apiserver sent back (unknown or duplicate fields, deprecated APIs): a rendering must cause none.
	warnings = &controlplane.Warnings{}
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// A bare apiserver, as a cluster before Outrigger is installed: the renderings bring the CRDs.
	var err error
	env, err = controlplane.Start(repoRoot, controlplane.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1 // fail, never skip
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	cfg = rest.CopyConfig(env.Config)
	cfg.WarningHandler = warnings
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(apiextensionsv1.AddToScheme(scheme))
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintf(os.Stderr, "client: %v\n", err)
		return 1
	}
	mapper = k8s.RESTMapper()
	return m.Run()
}

// --- rendering ---

// kustomizeBuild is `kustomize build dir`, in-process.
func kustomizeBuild(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := render.Kustomize(filepath.Join(repoRoot, dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) == 0 {
		t.Fatalf("kustomize build %s rendered nothing", dir)
	}
	return objs
}

// renderError renders the chart with values and returns the error of Helm's engine, if any.
func renderError(values map[string]any) error {
	_, err := render.HelmFiles(chartDir, release(releaseName), values, nil)
	return err
}

func release(name string) common.ReleaseOptions {
	return common.ReleaseOptions{Name: name, Namespace: namespace, Revision: 1, IsInstall: true}
}

// helmTemplate is `helm template outrigger charts/outrigger -n outrigger-system` with the given values on top of
// values.yaml, in-process: Helm's chart loader, values coalescing and template engine.
func helmTemplate(t *testing.T, values map[string]any) []*unstructured.Unstructured {
	t.Helper()
	return helmTemplateAs(t, releaseName, values)
}

// helmTemplateAs is helmTemplate with another release name.
func helmTemplateAs(t *testing.T, release string, values map[string]any) []*unstructured.Unstructured {
	t.Helper()
	return helmTemplateWith(t, release, values, nil)
}

// helmTemplateWith is helmTemplateAs for a cluster of the given capabilities (nil: Helm's defaults, as `helm
// template` without --kube-version or --api-versions).
func helmTemplateWith(t *testing.T, name string, values map[string]any, caps *common.Capabilities) []*unstructured.Unstructured {
	t.Helper()
	objs, err := render.Helm(chartDir, release(name), values, caps)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) == 0 {
		t.Fatalf("helm template rendered nothing")
	}
	return objs
}

// decode reads the documents of data into objects (render.Decode), failing the test on an error.
func decode(t *testing.T, source string, data []byte) []*unstructured.Unstructured {
	t.Helper()
	objs, err := render.Decode(source, data)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// --- the renderings ---

type rendering struct {
	name   string
	render func(t *testing.T) []*unstructured.Unstructured
	// the kinds outside envtest it must hold
	external []string
	certMode string // the --webhook-cert-mode the Deployment must run with
}

var renderings = []rendering{
	{name: "kustomize config-default", render: func(t *testing.T) []*unstructured.Unstructured {
		return kustomizeBuild(t, "config/default")
	}, certMode: "self-managed"},
	{name: "kustomize config-cert-manager", render: func(t *testing.T) []*unstructured.Unstructured {
		return kustomizeBuild(t, "config/cert-manager")
	}, external: []string{"Certificate", "Issuer"}, certMode: "external"},
	{name: "kustomize config-default with the workload-kinds component", render: func(t *testing.T) []*unstructured.Unstructured {
		return kustomizeOverlay(t, "config/default", workloadKindsComponent)
	}, certMode: "self-managed"},
	{name: "kustomize config-default with the namespace-exclusions component", render: func(t *testing.T) []*unstructured.Unstructured {
		return kustomizeOverlay(t, "config/default", namespaceExclusionsComponent)
	}, certMode: "self-managed"},
	{name: "helm default values", render: func(t *testing.T) []*unstructured.Unstructured {
		return helmTemplate(t, nil)
	}, certMode: "self-managed"},
	{name: "helm cert-manager and ServiceMonitor", render: func(t *testing.T) []*unstructured.Unstructured {
		return helmTemplate(t, map[string]any{
			"certs":          map[string]any{"mode": "cert-manager"},
			"serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "prometheus"}},
		})
	}, external: []string{"Certificate", "Issuer", "ServiceMonitor"}, certMode: "external"},
	{name: "helm other values", render: func(t *testing.T) []*unstructured.Unstructured {
		return helmTemplate(t, otherValues)
	}, certMode: "self-managed"},
	{name: "helm another release name", render: func(t *testing.T) []*unstructured.Unstructured {
		return helmTemplateAs(t, "platform-sidecar-injection-prod", nil)
	}, certMode: "self-managed"},
}

// otherValues sets every value of the chart away from its default (but certs.mode and serviceMonitor).
var otherValues = map[string]any{
	"image":          map[string]any{"repository": "registry.example.com/outrigger", "tag": "v9.9.9", "pullPolicy": "Always"},
	"replicas":       2,
	"leaderElection": map[string]any{"enabled": false},
	"resources":      map[string]any{"requests": map[string]any{"cpu": "50m", "memory": "100Mi"}},
	"webhook": map[string]any{"failurePolicy": "Fail", "timeoutSeconds": 10,
		"namespaceExclusions": []any{"kube-system", "monitoring"}},
	"metrics":      map[string]any{"enabled": true, "secure": false, "port": 8080},
	"extraArgs":    []any{"--zap-log-level=debug"},
	"nodeSelector": map[string]any{"kubernetes.io/os": "linux"},
	"tolerations":  []any{map[string]any{"key": "dedicated", "operator": "Equal", "value": "infra", "effect": "NoSchedule"}},
	"affinity": map[string]any{"podAntiAffinity": map[string]any{"preferredDuringSchedulingIgnoredDuringExecution": []any{
		map[string]any{"weight": 100, "podAffinityTerm": map[string]any{"topologyKey": "kubernetes.io/hostname",
			"labelSelector": map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": "outrigger"}}}}}}},
	"priorityClassName": "system-cluster-critical",
	"workloadKinds":     []any{cloneSetKind},
}

// cloneSetKind is a configured workload kind, as the README's example writes it.
var cloneSetKind = map[string]any{"group": "apps.kruise.io", "version": "v1alpha1", "kind": "CloneSet", "resource": "clonesets",
	"podTemplatePath": "spec.template", "podSelectorPath": "spec.selector"}

// TestRenderingsPassServerSideDryRun renders each installation and applies every object it holds to the envtest
// apiserver: the CRDs and the Namespace for real (the dry-run of what lives in them needs them), everything else
// as a server-side dry-run apply. Kinds envtest does not serve must be exactly the expected external ones.
func TestRenderingsPassServerSideDryRun(t *testing.T) {
	ctx := t.Context()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if err := client.IgnoreAlreadyExists(k8s.Create(ctx, ns)); err != nil {
		t.Fatalf("creating the namespace: %v", err)
	}
	for _, r := range renderings {
		t.Run(r.name, func(t *testing.T) {
			objs := r.render(t)
			counts := map[string]int{}
			for _, o := range objs {
				counts[o.GetKind()]++
			}
			t.Logf("rendered %d objects: %v", len(objs), counts)
			for _, kind := range []string{"CustomResourceDefinition", "Deployment", "Service", "ServiceAccount",
				"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
				"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
				if counts[kind] == 0 {
					t.Errorf("no %s rendered", kind)
				}
			}
			expectCertMode(t, objs, r.certMode)

			// First what the rest needs: CRDs (established) and Namespaces, for real.
			var rest []*unstructured.Unstructured
			for _, o := range objs {
				switch o.GetKind() {
				case "CustomResourceDefinition", "Namespace":
					apply(t, o, false)
					if o.GetKind() == "CustomResourceDefinition" {
						waitEstablished(t, o.GetName())
					}
				default:
					rest = append(rest, o)
				}
			}

			var external []string
			for _, o := range rest {
				gvk := o.GroupVersionKind()
				if _, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
					if meta.IsNoMatchError(err) && externalKinds[gvk.GroupKind()] {
						external = append(external, gvk.Kind)
						continue
					}
					t.Errorf("%s %s: %v", gvk, o.GetName(), err)
					continue
				}
				apply(t, o, true)
			}
			slices.Sort(external)
			want := slices.Clone(r.external)
			slices.Sort(want)
			if diff := cmp.Diff(want, external); diff != "" {
				t.Errorf("kinds rendered but not served by the apiserver (-want +got):\n%s", diff)
			}
		})
	}
}

// apply server-side applies obj, as a dry run or for real, and fails on an error or on any warning.
func apply(t *testing.T, obj *unstructured.Unstructured, dryRun bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	opts := []client.ApplyOption{client.FieldOwner(fieldManager), client.ForceOwnership}
	if dryRun {
		opts = append(opts, client.DryRunAll)
	}
	what := fmt.Sprintf("%s %s/%s (dry run %t)", obj.GroupVersionKind().Kind, obj.GetNamespace(), obj.GetName(), dryRun)
	warnings.Take()
	if err := k8s.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj.DeepCopy()), opts...); err != nil {
		t.Errorf("server-side apply of %s: %v", what, err)
		return
	}
	for _, w := range warnings.Take() {
		t.Errorf("server-side apply of %s: warning: %s", what, w)
	}
}

func waitEstablished(t *testing.T, name string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := k8s.Get(ctx, client.ObjectKey{Name: name}, crd); err != nil {
			return false, err
		}
		for _, c := range crd.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("CRD %s never established: %v", name, err)
	}
}

func expectCertMode(t *testing.T, objs []*unstructured.Unstructured, mode string) {
	t.Helper()
	var dep *unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "Deployment" && strings.HasSuffix(o.GetName(), "-controller-manager") {
			dep = o
		}
	}
	if dep == nil {
		t.Fatalf("no Deployment *-controller-manager rendered")
	}
	containers, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	if len(containers) == 0 {
		t.Fatalf("the Deployment has no containers")
	}
	args, _, _ := unstructured.NestedStringSlice(containers[0].(map[string]any), "args")
	got := "self-managed" // the flag's default
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--webhook-cert-mode="); ok {
			got = v
		}
	}
	if got != mode {
		t.Errorf("the manager runs with --webhook-cert-mode=%s, want %s (args %v)", got, mode, args)
	}
	env, _, _ := unstructured.NestedSlice(containers[0].(map[string]any), "env")
	if !strings.Contains(fmt.Sprint(env), "POD_NAMESPACE") {
		t.Errorf("the manager has no POD_NAMESPACE: %v", env)
	}
	if mode == "external" {
		vols, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "volumes")
		if !strings.Contains(fmt.Sprint(vols), "secretName:outrigger-webhook-server-cert") {
			t.Errorf("the certificate volume is not cert-manager's Secret: %v", vols)
		}
		for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
			for _, o := range objs {
				if o.GetKind() == kind && o.GetAnnotations()["cert-manager.io/inject-ca-from"] != namespace+"/outrigger-serving-cert" {
					t.Errorf("%s %s: inject-ca-from is %q", kind, o.GetName(), o.GetAnnotations()["cert-manager.io/inject-ca-from"])
				}
			}
		}
	}
}
