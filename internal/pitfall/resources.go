package pitfall

import (
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	resourcehelper "k8s.io/component-helpers/resource"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/advice"
	"github.com/outrigger-dev/outrigger/internal/inject"
)

// The pod the apiserver admits is not the template: it first defaults each container's requests to its limits,
// then the LimitRanger admission plugin fills the requests and limits left unset from the namespace's LimitRanges
// and checks them, and then the ResourceQuota plugin checks the pod against each quota. These checks replay that
// on the template, for the sidecars only, and say which refusal the sidecars would cause.

// admittedPod is the pod of a template as the apiserver judges it: defaulted as a Pod, then given the
// LimitRanges' defaults.
func admittedPod(spec *corev1.PodSpec, ranges []corev1.LimitRange) *corev1.Pod {
	pod := &corev1.Pod{Spec: *spec.DeepCopy()}
	defaults := containerDefaults(ranges)
	for _, cs := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range cs {
			c := &cs[i]
			if c.Resources.Requests == nil {
				c.Resources.Requests = corev1.ResourceList{}
			}
			if c.Resources.Limits == nil {
				c.Resources.Limits = corev1.ResourceList{}
			}
			for name, q := range c.Resources.Limits { // SetDefaults_Pod: requests default to limits
				if _, ok := c.Resources.Requests[name]; !ok {
					c.Resources.Requests[name] = q.DeepCopy()
				}
			}
			fill(c.Resources.Limits, defaults.Limits)
			fill(c.Resources.Requests, defaults.Requests)
		}
	}
	return pod
}

func fill(into, from corev1.ResourceList) {
	for name, q := range from {
		if _, ok := into[name]; !ok {
			into[name] = q.DeepCopy()
		}
	}
}

// containerDefaults are the defaults the LimitRanges give a container, with the apiserver's defaulting of a
// LimitRange (a default limit is the max when unset; a default request is the default limit, else the min):
// the cache holds them defaulted already, the CLI's manifests may not.
func containerDefaults(ranges []corev1.LimitRange) corev1.ResourceRequirements {
	out := corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	for _, lr := range ranges {
		for _, item := range lr.Spec.Limits {
			if item.Type != corev1.LimitTypeContainer {
				continue
			}
			limits, requests := item.Default.DeepCopy(), item.DefaultRequest.DeepCopy()
			if limits == nil {
				limits = corev1.ResourceList{}
			}
			if requests == nil {
				requests = corev1.ResourceList{}
			}
			fill(limits, item.Max)
			fill(requests, limits)
			fill(requests, item.Min)
			for name, q := range limits {
				out.Limits[name] = q
			}
			for name, q := range requests {
				out.Requests[name] = q
			}
		}
	}
	return out
}

// sidecarIn finds a sidecar's container in an admitted pod.
func sidecarIn(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	return nil
}

// without returns the pod spec without a profile's sidecars: what the workload's pods are without them.
func (w *workload) without(ref inject.ProfileRef) *corev1.PodSpec {
	spec := w.spec.DeepCopy()
	mine := map[string]bool{}
	for _, n := range w.sidecarsOf(ref) {
		mine[n] = true
	}
	kept := spec.InitContainers[:0]
	for _, c := range spec.InitContainers {
		if !mine[c.Name] {
			kept = append(kept, c)
		}
	}
	spec.InitContainers = kept
	return spec
}

// limitRanges: a LimitRange whose Container min, max or maxLimitRequestRatio a sidecar breaks (after the
// defaults), or whose Pod max or min the sidecars push the pod past, refuses every pod of the workload. Also a
// default limit below a sidecar's own request, which makes the pod invalid.
func limitRanges(w *workload, ns Namespace) []advice.Advice {
	if len(ns.LimitRanges) == 0 {
		return nil
	}
	pod := w.pod()
	var out []advice.Advice
	for _, s := range w.sidecars {
		c := sidecarIn(pod, s.container.Name)
		var problems []string
		for _, lr := range ns.LimitRanges {
			for _, item := range lr.Spec.Limits {
				if item.Type == corev1.LimitTypeContainer {
					problems = append(problems, prefixed("LimitRange "+lr.Name+": ", containerLimits(item, c.Resources))...)
				}
			}
		}
		problems = append(problems, invalidRequests(s.container, c.Resources)...)
		if len(problems) > 0 {
			out = append(out, advice.Advice{Profile: s.profile, Sidecar: s.container.Name, Reason: v1alpha1.ReasonLimitRangeRefusesSidecars,
				Message: fmt.Sprintf("the namespace's LimitRanges refuse the pods with this sidecar (%s), so none would be created: "+
					"change the sidecar's resources in the profile to fit, or the LimitRange", strings.Join(problems, "; "))})
		}
	}
	for _, ref := range w.profiles() {
		out = append(out, podLimits(w, ns, pod, ref)...)
	}
	return out
}

