package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	jsonpatchv4 "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/catalog"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/jsonpatch"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// Injector is the mutating webhook for Deployments (create, update), Jobs (create) and CronJobs (create,
// update). It never refuses a request: anything it cannot do is allowed unchanged, with a warning, and the
// reconciler (or, for a Job, the profile's status) takes it from there.
type Injector struct {
	Catalog catalog.Catalog
}

// Handle answers with a JSON patch of the paths the engine changed, computed so that it applies to the raw
// object: a field our k8s.io/api does not know survives.
func (h *Injector) Handle(ctx context.Context, req admission.Request) admission.Response {
	kind, ok := workload.ByName(v1alpha1.WorkloadKind(req.Kind.Kind))
	if !ok || (kind.Immutable && req.Operation != admissionv1.Create) {
		return admission.Allowed("")
	}
	obj := kind.NewObject()
	if err := json.Unmarshal(req.Object.Raw, obj); err != nil {
		return allowedWithWarning(ctx, "cannot read the %s (%v): no sidecars injected", req.Kind.Kind, err)
	}
	if obj.GetNamespace() == "" {
		obj.SetNamespace(req.Namespace) // a create request may leave it to the URL
	}
	profiles, err := h.Catalog.EngineInput(ctx, kind, obj, false)
	if err != nil {
		return allowedWithWarning(ctx, "cannot list the profiles for %s %s: %v; the reconciler injects it later", kind.Name, obj.GetName(), err)
	}
	before := kind.Template(obj)
	res, held, err := injectMountable(before, profiles)
	if err != nil {
		return allowedWithWarning(ctx, "%s %s: %v", kind.Name, obj.GetName(), err)
	}
	warnings := append(conflictWarnings(res), held...)
	if !res.Changed {
		return admission.Allowed("").WithWarnings(warnings...)
	}
	patch, err := templatePatch(kind.TemplatePath, before, res.Template)
	if err != nil {
		return allowedWithWarning(ctx, "%s %s: %v", kind.Name, obj.GetName(), err)
	}
	if err := appliesTo(patch, req.Object.Raw, kind.TemplatePath); err != nil {
		return allowedWithWarning(ctx, "%s %s: no sidecars injected: the pod template at %s is missing or not an object (%v)",
			kind.Name, obj.GetName(), kind.TemplatePath, err)
	}
	return patchResponse(patch).WithWarnings(warnings...)
}

// injectMountable injects the profiles, but holds back (as KeepOnly: what an earlier revision added stays, nothing
// new is added) every profile whose sidecars would mount a volume that the pod does not have: the apiserver
// refuses such a template, so injecting it would block the workload's creation, which this webhook never does.
// The CRD cannot refuse these profiles itself: a CEL rule over every sidecar's volumeMounts exceeds the
// apiserver's cost budget, since corev1.Container does not bound them. It returns a warning per profile held.
func injectMountable(tmpl *corev1.PodTemplateSpec, profiles []inject.Profile) (inject.Result, []string, error) {
	profiles = slices.Clone(profiles)
	var warnings []string
	for {
		res, err := inject.Inject(tmpl, profiles)
		if err != nil {
			return res, nil, err
		}
		missing, err := missingVolumes(res.Template, profiles)
		if err != nil {
			return res, nil, err
		}
		held := false
		for i, p := range profiles {
			if msg, ok := missing[p.Ref]; ok && !p.KeepOnly {
				profiles[i].KeepOnly, held = true, true
				warnings = append(warnings, fmt.Sprintf("Outrigger did not inject %s: %s", p.Ref, msg))
			}
		}
		if !held { // each round holds one more profile back, so this ends
			return res, warnings, nil
		}
	}
}

// missingVolumes names, per profile, the first mount of one of its injected sidecars whose volume the template
// does not declare, as a message naming the profile's field and the fix.
func missingVolumes(tmpl *corev1.PodTemplateSpec, profiles []inject.Profile) (map[inject.ProfileRef]string, error) {
	rec, err := inject.ReadRecord(tmpl)
	if err != nil {
		return nil, err
	}
	declared := map[string]bool{}
	for _, v := range tmpl.Spec.Volumes {
		declared[v.Name] = true
	}
	out := map[inject.ProfileRef]string{}
	for _, e := range rec.Profiles {
		for _, name := range e.InitContainers {
			i := slices.IndexFunc(tmpl.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == name })
			if i < 0 {
				continue
			}
			for _, m := range tmpl.Spec.InitContainers[i].VolumeMounts {
				if !declared[m.Name] {
					out[e.ProfileRef] = fmt.Sprintf("%s mounts volume %q, which neither the profile's spec.volumes nor the "+
						"workload declares, so the pod would be invalid: add the volume to spec.volumes, or fix the name",
						mountField(profiles, e.ProfileRef, name, m.MountPath), m.Name)
					break
				}
			}
		}
	}
	return out, nil
}

