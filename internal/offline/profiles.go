package offline

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	utiljson "k8s.io/apimachinery/pkg/util/json"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/profileschema"
	"github.com/outrigger-dev/outrigger/internal/selection"
)

// InvalidProfilesError lists the profiles the cluster would refuse (or Outrigger could not use), each message
// naming the profile, the field and the fix.
type InvalidProfilesError struct{ Problems []string }

func (e *InvalidProfilesError) Error() string {
	return "invalid profiles:\n  " + strings.Join(e.Problems, "\n  ")
}

// profile is a profile read from the inputs (defaulted as the apiserver stores it), with where it was read.
type profile struct {
	selection.Profile
	doc *Document
	sel selection.Selectors
}

// loadProfiles decodes the SidecarProfiles and ClusterSidecarProfiles among docs and does to them what the
// cluster would on their creation: the apiserver's pruning, defaulting and validation with the CRDs' own schemas
// and CEL rules (internal/profileschema), then the checks of Outrigger's validating webhook (the selectors' label
// syntax, names that collide with another profile's). A SidecarProfile without a namespace goes to defaultNS, as
// kubectl would put it. Other documents are ignored.
func loadProfiles(docs []*Document, defaultNS string, nsLabels func(string) map[string]string, protected selection.Protected,
	kinds []v1alpha1.WorkloadKind) ([]profile, error) {
	var out []profile
	var problems []string
	seen := map[string]bool{}
	for _, d := range docs {
		p, where, errs := decodeProfile(d, defaultNS)
		if where == "" {
			continue // not a profile
		}
		if p != nil {
			var err error
			if err = selection.CheckKinds(p, kinds); err != nil {
				errs = append(errs, err.Error())
			}
			if p.sel, err = selection.Check(p, protected); err != nil {
				errs = append(errs, err.Error())
			}
			if seen[selection.Name(p)] {
				errs = append(errs, "is given twice: keep one")
			}
			seen[selection.Name(p)] = true
		}
		for _, e := range errs {
			problems = append(problems, where+": "+e)
		}
		if p != nil && len(errs) == 0 {
			out = append(out, *p)
		}
	}
	problems = append(problems, collisions(out, nsLabels, protected)...)
	if len(problems) > 0 {
		return nil, &InvalidProfilesError{Problems: problems}
	}
	return out, nil
}

// decodeProfile reads a profile as the apiserver does when kubectl creates it, with strict field validation
// (kubectl's default): an unknown or duplicate field is an error, the schema's defaults are applied, and every
// error the apiserver would answer is returned, in its words. where names the profile and its document in
// messages; it is "" for a document that is not a profile. The profile is nil when it has errors.
func decodeProfile(d *Document, defaultNS string) (p *profile, where string, errs []string) {
	kind := d.meta.Kind
	named, ok := selection.NewProfile(kind)
	if !ok {
		return nil, "", nil
	}
	named.SetName(d.meta.Name)
	if sch, err := profileschema.For(kind); err == nil && sch.Namespaced {
		named.SetNamespace(cmp.Or(d.meta.Namespace, defaultNS))
	}
	where = fmt.Sprintf("%s (%s)", selection.Name(named), d.Where())
	if d.meta.APIVersion != v1alpha1.GroupVersion.String() {
		return nil, where, []string{fmt.Sprintf("apiVersion %q is not served: use %s", d.meta.APIVersion, v1alpha1.GroupVersion)}
	}
	sch, err := profileschema.For(kind)
	if err != nil {
		return nil, where, []string{err.Error()}
	}
	// kubectl's YAML reader keeps the last of two equal keys; the apiserver's strict validation refuses them.
	j, err := sigsyaml.YAMLToJSONStrict(d.body)
	if err != nil {
		return nil, where, []string{fmt.Sprintf("cannot be read: %v", err)}
	}
	var obj map[string]any
	if err := utiljson.Unmarshal(j, &obj); err != nil {
		return nil, where, []string{fmt.Sprintf("cannot be read: %v", err)}
	}
	unknown, invalid := sch.Create(context.Background(), obj, cmp.Or(d.meta.Namespace, defaultNS))
	for _, f := range unknown {
		errs = append(errs, fmt.Sprintf("strict decoding error: unknown field %q: remove or fix the field (see `kubectl explain %s`)",
			f, explainPath(sch.Resource, f)))
	}
	for _, e := range invalid {
		if e.Field == "" || e.Field == "<nil>" { // about no field: the apiserver writes "<nil>: Invalid value: null: " before it
			errs = append(errs, e.Detail)
		} else {
			errs = append(errs, e.Error())
		}
	}
	if len(errs) > 0 {
		return nil, where, errs
	}
	raw, err := json.Marshal(obj)
	if err == nil {
		named, err = selection.DecodeProfile(kind, raw, defaultNS)
	}
	if err != nil {
		return nil, where, []string{err.Error()}
	}
	keepRollout(named, j)
	return &profile{Profile: named, doc: d}, where, nil
}

// keepRollout keeps the status.rollout of a profile exported from a cluster (kubectl get -o yaml), which a create
// would drop: while the profile rolls a change out in waves, it says which revision the webhook gives a new
// workload now.
func keepRollout(p selection.Profile, doc []byte) {
	var exported struct {
		Status struct {
			Rollout *v1alpha1.RolloutStatus `json:"rollout"`
		} `json:"status"`
	}
	if json.Unmarshal(doc, &exported) == nil {
		p.ProfileStatus().Rollout = exported.Status.Rollout
	}
}

// explainPath is the kubectl explain argument for the parent of a field path: sidecarprofiles.spec.sidecars
// for spec.sidecars[0].colour.
func explainPath(resource, fieldPath string) string {
	parent := fieldPath
	if i := strings.LastIndex(parent, "."); i >= 0 {
		parent = parent[:i]
	} else {
		parent = ""
	}
	for {
		i := strings.Index(parent, "[")
		if i < 0 {
			break
		}
		j := strings.Index(parent[i:], "]")
		if j < 0 {
			break
		}
		parent = parent[:i] + parent[i+j+1:]
	}
	if parent == "" {
		return resource
	}
	return resource + "." + parent
}

// collisions reports the profiles that Outrigger's validating webhook would refuse: they can select a common
// workload with another one and share a sidecar or volume name with it, so on that workload one would be a
// conflict. The webhook refuses whichever is applied second: offline, the later of the two among the inputs
// (kubectl applies files and documents in order), with the webhook's own message.
func collisions(profiles []profile, nsLabels func(string) map[string]string, protected selection.Protected) []string {
	var out []string
	for i, q := range profiles {
		for _, p := range profiles[:i] {
			if !selection.MayOverlap(q, p, nsLabels, protected) {
				continue
			}
			if msg := selection.Collision(q, p); msg != "" {
				out = append(out, fmt.Sprintf("%s (%s): %s (%s is in %s; the validating webhook refuses whichever of the two is applied second)",
					selection.Name(q), q.doc.Where(), msg, selection.Name(p), p.doc.Where()))
			}
		}
	}
	return out
}