// podLimits: the Pod items of the LimitRanges that the pod with the profile's sidecars breaks and the pod without
// them does not.
func podLimits(w *workload, ns Namespace, pod *corev1.Pod, ref inject.ProfileRef) []advice.Advice {
	bare := admittedPod(w.without(ref), ns.LimitRanges)
	with, without := podResources(pod), podResources(bare)
	var problems []string
	for _, lr := range ns.LimitRanges {
		for _, item := range lr.Spec.Limits {
			if item.Type != corev1.LimitTypePod {
				continue
			}
			before := map[string]bool{}
			for _, p := range containerLimits(item, without) {
				before[p] = true
			}
			for _, p := range containerLimits(item, with) {
				if !before[p] {
					problems = append(problems, fmt.Sprintf("LimitRange %s: %s", lr.Name, p))
				}
			}
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return []advice.Advice{{Profile: ref, Reason: v1alpha1.ReasonLimitRangeRefusesSidecars,
		Message: fmt.Sprintf("the namespace's LimitRanges refuse the pods with the sidecars %s, which they admit without them (%s): "+
			"lower the sidecars' resources in the profile, or raise the LimitRange's Pod limits", quoted(w.sidecarsOf(ref)), strings.Join(problems, "; "))}}
}

// podResources are a pod's requests and limits as the LimitRanger and the quota count them: the app containers
// and the sidecars together, an ordinary init container alone with the sidecars before it.
func podResources(pod *corev1.Pod) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{}),
		Limits:   resourcehelper.PodLimits(pod, resourcehelper.PodResourcesOptions{}),
	}
}

// containerLimits says how requests and limits break one LimitRange item, in the LimitRanger's words.
func containerLimits(item corev1.LimitRangeItem, r corev1.ResourceRequirements) []string {
	var out []string
	for _, name := range sortedNames(item.Min) {
		min := item.Min[name]
		req, hasReq := r.Requests[name]
		lim, hasLim := r.Limits[name]
		switch {
		case !hasReq:
			out = append(out, fmt.Sprintf("minimum %s per %s is %s, and no request is set", name, item.Type, min.String()))
		case req.Cmp(min) < 0:
			out = append(out, fmt.Sprintf("minimum %s per %s is %s, but the request is %s", name, item.Type, min.String(), req.String()))
		case hasLim && lim.Cmp(min) < 0:
			out = append(out, fmt.Sprintf("minimum %s per %s is %s, but the limit is %s", name, item.Type, min.String(), lim.String()))
		}
	}
	for _, name := range sortedNames(item.Max) {
		max := item.Max[name]
		req, hasReq := r.Requests[name]
		lim, hasLim := r.Limits[name]
		switch {
		case !hasLim:
			out = append(out, fmt.Sprintf("maximum %s per %s is %s, and no limit is set", name, item.Type, max.String()))
		case lim.Cmp(max) > 0:
			out = append(out, fmt.Sprintf("maximum %s per %s is %s, but the limit is %s", name, item.Type, max.String(), lim.String()))
		case hasReq && req.Cmp(max) > 0:
			out = append(out, fmt.Sprintf("maximum %s per %s is %s, but the request is %s", name, item.Type, max.String(), req.String()))
		}
	}
	for _, name := range sortedNames(item.MaxLimitRequestRatio) {
		ratio := item.MaxLimitRequestRatio[name]
		req, hasReq := r.Requests[name]
		lim, hasLim := r.Limits[name]
		switch {
		case !hasReq || req.IsZero():
			out = append(out, fmt.Sprintf("%s limit to request ratio per %s is at most %s, and no request is set", name, item.Type, ratio.String()))
		case !hasLim || lim.IsZero():
			out = append(out, fmt.Sprintf("%s limit to request ratio per %s is at most %s, and no limit is set", name, item.Type, ratio.String()))
		case float64(lim.MilliValue())/float64(req.MilliValue()) > ratio.AsApproximateFloat64():
			out = append(out, fmt.Sprintf("%s limit to request ratio per %s is at most %s, but it is %s/%s", name, item.Type, ratio.String(), lim.String(), req.String()))
		}
	}
	return out
}

