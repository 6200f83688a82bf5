// Package kindconfig reads the workload kinds a manager is configured to inject into beyond the built-in ones
// (an OpenKruise CloneSet, a company's own CRD): a YAML file, which the Helm chart renders from its
// workloadKinds value. Each entry names the kind, its resource, where its pod template and pod selector are,
// and how its rollout is read. A bad entry is an error that names it, the field and the fix; the others are
// served (see Load).
package kindconfig

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// File is the configuration file.
type File struct {
	// Kinds are the workload kinds to inject into besides the built-in ones.
	Kinds []Entry `json:"kinds"`
}

// Entry is one configured kind.
type Entry struct {
	// Group and Version are the kind's API group and the version Outrigger reads and writes it at.
	Group   string `json:"group"`
	Version string `json:"version"`
	// Kind is the kind's name, as profiles list it in spec.workloadKinds.
	Kind string `json:"kind"`
	// Resource is the kind's plural resource name, as RBAC and the webhook rules name it: clonesets.
	Resource string `json:"resource"`
	// PodTemplatePath is the field path of the pod template: spec.template.
	PodTemplatePath string `json:"podTemplatePath"`
	// PodSelectorPath is the field path of the label selector of its pods (spec.selector), for the sidecars'
	// health in status; empty when the kind has none (then no pod is observed).
	PodSelectorPath string `json:"podSelectorPath,omitempty"`
	// Rollout is how its rollout is read: kstatus (the default), its conditions and observedGeneration.
	Rollout string `json:"rollout,omitempty"`
}

// RolloutKstatus is the one rollout reading there is for configured kinds.
const RolloutKstatus = "kstatus"

// Kind is a configured kind, with where it was configured (for errors that say which entry).
type Kind struct {
	workload.Kind
	// Entry names the entry: kinds[0] (apps.kruise.io/v1alpha1 CloneSet) in /etc/outrigger/workload-kinds.yaml.
	Entry string
}

// Load reads the file at path. It returns the kinds of the good entries, and an error for each bad one; an
// error reading or parsing the file is the only error, with no kinds. builtIn are the kinds a configured one
// may not be named like.
func Load(path string, builtIn workload.Kinds) ([]Kind, []error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, []error{fmt.Errorf("reading the workload kinds configuration: %w", err)}
	}
	var f File
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, []error{fmt.Errorf("%s: %w (the file is {kinds: [{group, version, kind, resource, podTemplatePath, podSelectorPath, rollout}]})", path, err)}
	}
	var kinds []Kind
	var errs []error
	taken := map[string]string{}
	for _, k := range builtIn {
		taken[string(k.Name)] = "a built-in kind"
	}
	for i, e := range f.Kinds {
		where := fmt.Sprintf("kinds[%d] (%s) in %s", i, e.describe(), path)
		k, err := e.kind()
		if err == nil && taken[e.Kind] != "" {
			err = fmt.Errorf("kind: %s is already %s, and profiles name kinds by kind alone: leave it out", e.Kind, taken[e.Kind])
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w; the other kinds are served", where, err))
			continue
		}
		taken[e.Kind] = "kinds[" + fmt.Sprint(i) + "]"
		kinds = append(kinds, Kind{Kind: k, Entry: where})
	}
	return kinds, errs
}

func (e Entry) describe() string {
	return schema.GroupVersionKind{Group: e.Group, Version: e.Version, Kind: e.Kind}.GroupVersion().String() + " " + e.Kind
}

var (
	kindName  = regexp.MustCompile(`^[A-Z][A-Za-z0-9]{0,62}$`)
	fieldPath = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)
)

// kind checks the entry on its own (the apiserver's view comes later, see CheckSchema) and builds its kind.
func (e Entry) kind() (workload.Kind, error) {
	var errs []error
	if e.Group != "" && len(validation.IsDNS1123Subdomain(e.Group)) > 0 {
		errs = append(errs, fmt.Errorf("group: %q is not an API group (a DNS subdomain: apps.kruise.io)", e.Group))
	}
	if len(validation.IsDNS1035Label(e.Version)) > 0 {
		errs = append(errs, fmt.Errorf("version: %q is not an API version (v1alpha1)", e.Version))
	}
	if !kindName.MatchString(e.Kind) {
		errs = append(errs, fmt.Errorf("kind: %q is not a kind's name (CloneSet: a capital, then letters and digits)", e.Kind))
	}
	if len(validation.IsDNS1035Label(e.Resource)) > 0 || strings.ToLower(e.Resource) != e.Resource {
		errs = append(errs, fmt.Errorf("resource: %q is not a resource name (the plural, lower case: clonesets)", e.Resource))
	}
	if !fieldPath.MatchString(e.PodTemplatePath) {
		errs = append(errs, fmt.Errorf("podTemplatePath: %q is not a field path (spec.template)", e.PodTemplatePath))
	}
	if e.PodSelectorPath != "" && !fieldPath.MatchString(e.PodSelectorPath) {
		errs = append(errs, fmt.Errorf("podSelectorPath: %q is not a field path (spec.selector), or leave it out", e.PodSelectorPath))
	}
	if e.Rollout != "" && e.Rollout != RolloutKstatus {
		errs = append(errs, fmt.Errorf("rollout: %q is not a rollout reading: kstatus is the one there is, or leave it out", e.Rollout))
	}
	if len(errs) > 0 {
		return workload.Kind{}, errors.Join(errs...)
	}
	gvk := schema.GroupVersionKind{Group: e.Group, Version: e.Version, Kind: e.Kind}
	return workload.Custom(gvk, e.Resource, pointer(e.PodTemplatePath), pointer(e.PodSelectorPath)), nil
}

// pointer turns a field path into a JSON pointer: spec.template is /spec/template.
func pointer(path string) string {
	if path == "" {
		return ""
	}
	return "/" + strings.ReplaceAll(path, ".", "/")
}

// Names returns the configured kinds' names, for the validating webhook's list of known kinds.
func Names(kinds []Kind) []v1alpha1.WorkloadKind {
	out := make([]v1alpha1.WorkloadKind, len(kinds))
	for i, k := range kinds {
		out[i] = k.Name
	}
	return out
}

// Workloads returns the configured kinds as workload kinds.
func Workloads(kinds []Kind) workload.Kinds {
	out := make(workload.Kinds, len(kinds))
	for i, k := range kinds {
		out[i] = k.Kind
	}
	return out
}
