package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	jsonpatchv4 "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/advice"
	"github.com/outrigger-dev/outrigger/internal/advisor"
	"github.com/outrigger-dev/outrigger/internal/catalog"
	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/metrics"
	"github.com/outrigger-dev/outrigger/internal/mutation"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// Injector is the mutating webhook for Deployments (create, update), Jobs (create) and CronJobs (create,
// update). It never refuses a request: anything it cannot do is allowed unchanged, with a warning, and the
// reconciler (or, for a Job, the profile's status) takes it from there.
type Injector struct {
	Catalog catalog.Catalog
	// Kinds are the kinds the manager serves now (a *workload.Set); nil means the built-in ones.
	Kinds KindFinder
	// Advisor, when set, adds the advice about the workload as it will be stored (internal/advisor) to the
	// warnings.
	Advisor *advisor.Advisor
}

// KindFinder finds a kind by its name.
type KindFinder interface {
	ByName(v1alpha1.WorkloadKind) (workload.Kind, bool)
}

func (h *Injector) kinds() KindFinder {
	if h.Kinds == nil {
		return workload.All
	}
	return h.Kinds
}

// Handle answers with the JSON patch internal/mutation computes (the CLI applies the same one to manifests): the
// paths the engine changed, computed so that it applies to the raw object, where a field our k8s.io/api does not
// know survives.
func (h *Injector) Handle(ctx context.Context, req admission.Request) admission.Response {
	kind, ok := h.kinds().ByName(v1alpha1.WorkloadKind(req.Kind.Kind))
	if !ok || (kind.Immutable && req.Operation != admissionv1.Create) {
		decideNotServed(ctx, ok)
		return admission.Allowed("")
	}
	obj := kind.NewObject()
	if err := json.Unmarshal(req.Object.Raw, obj); err != nil {
		return allowedWithWarning(ctx, "cannot read the %s (%v): no sidecars injected", req.Kind.Kind, err)
	}
	if obj.GetNamespace() == "" {
		obj.SetNamespace(req.Namespace) // a create request may leave it to the URL
	}
	if _, err := kind.PodTemplate(obj); err != nil {
		var none *workload.NoTemplateError
		if errors.As(err, &none) {
			metrics.Decide(ctx, metrics.Skipped, metrics.NoPodTemplate)
			return admission.Allowed("") // nothing to inject here; the status of a profile selecting it says why
		}
		return allowedWithWarning(ctx, "%s %s: no sidecars injected: %v", kind.Name, obj.GetName(), err)
	}
	profiles, err := h.Catalog.EngineInput(ctx, kind, obj, catalog.Admission)
	if err != nil {
		return allowedWithWarning(ctx, "cannot list the profiles for %s %s: %v; the reconciler injects it later", kind.Name, obj.GetName(), err)
	}
	m, err := mutation.Compute(kind, obj, profiles)
	if err != nil {
		return allowedWithWarning(ctx, "%s %s: %v", kind.Name, obj.GetName(), err)
	}
	decide(ctx, obj, profiles, m, h.Catalog.Protected)
	m.Warnings = append(m.Warnings, h.advise(ctx, kind, obj, profiles, m.Template)...)
	if !m.Changed {
		return admission.Allowed("").WithWarnings(m.Warnings...)
	}
	patch, err := json.Marshal(m.Patch)
	if err != nil {
		return allowedWithWarning(ctx, "%s %s: %v", kind.Name, obj.GetName(), err)
	}
	if err := appliesTo(patch, req.Object.Raw, kind.TemplatePath); err != nil {
		return allowedWithWarning(ctx, "%s %s: no sidecars injected: the pod template at %s is missing or not an object (%v)",
			kind.Name, obj.GetName(), kind.TemplatePath, err)
	}
	return patchResponse(patch).WithWarnings(m.Warnings...)
}

// advise returns the advice about the workload as it will be stored, as warnings; none when it cannot be
// gathered (the webhook never fails a request for advice).
func (h *Injector) advise(ctx context.Context, kind workload.Kind, obj client.Object, profiles []inject.Profile, tmpl *corev1.PodTemplateSpec) []string {
	if h.Advisor == nil {
		return nil
	}
	all, err := h.Advisor.Advise(ctx, advisor.Workload{Kind: kind, Object: obj, Template: tmpl, Profiles: profiles})
	if err != nil {
		log.FromContext(ctx).Info("no advice on the workload", "kind", kind.Name, "name", obj.GetName(), "error", err.Error())
		return nil
	}
	return advice.Warnings(all)
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

// allowedWithWarning admits the object unchanged: a webhook that cannot inject must never block a deploy.
func allowedWithWarning(ctx context.Context, format string, args ...any) admission.Response {
	msg := fmt.Sprintf("Outrigger: "+format, args...)
	metrics.Decide(ctx, metrics.Error, metrics.None)
	log.FromContext(ctx).Info(msg)
	return admission.Allowed("").WithWarnings(msg)
}
