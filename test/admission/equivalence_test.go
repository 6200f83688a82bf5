package admission

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jsonpatchv4 "gopkg.in/evanphx/json-patch.v4"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/admission/policy"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/mutation"
	"github.com/outrigger-dev/outrigger/internal/selection"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// referenceNamespace holds the engine's own injections, created as they are: the policies never act there.
const referenceNamespace = "reference"

// runs counts the runs of the test in this process (go test -count), so each creates workloads of new names.
var runs atomic.Int32

// served are the kinds the policies are compiled for: those with Go types, and those whose CRDs TestMain installs.
var served = workload.Kinds{workload.Deployment, workload.StatefulSet, workload.DaemonSet, workload.Job, workload.CronJob}

var options = policy.Options{Protected: selection.ProtectedNamespaces(referenceNamespace)}

// equivalence is one workload and the profiles in its cluster.
type equivalence struct {
	name     string
	profiles []selection.Profile
	obj      client.Object
	nsLabels map[string]string
}

// checkTogether writes the policies of every case's profiles, waits until the apiserver runs them, and checks
// each case.
func checkTogether(t *testing.T, cases []equivalence, probe int) {
	var profiles []selection.Profile
	seen := map[selection.Profile]bool{} // cases share theirs: one case in several kinds
	for _, e := range cases {
		ensureNamespace(t, e.obj.GetNamespace(), e.nsLabels)
		for _, p := range e.profiles {
			if !seen[p] {
				seen[p] = true
				profiles = append(profiles, p)
			}
		}
	}
	applyPolicies(t, profiles, probe)
	waited := map[string]bool{}
	for _, e := range cases { // each kind's policy of each namespace
		kind := kindOf(t, e.obj)
		if key := string(kind.Name) + "/" + e.obj.GetNamespace(); !waited[key] {
			waited[key] = true
			waitForProbe(t, kind, e.obj, probe, probeSidecar)
			if probe > 0 { // and no policy of the case before is still run here
				waitProbe(t, kind, e.obj, probe-1, probeSidecar, false)
			}
		}
	}
	if len(cases) == 1 {
		cases[0].check(t)
		return
	}
	for _, e := range cases {
		t.Run(e.name, e.check)
	}
}

// check creates the workload through the compiled policies and, pre-injected by the engine as the webhook
// injects it, with no admission at all, and compares the stored pod templates byte for byte.
func (e equivalence) check(t *testing.T) {
	ctx := context.Background()
	kind := kindOf(t, e.obj)
	want := engineInjected(t, kind, e.obj, e.profiles, e.nsLabels)
	want.SetNamespace(referenceNamespace)
	want.SetName(fmt.Sprintf("%s-%d-%d", e.obj.GetName(), runs.Load(), created.Add(1)))
	if err := k8s.Create(ctx, want); err != nil {
		t.Fatalf("creating the engine's injection: %v", err)
	}
	got := e.obj.DeepCopyObject().(client.Object)
	got.SetName(want.GetName())
	if err := k8s.Create(ctx, got); err != nil {
		t.Fatalf("creating the workload through the policies: %v", err)
	}
	a, b := templateJSON(t, kind, want), templateJSON(t, kind, got)
	if !bytes.Equal(a, b) {
		t.Errorf("the stored pod templates differ\nengine (webhook): %s\npolicy:           %s", a, b)
	}
}

// created counts the workloads created, so that each has a name of its own in the reference namespace.
var created atomic.Int32

func kindOf(t *testing.T, obj client.Object) workload.Kind {
	k := kindOfObject(obj)
	if k.Name == "" {
		t.Fatalf("no workload kind for %T", obj)
	}
	return k
}

func kindOfObject(obj client.Object) workload.Kind {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		for _, k := range served {
			if k.GVK == u.GroupVersionKind() {
				return k
			}
		}
		return workload.Kind{}
	}
	for _, k := range served {
		if fmt.Sprintf("%T", k.NewObject()) == fmt.Sprintf("%T", obj) {
			return k
		}
	}
	return workload.Kind{}
}

