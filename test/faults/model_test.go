package faults

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/selection"
)

// model is what a test knows of its Deployments: each as its author wrote it, and what was verified of it at
// the last checkpoint. The expected state of a Deployment is always computed by the engine from the written
// template, never from what the manager wrote, so an error the manager makes and then builds on shows.
type model struct {
	set        string
	namespaces map[string]map[string]string // namespace -> its labels, as the profiles' namespaceSelector sees them
	mu         sync.Mutex
	byKey      map[string]*tracked
}

type tracked struct {
	written *appsv1.Deployment
	// At the last checkpoint (or at creation): the generation, and the engine's template for the profiles of
	// that moment (or the template as created, when the webhook was down).
	gen  int64
	want *corev1.PodTemplateSpec
}

func newModel(set string, namespaces map[string]map[string]string) *model {
	return &model{set: set, namespaces: namespaces, byKey: map[string]*tracked{}}
}

// create creates a Deployment and remembers it with the generation it was created with. ps are the profiles the
// admission webhook applies (nil when the manager is down: failurePolicy Ignore lets the Deployment through as
// written); the stored Deployment must be the engine's answer for them.
func (m *model) create(ctx context.Context, d *appsv1.Deployment, ps []selection.Profile) error {
	written := d.DeepCopy()
	res, err := m.expect(written, ps)
	if err != nil {
		return err
	}
	if err := shared.c.Create(ctx, d); err != nil {
		return fmt.Errorf("creating Deployment %s/%s: %w", written.Namespace, written.Name, err)
	}
	diff, err := m.compare(ctx, written, res.Template, d)
	if err != nil {
		return err
	}
	if diff != "" {
		return fmt.Errorf("Deployment %s as created differs from the engine's result for the profiles the webhook had (-want +got):\n%s", key(d), diff)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.byKey[key(d)] = &tracked{written: written, gen: d.Generation, want: res.Template}
	return nil
}

// createAll creates Deployments on 8 goroutines.
func (m *model) createAll(ctx context.Context, ds []*appsv1.Deployment, ps []selection.Profile) error {
	return parallel(ctx, len(ds), 8, func(ctx context.Context, i int) error { return m.create(ctx, ds[i], ps) })
}

func key(o client.Object) string { return o.GetNamespace() + "/" + o.GetName() }

func (m *model) keys() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := make([]string, 0, len(m.byKey))
	for k := range m.byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (m *model) get(k string) *tracked {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.byKey[k]
}

// profiles lists the profiles now in the cluster (their defaulted spec and their deletion state are what the
// manager sees).
func profiles(ctx context.Context) ([]selection.Profile, error) {
	var out []selection.Profile
	var cps v1alpha1.ClusterSidecarProfileList
	if err := shared.c.List(ctx, &cps, client.MatchingLabels(runLabels())); err != nil {
		return nil, err
	}
	for i := range cps.Items {
		out = append(out, &cps.Items[i])
	}
	var sps v1alpha1.SidecarProfileList
	if err := shared.c.List(ctx, &sps, client.MatchingLabels(runLabels())); err != nil {
		return nil, err
	}
	for i := range sps.Items {
		out = append(out, &sps.Items[i])
	}
	return out, nil
}

// expect is the engine's answer for a Deployment as written, given the profiles: which select it is decided by
// the selection package, as in the manager and the webhook.
func (m *model) expect(d *appsv1.Deployment, ps []selection.Profile) (inject.Result, error) {
	var input []inject.Profile
	for _, p := range ps {
		sel, err := selection.Parse(p, selection.Protected{})
		if err != nil {
			return inject.Result{}, fmt.Errorf("profile %s: %w", p.GetName(), err)
		}
		if selection.Selects(p, sel, v1alpha1.KindDeployment, d, m.namespaces[d.Namespace]) {
			input = append(input, selection.ForEngine(p, d, false))
		}
	}
	return inject.Inject(&d.Spec.Template, input)
}

// needed counts the Deployments whose template the profiles ps change from what was verified last: each needs
// exactly one write.
func (m *model) needed(ps []selection.Profile) (int, error) {
	n := 0
	for _, k := range m.keys() {
		tr := m.get(k)
		res, err := m.expect(tr.written, ps)
		if err != nil {
			return 0, err
		}
		if !equality.Semantic.DeepEqual(res.Template, tr.want) {
			n++
		}
	}
	return n, nil
}

// checkpoint is what verify found.
type checkpoint struct {
	deployments int
	written     int // Deployments whose template changed since the last checkpoint: one write each
}

// verify compares EVERY Deployment with the engine's answer for its written template and the profiles now in the
// cluster: the whole spec (containers, init containers, volumes, mounts, the user's own fields), labels and
// annotations. The engine's template is defaulted by the apiserver (a server-side dry-run create, opted out so
// that the webhook leaves it alone) so that it compares field for field with the stored one. It also checks
// that a Deployment whose template changed was written once: its generation went up by exactly one.
func (m *model) verify(t *testing.T, ctx context.Context) checkpoint {
	t.Helper()
	ps, err := profiles(ctx)
	must(t, err)
	var live appsv1.DeploymentList
	must(t, shared.c.List(ctx, &live, client.MatchingLabels{setLabel: m.set}))
	byKey := map[string]*appsv1.Deployment{}
	for i := range live.Items {
		byKey[key(&live.Items[i])] = &live.Items[i]
	}
	keys := m.keys()
	if len(byKey) != len(keys) {
		t.Errorf("%d Deployments of set %s in the cluster, %d created", len(byKey), m.set, len(keys))
	}
	var mu sync.Mutex
	var problems []string
	cp := checkpoint{deployments: len(keys)}
	must(t, parallel(ctx, len(keys), 8, func(ctx context.Context, i int) error {
		tr, got := m.get(keys[i]), byKey[keys[i]]
		if got == nil {
			mu.Lock()
			problems = append(problems, keys[i]+": missing")
			mu.Unlock()
			return nil
		}
		res, err := m.expect(tr.written, ps)
		if err != nil {
			return err
		}
		diff, err := m.compare(ctx, tr.written, res.Template, got)
		if err != nil {
			return err
		}
		changed := !equality.Semantic.DeepEqual(res.Template, tr.want)
		wantGen := tr.gen
		if changed {
			wantGen++
		}
		mu.Lock()
		defer mu.Unlock()
		if diff != "" {
			problems = append(problems, fmt.Sprintf("%s differs from the engine's result (-want +got):\n%s", keys[i], diff))
		}
		if got.Generation != wantGen {
			problems = append(problems, fmt.Sprintf("%s: generation %d, want %d (template changed: %v): written %d times for one change",
				keys[i], got.Generation, wantGen, changed, got.Generation-tr.gen))
		}
		if changed {
			cp.written++
		}
		tr.gen, tr.want = got.Generation, res.Template
		return nil
	}))
	sort.Strings(problems)
	for i, p := range problems {
		if i == 10 {
			t.Errorf("... and %d more", len(problems)-10)
			break
		}
		t.Error(p)
	}
	return cp
}

// quantities compares resource quantities by value, as the API does (cmp cannot see their unexported fields).
var quantities = cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })

// compare returns the differences between the stored Deployment and the written one carrying the engine's
// template, both as the apiserver defaults them.
func (m *model) compare(ctx context.Context, written *appsv1.Deployment, want *corev1.PodTemplateSpec, got *appsv1.Deployment) (string, error) {
	probe := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: written.Name + "-expected", Namespace: written.Namespace,
			Labels: map[string]string{v1alpha1.InjectLabel: v1alpha1.InjectDisabled}},
		Spec: *written.Spec.DeepCopy(),
	}
	probe.Spec.Template = *want.DeepCopy()
	if err := shared.c.Create(ctx, probe, client.DryRunAll); err != nil {
		return "", fmt.Errorf("defaulting the expected template of %s: %w", key(written), err)
	}
	var diffs []string
	if !equality.Semantic.DeepEqual(probe.Spec, got.Spec) {
		diffs = append(diffs, cmp.Diff(probe.Spec, got.Spec, quantities))
	}
	if d := cmp.Diff(written.Labels, got.Labels); d != "" {
		diffs = append(diffs, "labels: "+d)
	}
	if d := cmp.Diff(written.Annotations, got.Annotations); d != "" {
		diffs = append(diffs, "annotations: "+d)
	}
	return strings.Join(diffs, "\n"), nil
}
