package offline

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/advice"
	"github.com/outrigger-dev/outrigger/internal/advisor"
	"github.com/outrigger-dev/outrigger/internal/catalog"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/mutation"
	"github.com/outrigger-dev/outrigger/internal/selection"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// Options are what the CLI cannot see of the cluster.
type Options struct {
	// Namespace is the namespace of workloads and SidecarProfiles that name none, as kubectl's.
	Namespace string
	// OutriggerNamespace is where Outrigger runs: ClusterSidecarProfiles never select it, and the admission
	// webhook never sees it (nor kube-system).
	OutriggerNamespace string
	// NamespaceLabels are labels of namespaces, added to those of the Namespace objects among the inputs.
	NamespaceLabels map[string]map[string]string
	// Kinds are the workload kinds, as the manager knows them: the built-in ones and those of its
	// --workload-kinds-config. Nil means the built-in ones.
	Kinds workload.Kinds
}

func (o Options) kinds() workload.Kinds {
	if o.Kinds == nil {
		return workload.All
	}
	return o.Kinds
}

// Result is what the admission webhook would do to every input document at its creation.
type Result struct {
	// Documents are the input documents as the webhook would leave them, in order: their text, and whether it
	// changed.
	Documents []Output
	// Workloads explains every Deployment, Job and CronJob among the inputs.
	Workloads []*Report
	// Warnings are things a person should know that do not make the run fail, such as a document whose comments
	// could not all be kept.
	Warnings []string
}

// Output is one document as the webhook would leave it.
type Output struct {
	Doc     *Document
	Text    []byte
	Changed bool
}

// Report explains one workload: each profile that selects it and what it did, each other and why not.
type Report struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Source    string `json:"source"`
	Document  int    `json:"document"`
	// Changed is whether the webhook would inject anything.
	Changed bool `json:"changed"`
	// Note says why no profile was considered at all (an opt-out, a namespace the webhook never sees, an
	// unreadable injection annotation).
	Note     string    `json:"note,omitempty"`
	Profiles []Verdict `json:"profiles"`
	// Advice is what a person should change about the workload as the webhook would store it (internal/advisor):
	// the native-sidecar pitfalls, judged with the quotas, limit ranges and autoscalers among the inputs.
	Advice []advice.Advice `json:"advice,omitempty"`
	// Warnings are the webhook's warnings that no profile's verdict or advice tells: an override asked of a
	// sidecar no selecting profile has.
	Warnings []string `json:"warnings,omitempty"`
}

// Verdict is one profile's answer for one workload.
type Verdict struct {
	Profile  string `json:"profile"`
	Selected bool   `json:"selected"`
	// Reason says why the profile does not select the workload.
	Reason string `json:"reason,omitempty"`
	// Outcome is the engine's, for a selecting profile: Injected, Conflicted (or Kept, Skipped for a manifest
	// that already carries an injection under updatePolicy OnCreate); or Held (OutcomeHeld).
	Outcome  string `json:"outcome,omitempty"`
	Revision string `json:"revision,omitempty"`
	// RolloutNote says which revision the workload gets while the profile rolls a change out in waves, and why
	// (from the profile's status.rollout, when the manifest carries one).
	RolloutNote string   `json:"rolloutNote,omitempty"`
	Sidecars    []string `json:"sidecars,omitempty"`
	Conflicts   []string `json:"conflicts,omitempty"`
	// Overrides are the workload's overrides the profile applies, with the effective values.
	Overrides []Override `json:"overrides,omitempty"`
}

// OutcomeHeld is the outcome of a profile the webhook holds back: its sidecars would mount a volume the pod does
// not have, so the apiserver would refuse the workload (see internal/mutation). Its Conflicts say which mount.
const OutcomeHeld = "Held"

// Title names the workload in messages.
func (r *Report) Title() string {
	return fmt.Sprintf("%s %s/%s (%s, document %d)", r.Kind, r.Namespace, r.Name, r.Source, r.Document)
}

// Conflicts lists, in words, every profile that selects the workload but could not be injected.
func (r *Report) Conflicts() []string {
	var out []string
	for _, v := range r.Profiles {
		for _, c := range v.Conflicts {
			out = append(out, fmt.Sprintf("%s: %s not injected: %s", r.Title(), v.Profile, c))
		}
	}
	return out
}