// mountField is the profile field of a sidecar's mount, spec.sidecars[i].volumeMounts[j].name, or the sidecar's
// name when the profile no longer has it (a revision kept from before).
func mountField(profiles []inject.Profile, ref inject.ProfileRef, sidecar, mountPath string) string {
	p := slices.IndexFunc(profiles, func(p inject.Profile) bool { return p.Ref == ref })
	if p >= 0 {
		for i, s := range profiles[p].Spec.Sidecars {
			if s.Name != sidecar {
				continue
			}
			for j, m := range s.VolumeMounts {
				if m.MountPath == mountPath {
					return fmt.Sprintf("sidecar %q (spec.sidecars[%d].volumeMounts[%d].name)", sidecar, i, j)
				}
			}
		}
	}
	return fmt.Sprintf("sidecar %q", sidecar)
}

// templatePatch diffs the typed templates and places the operations under the template's path in the object.
func templatePatch(path string, before, after *corev1.PodTemplateSpec) ([]byte, error) {
	a, err := json.Marshal(before)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(after)
	if err != nil {
		return nil, err
	}
	ops, err := jsonpatch.Diff(a, b)
	if err != nil {
		return nil, fmt.Errorf("computing the patch: %w", err)
	}
	return json.Marshal(jsonpatch.Prefix(ops, path))
}

// appliesTo checks that the patch applies to the raw object. A template whose metadata and spec are objects
// takes any diff of typed templates (their arrays and keys come from it), so the check is a look at those two;
// only a template that is missing, null or odd gets the full check, applying the patch, which took half the
// handler's time on the benchmark (docs/benchmarks.md).
func appliesTo(patch, raw []byte, templatePath string) error {
	if templateWellFormed(raw, templatePath) {
		return nil
	}
	return applies(patch, raw)
}

// templateWellFormed reports whether the raw object has, at path, a template whose metadata and spec are JSON
// objects.
func templateWellFormed(raw []byte, path string) bool {
	node := json.RawMessage(raw)
	for key := range strings.SplitSeq(strings.TrimPrefix(path, "/"), "/") {
		var m map[string]json.RawMessage
		if json.Unmarshal(node, &m) != nil {
			return false
		}
		var ok bool
		if node, ok = m[key]; !ok {
			return false
		}
	}
	var tmpl map[string]json.RawMessage
	if json.Unmarshal(node, &tmpl) != nil {
		return false
	}
	return isObject(tmpl["metadata"]) && isObject(tmpl["spec"])
}

func isObject(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) > 0 && v[0] == '{'
}

// applies checks that the patch applies to the raw object. The patch is a diff of typed templates, which always
// have their metadata and spec; a raw object whose template (or its metadata or spec) is missing or null has
// nowhere to add to, and a patch the apiserver cannot apply fails the request whatever the failurePolicy.
func applies(patch, raw []byte) error {
	p, err := jsonpatchv4.DecodePatch(patch)
	if err != nil {
		return err
	}
	_, err = p.Apply(raw)
	return err
}

func patchResponse(patch []byte) admission.Response {
	pt := admissionv1.PatchTypeJSONPatch
	return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{
		Allowed: true, Patch: patch, PatchType: &pt,
		Result: &metav1.Status{Code: http.StatusOK},
	}}
}

// conflictWarnings tells the person creating the workload which profiles were not injected, and why.
func conflictWarnings(res inject.Result) []string {
	var out []string
	for _, p := range res.Profiles {
		for _, c := range p.Conflicts {
			out = append(out, fmt.Sprintf("Outrigger did not inject %s: %s", p.Ref, c.Message()))
		}
	}
	return out
}

// allowedWithWarning admits the object unchanged: a webhook that cannot inject must never block a deploy.
func allowedWithWarning(ctx context.Context, format string, args ...any) admission.Response {
	msg := fmt.Sprintf("Outrigger: "+format, args...)
	log.FromContext(ctx).Info(msg)
	return admission.Allowed("").WithWarnings(msg)
}