// invalidRequests: a request above the limit (the sidecar's own request against a LimitRange's default limit)
// makes the pod invalid. A sidecar that sets both wrongly is refused by the profile's own validation already.
func invalidRequests(own *corev1.Container, r corev1.ResourceRequirements) []string {
	var out []string
	for _, name := range sortedNames(r.Requests) {
		req, lim := r.Requests[name], r.Limits[name]
		_, ownLimit := own.Resources.Limits[name]
		if _, hasLim := r.Limits[name]; hasLim && !ownLimit && req.Cmp(lim) > 0 {
			out = append(out, fmt.Sprintf("the default %s limit %s is below the sidecar's request %s: set the sidecar's limit", name, lim.String(), req.String()))
		}
	}
	return out
}

func prefixed(prefix string, ss []string) []string {
	for i := range ss {
		ss[i] = prefix + ss[i]
	}
	return ss
}

func sortedNames(l corev1.ResourceList) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(l))
	for n := range l {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	return names
}

// computeQuota maps the compute resources a quota can hold to whether a pod counts them in requests or limits,
// and which resource. Only cpu and memory oblige every container to set a value (the quota plugin's
// validationSet, kept for backward compatibility); the others are only counted.
var computeQuota = map[corev1.ResourceName]struct {
	resource corev1.ResourceName
	limits   bool
	required bool
}{
	corev1.ResourceCPU:                      {corev1.ResourceCPU, false, true},
	corev1.ResourceRequestsCPU:              {corev1.ResourceCPU, false, true},
	corev1.ResourceLimitsCPU:                {corev1.ResourceCPU, true, true},
	corev1.ResourceMemory:                   {corev1.ResourceMemory, false, true},
	corev1.ResourceRequestsMemory:           {corev1.ResourceMemory, false, true},
	corev1.ResourceLimitsMemory:             {corev1.ResourceMemory, true, true},
	corev1.ResourceEphemeralStorage:         {corev1.ResourceEphemeralStorage, false, false},
	corev1.ResourceRequestsEphemeralStorage: {corev1.ResourceEphemeralStorage, false, false},
	corev1.ResourceLimitsEphemeralStorage:   {corev1.ResourceEphemeralStorage, true, false},
}

// quotas: a ResourceQuota on cpu or memory obliges every container, sidecars too, to set that request or limit
// (or get it from a LimitRange): a sidecar that sets none makes every pod refused. And a quota whose hard limit
// the workload's pods fit without the sidecars but not with them refuses the pods beyond it. Quotas with scopes
// are left out (whether they apply depends on the pod's priority class, QoS and deadline), and so are object
// counts, which sidecars do not change. What other workloads use of the quota is not counted: the check is of
// the workload alone, at its replicas.
func quotas(w *workload, ns Namespace) []advice.Advice {
	var out []advice.Advice
	for _, q := range ns.Quotas {
		if len(q.Spec.Scopes) > 0 || q.Spec.ScopeSelector != nil {
			continue
		}
		pod := w.pod()
		for _, s := range w.sidecars {
			if w.spec.Resources != nil {
				break // pod-level resources: the quota plugin then asks nothing of each container
			}
			if missing := missingForQuota(q, sidecarIn(pod, s.container.Name)); len(missing) > 0 {
				out = append(out, advice.Advice{Profile: s.profile, Sidecar: s.container.Name, Reason: v1alpha1.ReasonQuotaRefusesSidecars,
					Message: fmt.Sprintf("ResourceQuota %s has a hard %s, so every container must set %s, and the sidecar does not (nor does "+
						"a LimitRange give a default): every pod would be refused; set %s on the sidecar in the profile",
						q.Name, strings.Join(missing, ", "), itOrThem(len(missing)), fieldsFor(missing))})
			}
		}
		for _, ref := range w.profiles() {
			out = append(out, overQuota(w, ns, q, pod, ref)...)
		}
	}
	return out
}