// Predict runs the admission webhook's logic offline: for every Deployment, Job and CronJob among inputs, the
// profiles among profileDocs that would select it at its creation, and its manifest as the webhook would leave
// it. It returns an *InvalidProfilesError when a profile would be refused by the cluster.
func Predict(inputs, profileDocs []*Document, opts Options) (*Result, error) {
	// As the manager: ClusterSidecarProfiles never reach kube-system nor Outrigger's own namespace.
	protected := selection.ProtectedNamespaces(opts.OutriggerNamespace)
	ns := newNamespaces()
	ns.addDocuments(inputs)
	ns.addDocuments(profileDocs)
	for name, l := range opts.NamespaceLabels {
		ns.add(name, l)
	}
	profiles, err := loadProfiles(profileDocs, opts.Namespace, ns.Labels, protected, opts.kinds().Names())
	if err != nil {
		return nil, err
	}
	js := &judges{}
	if err := js.addDocuments(inputs, opts.Namespace); err != nil {
		return nil, err
	}
	reader := memReader{profiles, ns, js}
	p := &predictor{opts: opts, ns: ns, profiles: profiles, catalog: catalog.Catalog{Reader: reader, Protected: protected},
		advisor: advisor.Advisor{Reader: reader}}
	res := &Result{Warnings: unusedProfiles(inputs, profiles)}
	for _, d := range inputs {
		out, rep, err := p.document(d)
		if err != nil {
			return nil, err
		}
		res.Documents = append(res.Documents, out)
		if rep != nil {
			res.Workloads = append(res.Workloads, rep)
		}
		if out.Changed && !commentsKept(d, out.Text) {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s: comments in this document could not be kept", d.Where()))
		}
	}
	return res, nil
}

// unusedProfiles warns about profiles among the manifests that were not also given with --profiles: the CLI
// does not guess whether they are already in the cluster when the workloads are created.
func unusedProfiles(inputs []*Document, profiles []profile) []string {
	given := map[string]bool{}
	for _, p := range profiles {
		given[p.doc.meta.Kind+"/"+p.GetName()] = true
	}
	var out []string
	for _, d := range inputs {
		if _, isProfile := selection.NewProfile(d.meta.Kind); isProfile && !given[d.meta.Kind+"/"+d.meta.Name] {
			out = append(out, fmt.Sprintf("%s: %s %s is among the manifests but not used: pass it with --profiles too", d.Where(), d.meta.Kind, d.meta.Name))
		}
	}
	return out
}

type predictor struct {
	opts     Options
	ns       *namespaces
	profiles []profile
	catalog  catalog.Catalog
	advisor  advisor.Advisor
}

// workloadKind returns the kind of a document the webhook would be called for: a workload kind of the registry
// (internal/workload), in the API version Outrigger reads it as.
func workloadKind(d *Document) (workload.Kind, bool) { return workloadKindIn(workload.All, d) }

// workloadKindIn is workloadKind among the given kinds (the configured ones too).
func workloadKindIn(kinds workload.Kinds, d *Document) (workload.Kind, bool) {
	return kinds.ByGVK(schema.FromAPIVersionAndKind(d.meta.APIVersion, d.meta.Kind))
}

// document returns a document as the webhook would leave it and, for a workload, its report.
func (p *predictor) document(d *Document) (Output, *Report, error) {
	out := Output{Doc: d, Text: d.Text}
	kind, ok := workloadKindIn(p.opts.kinds(), d)
	if !ok || !d.isObject() {
		return out, nil, nil
	}
	obj := kind.NewObject()
	if err := json.Unmarshal(d.json, obj); err != nil { // not strict, as the webhook reads it
		return out, nil, fmt.Errorf("%s: cannot read the %s: %w", d.Where(), kind.Name, err)
	}
	if obj.GetNamespace() == "" {
		obj.SetNamespace(p.opts.Namespace)
	}
	// At admission a workload being created has no creationTimestamp yet: a manifest exported from a cluster
	// may have one, and selection.ForEngine would then take it for an existing workload.
	obj.SetCreationTimestamp(metav1.Time{})
	rep := &Report{Kind: string(kind.Name), Namespace: obj.GetNamespace(), Name: obj.GetName(), Source: d.Source, Document: d.Index}
	m := p.inject(kind, obj, rep)
	if !m.Changed {
		return out, rep, nil
	}
	text, err := rewrite(d, kind, m.Patch, m.TemplateJSON)
	if err != nil {
		return out, rep, fmt.Errorf("%s: %w", d.Where(), err)
	}
	rep.Changed = true
	return Output{Doc: d, Text: text, Changed: true}, rep, nil
}

// inject decides, as the webhook does (internal/mutation) with the input the webhook would build, and fills the
// report's verdicts.
func (p *predictor) inject(kind workload.Kind, obj client.Object, rep *Report) mutation.Mutation {
	if rep.Note = p.unseen(obj); rep.Note == "" {
		m, input, err := p.mutation(kind, obj)
		if err == nil {
			rep.Profiles = p.verdicts(kind, obj, m)
			for _, u := range m.Unclaimed {
				rep.Warnings = append(rep.Warnings, u.Message())
			}
			// The memReader cannot fail: what it does not hold, it lists empty.
			rep.Advice, _ = p.advisor.Advise(context.Background(), advisor.Workload{Kind: kind, Object: obj, Template: m.Template, Profiles: input})
			return m
		}
		// The webhook admits such a workload unchanged, with a warning: so does the CLI.
		rep.Note = fmt.Sprintf("nothing injected: %v", err)
	}
	rep.Profiles = p.verdicts(kind, obj, mutation.Mutation{})
	return mutation.Mutation{}
}

