package inject

import (
	"encoding/json"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// ProfileRef names a profile on a workload. A SidecarProfile is always in the workload's namespace, so the kind
// and the name identify it.
type ProfileRef struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// Kinds of ProfileRef.
const (
	KindSidecarProfile        = "SidecarProfile"
	KindClusterSidecarProfile = "ClusterSidecarProfile"
)

// String is "Kind/name", the form used in messages and indexes.
func (r ProfileRef) String() string { return r.Kind + "/" + r.Name }

// MountRef names a volume mount Outrigger added to an app container.
type MountRef struct {
	Container string `json:"container"`
	MountPath string `json:"mountPath"`
}

// RecordEntry is what one profile added to a pod template.
type RecordEntry struct {
	ProfileRef `json:",inline"`
	// Hash is the revision of the profile that rendered the items (see Revision).
	Hash string `json:"hash"`
	// Overrides are the workload's overrides the profile applied (<sidecar>.<field>, sorted; the values are in the
	// containers, see WorkloadAnnotations): so an override dropped from a field the profile leaves unset is
	// removed too, and status never counts an override as drift. Only names are recorded, which the admission
	// policies can write as they are: a value would need JSON escaping that CEL does not have.
	Overrides []string           `json:"overrides,omitempty"`
	Placement v1alpha1.Placement `json:"placement"`
	// InitContainers, Volumes and Mounts are what the profile added, by name.
	InitContainers []string   `json:"initContainers"`
	Volumes        []string   `json:"volumes,omitempty"`
	Mounts         []MountRef `json:"mounts,omitempty"`
}

// Record is the content of the InjectionAnnotation: one entry per profile, in placement order.
type Record struct {
	Profiles []RecordEntry `json:"profiles"`
}

// ReadRecord returns what Outrigger recorded on a template; an empty Record when nothing was.
func ReadRecord(tmpl *corev1.PodTemplateSpec) (Record, error) {
	raw, ok := tmpl.Annotations[v1alpha1.InjectionAnnotation]
	if !ok {
		return Record{}, nil
	}
	var rec Record
	if err := json.Unmarshal([]byte(raw), &rec); err != nil {
		return Record{}, fmt.Errorf("annotation %s on the pod template is not valid (%w): Outrigger cannot tell which "+
			"containers it added; restore the annotation, or remove Outrigger's sidecars and the annotation by hand",
			v1alpha1.InjectionAnnotation, err)
	}
	return rec, nil
}

// Entry returns the entry of the profile ref, if any.
func (r Record) Entry(ref ProfileRef) (RecordEntry, bool) {
	for _, e := range r.Profiles {
		if e.ProfileRef == ref {
			return e, true
		}
	}
	return RecordEntry{}, false
}

// Refs lists the profiles recorded, sorted by their String form.
func (r Record) Refs() []ProfileRef {
	refs := make([]ProfileRef, 0, len(r.Profiles))
	for _, e := range r.Profiles {
		refs = append(refs, e.ProfileRef)
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].String() < refs[j].String() })
	return refs
}

// writeRecord sets (or, for an empty record, removes) the annotation and the InjectedLabel.
func writeRecord(tmpl *corev1.PodTemplateSpec, rec Record) {
	if len(rec.Profiles) == 0 {
		delete(tmpl.Annotations, v1alpha1.InjectionAnnotation)
		delete(tmpl.Labels, v1alpha1.InjectedLabel)
		if len(tmpl.Annotations) == 0 {
			tmpl.Annotations = nil
		}
		if len(tmpl.Labels) == 0 {
			tmpl.Labels = nil
		}
		return
	}
	raw, err := json.Marshal(rec)
	if err != nil {
		panic(fmt.Sprintf("marshalling an injection record cannot fail: %v", err))
	}
	if tmpl.Annotations == nil {
		tmpl.Annotations = map[string]string{}
	}
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	tmpl.Annotations[v1alpha1.InjectionAnnotation] = string(raw)
	tmpl.Labels[v1alpha1.InjectedLabel] = "true"
}