func itOrThem(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

// missingForQuota names the quota's cpu and memory resources a container does not set.
func missingForQuota(q corev1.ResourceQuota, c *corev1.Container) []string {
	var out []string
	for _, name := range sortedNames(q.Spec.Hard) {
		r, ok := computeQuota[name]
		if !ok || !r.required {
			continue
		}
		list := c.Resources.Requests
		if r.limits {
			list = c.Resources.Limits
		}
		if _, set := list[r.resource]; !set {
			out = append(out, string(name))
		}
	}
	return out
}

// fieldsFor names the container fields of quota resources: limits.memory is resources.limits.memory, cpu and
// requests.cpu are resources.requests.cpu.
func fieldsFor(names []string) string {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		r := computeQuota[corev1.ResourceName(n)]
		f := "resources.requests." + string(r.resource)
		if r.limits {
			f = "resources.limits." + string(r.resource)
		}
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return strings.Join(out, " and ")
}

// overQuota: the quota's compute resources that the workload's pods, at its replicas, exceed with the profile's
// sidecars and not without.
func overQuota(w *workload, ns Namespace, q corev1.ResourceQuota, pod *corev1.Pod, ref inject.ProfileRef) []advice.Advice {
	replicas := w.replicas()
	with, without := podResources(pod), podResources(admittedPod(w.without(ref), ns.LimitRanges))
	var problems []string
	for _, name := range sortedNames(q.Spec.Hard) {
		r, ok := computeQuota[name]
		if !ok {
			continue
		}
		hard := q.Spec.Hard[name]
		need, before := total(with, r.resource, r.limits, replicas), total(without, r.resource, r.limits, replicas)
		if need.Cmp(hard) > 0 && before.Cmp(hard) <= 0 {
			problems = append(problems, fmt.Sprintf("%s: %d pods need %s with the sidecars (%s without), over the hard %s",
				name, replicas, need.String(), before.String(), hard.String()))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return []advice.Advice{{Profile: ref, Reason: v1alpha1.ReasonQuotaRefusesSidecars,
		Message: fmt.Sprintf("ResourceQuota %s admits the workload's pods without the sidecars %s but not with them (%s): the pods over the "+
			"quota would be refused and the rollout would stall; lower the sidecars' resources in the profile, or raise the quota",
			q.Name, quoted(w.sidecarsOf(ref)), strings.Join(problems, "; "))}}
}

func total(r corev1.ResourceRequirements, name corev1.ResourceName, limits bool, replicas int64) resource.Quantity {
	list := r.Requests
	if limits {
		list = r.Limits
	}
	q := list[name]
	format := q.Format
	if format == "" {
		format = resource.DecimalSI
	}
	return *resource.NewMilliQuantity(q.MilliValue()*replicas, format)
}

// replicas is how many pods of the workload run at once: its replicas, a Job's parallelism; one for a
// DaemonSet (per node) and for kinds that do not say.
func (w *workload) replicas() int64 {
	n := int64(1)
	switch o := w.in.Object.(type) {
	case *appsv1.Deployment:
		n = int64(ptrOr(o.Spec.Replicas, 1))
	case *appsv1.StatefulSet:
		n = int64(ptrOr(o.Spec.Replicas, 1))
	case *batchv1.Job:
		n = int64(ptrOr(o.Spec.Parallelism, 1))
	case *batchv1.CronJob:
		n = int64(ptrOr(o.Spec.JobTemplate.Spec.Parallelism, 1))
	case *unstructured.Unstructured:
		if r, found, err := unstructured.NestedInt64(o.Object, "spec", "replicas"); found && err == nil {
			n = r
		}
	}
	if n < 1 {
		return 1
	}
	return n
}

func ptrOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}
