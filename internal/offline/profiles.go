package offline

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/selection"
)

// InvalidProfilesError lists the profiles the cluster would refuse (or Outrigger could not use), each message
// naming the profile, the field and the fix.
type InvalidProfilesError struct{ Problems []string }

func (e *InvalidProfilesError) Error() string {
	return "invalid profiles:\n  " + strings.Join(e.Problems, "\n  ")
}

// profile is a profile read from the inputs, with where it was read.
type profile struct {
	selection.Profile
	doc *Document
	sel selection.Selectors
}

// loadProfiles decodes the SidecarProfiles and ClusterSidecarProfiles among docs and runs on them the checks the
// CRD and Outrigger's validating webhook would. A SidecarProfile without a namespace goes to defaultNS, as
// kubectl would put it. Other documents are ignored.
func loadProfiles(docs []*Document, defaultNS string, nsLabels func(string) map[string]string) ([]profile, error) {
	var out []profile
	var problems []string
	seen := map[string]bool{}
	for _, d := range docs {
		p, errs := decodeProfile(d, defaultNS)
		if p == nil && len(errs) == 0 {
			continue // not a profile
		}
		where := d.Where()
		if p != nil {
			where = fmt.Sprintf("%s (%s)", selection.Name(p), d.Where())
			errs = append(errs, validate(p)...)
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
	problems = append(problems, collisions(out, nsLabels)...)
	if len(problems) > 0 {
		return nil, &InvalidProfilesError{Problems: problems}
	}
	return out, nil
}

// decodeProfile decodes a profile strictly, as kubectl's default server-side field validation would: an
// unknown or duplicate field is an error. It returns nil, nil for a document that is not a profile.
func decodeProfile(d *Document, defaultNS string) (*profile, []string) {
	var obj selection.Profile
	switch d.meta.Kind {
	case "SidecarProfile":
		obj = &v1alpha1.SidecarProfile{}
	case "ClusterSidecarProfile":
		obj = &v1alpha1.ClusterSidecarProfile{}
	default:
		return nil, nil
	}
	if d.meta.APIVersion != v1alpha1.GroupVersion.String() {
		return nil, []string{fmt.Sprintf("%s %s: apiVersion %q is not served: use %s", d.meta.Kind, d.meta.Name,
			d.meta.APIVersion, v1alpha1.GroupVersion)}
	}
	// kubectl's YAML reader keeps the last of two equal keys; the apiserver's strict validation refuses them.
	j, err := sigsyaml.YAMLToJSONStrict(d.body)
	if err != nil {
		return nil, []string{fmt.Sprintf("%s %s: cannot be read: %v", d.meta.Kind, d.meta.Name, err)}
	}
	strict, err := kjson.UnmarshalStrict(j, obj)
	if err != nil {
		return nil, []string{fmt.Sprintf("%s %s: cannot be read: %v", d.meta.Kind, d.meta.Name, err)}
	}
	if _, cluster := obj.(*v1alpha1.ClusterSidecarProfile); cluster {
		obj.SetNamespace("") // cluster-scoped: the apiserver ignores a namespace, and selection.Ref relies on ""
	} else if obj.GetNamespace() == "" {
		obj.SetNamespace(defaultNS)
	}
	p := &profile{Profile: obj, doc: d}
	var errs []string
	for _, e := range strict {
		errs = append(errs, e.Error()+": remove or fix the field (see `kubectl explain "+strings.ToLower(d.meta.Kind)+"s.spec`)")
	}
	return p, errs
}

// validate runs the CRD's checks that need no cluster: OpenAPI bounds and patterns, and the CEL rules.
func validate(p *profile) []string {
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if p.GetName() == "" {
		add("metadata.name is required")
	}
	// The CRD's own messages for selector expressions name the expression; selection.Parse checks the rest
	// (label syntax), as the manager does.
	exprErrs := append(expressionErrors("spec.selector", p.ProfileSpec().Selector), expressionErrors("spec.namespaceSelector", p.NamespaceSelector())...)
	errs = append(errs, exprErrs...)
	sel, err := selection.Parse(p)
	if err != nil && len(exprErrs) == 0 {
		add("%v", err)
	}
	p.sel = sel
	spec := p.ProfileSpec()
	errs = append(errs, validateSidecars(spec.Sidecars)...)
	errs = append(errs, validateVolumes(spec)...)
	for i, k := range spec.WorkloadKinds {
		if k != v1alpha1.KindDeployment && k != v1alpha1.KindJob && k != v1alpha1.KindCronJob {
			add("spec.workloadKinds[%d] %q is not a workload kind: use Deployment, Job or CronJob", i, k)
		}
	}
	if dup := duplicate(spec.WorkloadKinds); dup != "" {
		add("spec.workloadKinds lists %s twice: keep one", dup)
	}
	if spec.Placement != "" && spec.Placement != v1alpha1.PlacementBeforeInitContainers && spec.Placement != v1alpha1.PlacementAfterInitContainers {
		add("spec.placement %q: use BeforeInitContainers or AfterInitContainers", spec.Placement)
	}
	if spec.UpdatePolicy != "" && spec.UpdatePolicy != v1alpha1.UpdatePolicyRollout && spec.UpdatePolicy != v1alpha1.UpdatePolicyOnCreate {
		add("spec.updatePolicy %q: use Rollout or OnCreate", spec.UpdatePolicy)
	}
	if spec.Order < -1000 || spec.Order > 1000 {
		add("spec.order %d is out of range: use a number from -1000 to 1000", spec.Order)
	}
	return errs
}

// expressionErrors applies the CRD's rules on a selector's matchExpressions.
func expressionErrors(field string, sel *metav1.LabelSelector) []string {
	if sel == nil {
		return nil
	}
	var errs []string
	for i, e := range sel.MatchExpressions {
		switch e.Operator {
		case metav1.LabelSelectorOpIn, metav1.LabelSelectorOpNotIn:
			if len(e.Values) == 0 {
				errs = append(errs, fmt.Sprintf("%s.matchExpressions[%d].values must be non-empty for %s: list the values", field, i, e.Operator))
			}
		case metav1.LabelSelectorOpExists, metav1.LabelSelectorOpDoesNotExist:
			if len(e.Values) > 0 {
				errs = append(errs, fmt.Sprintf("%s.matchExpressions[%d].values must be empty for %s: remove them", field, i, e.Operator))
			}
		default:
			errs = append(errs, fmt.Sprintf("%s.matchExpressions[%d].operator %q must be one of In, NotIn, Exists, DoesNotExist", field, i, e.Operator))
		}
	}
	return errs
}

func validateSidecars(sidecars []v1alpha1.Sidecar) []string {
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if len(sidecars) == 0 {
		add("spec.sidecars needs at least one sidecar")
	}
	if len(sidecars) > v1alpha1.MaxSidecars {
		add("spec.sidecars has %d sidecars, at most %d are allowed: split the profile", len(sidecars), v1alpha1.MaxSidecars)
	}
	names := map[string]bool{}
	for i, s := range sidecars {
		if msg := dnsLabel(s.Name); msg != "" {
			add("spec.sidecars[%d].name %q %s: rename it", i, s.Name, msg)
		}
		if names[s.Name] {
			add("spec.sidecars[%d].name %q is used by another sidecar of the profile: rename one", i, s.Name)
		}
		names[s.Name] = true
		if s.RestartPolicy != nil && *s.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			add("spec.sidecars[%d].restartPolicy is %q: leave it out or set it to Always (every sidecar is injected as a native sidecar)", i, *s.RestartPolicy)
		}
	}
	return errs
}

func validateVolumes(spec *v1alpha1.SidecarProfileSpec) []string {
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if len(spec.Volumes) > v1alpha1.MaxVolumes {
		add("spec.volumes has %d volumes, at most %d are allowed", len(spec.Volumes), v1alpha1.MaxVolumes)
	}
	volumes := map[string]bool{}
	for i, v := range spec.Volumes {
		if msg := dnsLabel(v.Name); msg != "" {
			add("spec.volumes[%d].name %q %s: rename it", i, v.Name, msg)
		}
		if volumes[v.Name] {
			add("spec.volumes[%d].name %q is used by another volume of the profile: rename one", i, v.Name)
		}
		volumes[v.Name] = true
	}
	if len(spec.AppContainerMounts) > v1alpha1.MaxAppContainerMounts {
		add("spec.appContainerMounts has %d mounts, at most %d are allowed", len(spec.AppContainerMounts), v1alpha1.MaxAppContainerMounts)
	}
	paths := map[string]bool{}
	for i, m := range spec.AppContainerMounts {
		if !volumes[m.Name] {
			add("spec.appContainerMounts[%d].name %q must name a volume declared in spec.volumes: add the volume there, or fix the name", i, m.Name)
		}
		if !strings.HasPrefix(m.MountPath, "/") || len(m.MountPath) > 1024 {
			add("spec.appContainerMounts[%d].mountPath %q must be an absolute path of at most 1024 characters", i, m.MountPath)
		}
		if paths[m.MountPath] {
			add("spec.appContainerMounts[%d].mountPath %q is used by another mount of the profile: keep one", i, m.MountPath)
		}
		paths[m.MountPath] = true
		if len(m.SubPath) > 1024 {
			add("spec.appContainerMounts[%d].subPath is longer than 1024 characters", i)
		}
		if len(m.Containers) > 20 {
			add("spec.appContainerMounts[%d].containers lists %d containers, at most 20 are allowed", i, len(m.Containers))
		}
		if dup := duplicate(m.Containers); dup != "" {
			add("spec.appContainerMounts[%d].containers lists %q twice: keep one", i, dup)
		}
	}
	return errs
}

// dnsLabel says what is wrong with a name that must be a DNS label, as the CRD's rule does; "" when nothing.
func dnsLabel(name string) string {
	ok := len(name) > 0 && len(name) <= 63 && !strings.HasPrefix(name, "-") && !strings.HasSuffix(name, "-") &&
		strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789-") == ""
	if ok {
		return ""
	}
	return "must be a DNS label: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit"
}

func duplicate[T comparable](list []T) T {
	seen := map[T]bool{}
	var zero T
	for _, x := range list {
		if seen[x] {
			return x
		}
		seen[x] = true
	}
	return zero
}

// collisions reports pairs of profiles that Outrigger's validating webhook would not both admit: they can
// select a common workload and share a sidecar or volume name, so on that workload one would be a conflict.
// The webhook refuses whichever is applied second; offline there is no second, so both are named.
func collisions(profiles []profile, nsLabels func(string) map[string]string) []string {
	var out []string
	for i, p := range profiles {
		for _, q := range profiles[i+1:] {
			if !selection.MayOverlap(p, q, nsLabels) {
				continue
			}
			if shared := strings.Join(selection.SharedNames(p, q), " and "); shared != "" {
				out = append(out, fmt.Sprintf("%s (%s) and %s (%s) can select the same workloads and both declare %s: "+
					"Outrigger's validating webhook refuses the second one applied; rename it in one of them, or make their "+
					"selectors (or workloadKinds) disjoint", selection.Name(p), p.doc.Where(), selection.Name(q), q.doc.Where(), shared))
			}
		}
	}
	return out
}