func (p *predictor) mutation(kind workload.Kind, obj client.Object) (mutation.Mutation, []inject.Profile, error) {
	input, err := p.catalog.EngineInput(context.Background(), kind, obj, catalog.Admission)
	if err != nil {
		return mutation.Mutation{}, nil, err
	}
	m, err := mutation.Compute(kind, obj, input)
	return m, input, err
}

// unseen says why the webhook would not be called for the workload at all; "" when it would.
func (p *predictor) unseen(obj client.Object) string {
	switch {
	case selection.OptedOut(obj):
		return fmt.Sprintf("the workload opted out with the label %s=%s: the webhook never sees it", v1alpha1.InjectLabel, v1alpha1.InjectDisabled)
	case p.webhookSkips(obj.GetNamespace()):
		return fmt.Sprintf("the admission webhook never sees namespace %s (its namespaceSelector excludes kube-system and Outrigger's namespace)", obj.GetNamespace())
	}
	return ""
}

func (p *predictor) webhookSkips(ns string) bool {
	return ns == "kube-system" || ns == p.opts.OutriggerNamespace
}

// verdicts answers for every profile: the selecting ones (those the engine was given) first, in placement
// order, with the engine's outcome; then the others by name, with the reason.
func (p *predictor) verdicts(kind workload.Kind, obj client.Object, m mutation.Mutation) []Verdict {
	var selected, others []Verdict
	done := map[string]bool{}
	for _, r := range m.Profiles {
		if pr, ok := p.find(r.Ref, obj.GetNamespace()); ok {
			v := selectedVerdict(pr, r, m.Held[r.Ref])
			v.RolloutNote = p.rolloutNote(pr, kind, obj)
			selected = append(selected, v)
			done[selection.Name(pr)] = true
		}
	}
	for _, pr := range p.profiles {
		if done[selection.Name(pr)] {
			continue
		}
		if reason := p.whyNot(pr, kind.Name, obj); reason != "" {
			others = append(others, Verdict{Profile: selection.Name(pr), Reason: reason})
		} else { // it selects the workload, but the engine did not run (see the report's note)
			selected = append(selected, Verdict{Profile: selection.Name(pr), Selected: true, Outcome: "NotInjected"})
		}
	}
	sort.SliceStable(others, func(i, j int) bool { return others[i].Profile < others[j].Profile })
	return append(append([]Verdict{}, selected...), others...)
}

// rolloutNote says which revision of a profile rolling out in waves the workload would get at admission, and why.
func (p *predictor) rolloutNote(pr profile, kind workload.Kind, obj client.Object) string {
	sel, err := selection.Parse(pr, p.catalog.Protected)
	if err != nil {
		return ""
	}
	target, why := p.catalog.Explain(pr, sel, kind, obj, p.ns.Labels(obj.GetNamespace()), catalog.Admission)
	switch {
	case why == "":
		return ""
	case target != "" && target != inject.Revision(pr.ProfileSpec()):
		// The content of an older revision is in the cluster (a ControllerRevision), not among the inputs.
		return "gets " + why + "; its content is in the cluster, which the CLI does not read, so the preview leaves this profile out"
	}
	return "gets " + why
}

// find returns the profile a workload's engine result names: a SidecarProfile is in the workload's namespace.
func (p *predictor) find(ref inject.ProfileRef, namespace string) (profile, bool) {
	for _, pr := range p.profiles {
		if selection.Ref(pr) == ref && (pr.GetNamespace() == "" || pr.GetNamespace() == namespace) {
			return pr, true
		}
	}
	return profile{}, false
}

// selectedVerdict is the verdict of a profile the engine was given; held says why the webhook held it back, if
// it did.
func selectedVerdict(pr profile, r inject.ProfileResult, held string) Verdict {
	v := Verdict{Profile: selection.Name(pr), Selected: true, Outcome: string(r.Outcome), Revision: r.Revision}
	if held != "" {
		v.Outcome, v.Conflicts = OutcomeHeld, []string{held}
	}
	for _, s := range pr.ProfileSpec().Sidecars {
		v.Sidecars = append(v.Sidecars, s.Name)
	}
	for _, c := range r.Conflicts {
		v.Conflicts = append(v.Conflicts, c.Message())
	}
	v.Overrides = overridesOf(pr.ProfileSpec(), r.Overrides)
	return v
}