func templateJSON(t *testing.T, kind workload.Kind, obj client.Object) []byte {
	var stored = kind.NewObject()
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), stored); err != nil {
		t.Fatal(err)
	}
	if u, ok := stored.(*unstructured.Unstructured); ok {
		// The template as stored, with any field k8s.io/api does not know.
		tmpl, _, err := unstructured.NestedFieldNoCopy(u.Object, fieldsOf(kind.TemplatePath)...)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := json.Marshal(tmpl)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	tmpl := kind.Template(stored).DeepCopy()
	for k := range tmpl.Labels {
		if jobLabels[k] { // the Job's own uid and name, set by the apiserver
			delete(tmpl.Labels, k)
		}
	}
	raw, err := json.Marshal(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

var jobLabels = map[string]bool{"controller-uid": true, "job-name": true,
	"batch.kubernetes.io/controller-uid": true, "batch.kubernetes.io/job-name": true}

// engineInjected is the workload as the webhook admits it: the profiles that select it, given to
// internal/mutation as the catalog gives them at admission.
func engineInjected(t *testing.T, kind workload.Kind, obj client.Object, profiles []selection.Profile, nsLabels map[string]string) client.Object {
	var in []inject.Profile
	for _, p := range profiles {
		sel, err := selection.Parse(p, options.Protected)
		if err != nil {
			t.Fatal(err)
		}
		if selection.Selects(p, sel, kind.Name, obj, withName(nsLabels, obj.GetNamespace())) {
			in = append(in, selection.ForEngine(p, obj, false))
		}
	}
	m, err := mutation.Compute(kind, obj, in)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := obj.(*unstructured.Unstructured); ok {
		return patched(t, obj, m) // as the webhook answers a kind read as unstructured: its JSON patch
	}
	out := obj.DeepCopyObject().(client.Object)
	*kind.Template(out) = *m.Result.Template
	return out
}

// patched applies the webhook's JSON patch to the raw object.
func patched(t *testing.T, obj client.Object, m mutation.Mutation) client.Object {
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	if m.Patch != nil {
		ops, err := json.Marshal(m.Patch)
		if err != nil {
			t.Fatal(err)
		}
		p, err := jsonpatchv4.DecodePatch(ops)
		if err != nil {
			t.Fatal(err)
		}
		if raw, err = p.Apply(raw); err != nil {
			t.Fatal(err)
		}
	}
	out := &unstructured.Unstructured{}
	if err := out.UnmarshalJSON(raw); err != nil {
		t.Fatal(err)
	}
	return out
}

func withName(labels map[string]string, ns string) map[string]string {
	out := map[string]string{"kubernetes.io/metadata.name": ns}
	for k, v := range labels {
		out[k] = v
	}
	return out
}

// applyPolicies writes the policies of every built-in kind for the profiles, and a probe profile that selects
// only the objects labelled outrigger-probe=<probe>, so that waitForProbe can tell when the apiserver has them.
func applyPolicies(t *testing.T, profiles []selection.Profile, probe int) {
	var compiled []policy.Profile
	for _, p := range append(slices.Clone(profiles), probeProfile(probe)) {
		c, err := policy.FromProfile(p, p.ProfileSpec())
		if err != nil {
			t.Fatal(err)
		}
		compiled = append(compiled, c)
	}
	written := map[string]bool{}
	for _, kind := range served {
		cs, err := policy.Compile(kind, compiled, options)
		if err != nil || len(cs) == 0 {
			t.Fatalf("compiling %s: %v (%d policies)", kind.Name, err, len(cs))
		}
		for _, c := range cs {
			upsert(t, c.Policy)
			upsert(t, c.Binding)
			written[c.Policy.Name] = true
		}
	}
	// Those of an earlier case that this one has no use for go, as the manager prunes them.
	var left admissionregistrationv1.MutatingAdmissionPolicyList
	if err := k8s.List(context.Background(), &left, client.MatchingLabels{policy.ManagedByLabel: policy.ManagedBy}); err != nil {
		t.Fatal(err)
	}
	for _, p := range left.Items {
		if !written[p.Name] {
			for _, obj := range []client.Object{&admissionregistrationv1.MutatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: p.Name}}, &p} {
				if err := k8s.Delete(context.Background(), obj); client.IgnoreNotFound(err) != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// upsert creates obj or replaces what is there, reading it again on a conflict.
func upsert(t *testing.T, obj client.Object) {
	ctx := context.Background()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		current := obj.DeepCopyObject().(client.Object)
		err := k8s.Get(ctx, client.ObjectKeyFromObject(obj), current)
		switch {
		case apierrors.IsNotFound(err):
			return k8s.Create(ctx, obj)
		case err != nil:
			return err
		}
		obj.SetResourceVersion(current.GetResourceVersion())
		return k8s.Update(ctx, obj)
	})
	if err != nil {
		t.Fatalf("writing %s: %v", obj.GetName(), err)
	}
}

const probeLabel, probeSidecar = "outrigger-probe", "outrigger-probe"

func probeProfile(probe int) selection.Profile {
	return &v1alpha1.ClusterSidecarProfile{ObjectMeta: metav1.ObjectMeta{Name: "zz-probe"},
		Spec: v1alpha1.ClusterSidecarProfileSpec{SidecarProfileSpec: v1alpha1.SidecarProfileSpec{
			Selector:      &metav1.LabelSelector{MatchLabels: map[string]string{probeLabel: fmt.Sprint(probe)}},
			WorkloadKinds: served.Names(),
			Order:         1 << 30,
			Sidecars:      []v1alpha1.Sidecar{{Container: corev1.Container{Name: probeSidecar, Image: "probe"}}},
		}}}
}

// waitForProbe waits until a server-side dry-run create of the workload, labelled for the probe, gets the probe
// sidecar: the apiserver then runs the policies just written.
func waitForProbe(t *testing.T, kind workload.Kind, obj client.Object, probe int, sidecar string) {
	t.Helper()
	waitProbe(t, kind, obj, probe, sidecar, true)
}

// waitProbe waits until a dry-run create of the workload labelled for the probe gets the sidecar (want) or no
// longer does: the apiserver then runs the policies as written, without an earlier version of any.
func waitProbe(t *testing.T, kind workload.Kind, obj client.Object, probe int, sidecar string, want bool) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for {
		o := obj.DeepCopyObject().(client.Object)
		o.SetName(fmt.Sprintf("probe-%d-%d", runs.Load(), probe))
		labels := map[string]string{probeLabel: fmt.Sprint(probe)}
		for k, v := range obj.GetLabels() {
			if k != v1alpha1.InjectLabel { // an opted-out workload's probe must still reach the policies
				labels[k] = v
			}
		}
		o.SetLabels(labels)
		if err := k8s.Create(ctx, o, client.DryRunAll); err != nil {
			t.Fatalf("dry-run create of the probe: %v", err)
		}
		tmpl, err := kind.PodTemplate(o)
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(tmpl.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == sidecar }) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the apiserver did not run the policies as written within 20 s (probe %d, want its sidecar: %v)", probe, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ensureNamespace(t *testing.T, name string, labels map[string]string) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if err := k8s.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// readManifests decodes every document of the YAML files in dir into typed objects (unknown kinds fail).
func readManifests(t *testing.T, dir string) []client.Object {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s (%v)", dir, err)
	}
	decode := serializer.NewCodecFactory(scheme).UniversalDeserializer()
	var out []client.Object
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
		for {
			doc, err := docs.Read()
			if err != nil {
				break
			}
			if onlyComments(doc) {
				continue
			}
			obj, _, err := decode.Decode(doc, nil, nil)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			out = append(out, obj.(client.Object))
		}
	}
	return out
}

// onlyComments reports whether a YAML document holds nothing but comments and blank lines.
func onlyComments(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") && l != "---" {
			return false
		}
	}
	return true
}
