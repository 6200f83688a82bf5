package workload

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// NoTemplateError says a workload has no pod template where its kind keeps one, and what to do instead.
type NoTemplateError struct {
	// Message says where the workload's pods come from instead, and what a person can do.
	Message string
}

func (e *NoTemplateError) Error() string { return e.Message }

// unstructuredKind is the part of a Kind that every kind read as unstructured objects shares: a kind not built
// into Kubernetes, whose Go types Outrigger does not import (an Argo Rollout, a configured kind). Its objects
// are read at templatePath and selectorPath, JSON pointers; noTemplate, when set, explains an object without a
// template (nil: a plain "no pod template at ..." error).
func unstructuredKind(name v1alpha1.WorkloadKind, gvk schema.GroupVersionKind, resource, templatePath, selectorPath string,
	noTemplate func(*unstructured.Unstructured) string) Kind {
	listGVK := gvk.GroupVersion().WithKind(gvk.Kind + "List")
	return Kind{
		Name:     name,
		GVK:      gvk,
		Resource: resource,
		NewObject: func() client.Object {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(gvk)
			return u
		},
		NewList: func() client.ObjectList {
			l := &unstructured.UnstructuredList{}
			l.SetGroupVersionKind(listGVK)
			return l
		},
		Items: func(l client.ObjectList) []client.Object {
			return objects(l.(*unstructured.UnstructuredList).Items)
		},
		TemplatePath: templatePath,
		readTemplate: func(o client.Object) (*corev1.PodTemplateSpec, error) {
			u := o.(*unstructured.Unstructured)
			var tmpl corev1.PodTemplateSpec
			found, err := readAt(u, templatePath, &tmpl)
			if err == nil && !found {
				msg := ""
				if noTemplate != nil {
					msg = noTemplate(u)
				}
				if msg == "" {
					msg = fmt.Sprintf("the %s has no pod template at %s", name, pointerField(templatePath))
				}
				return nil, &NoTemplateError{Message: msg}
			}
			return &tmpl, err
		},
		PodSelector: func(o client.Object) *metav1.LabelSelector {
			var sel metav1.LabelSelector
			if found, err := readAt(o.(*unstructured.Unstructured), selectorPath, &sel); !found || err != nil {
				return nil
			}
			return &sel
		},
	}
}

// readAt decodes the value at a JSON pointer of an unstructured object into a typed value; found is false when
// there is none (or it is null).
func readAt(u *unstructured.Unstructured, pointer string, into any) (found bool, err error) {
	m, found, err := unstructured.NestedFieldNoCopy(u.Object, pointerTokens(pointer)...)
	if err != nil || !found || m == nil {
		return false, err
	}
	obj, ok := m.(map[string]any)
	if !ok {
		return true, fmt.Errorf("%s is a %T, not an object", pointerField(pointer), m)
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, into); err != nil {
		return true, fmt.Errorf("reading %s: %w", pointerField(pointer), err)
	}
	return true, nil
}

// pointerTokens splits a JSON pointer (RFC 6901) into its unescaped tokens.
func pointerTokens(pointer string) []string {
	tokens := strings.Split(strings.TrimPrefix(pointer, "/"), "/")
	for i, t := range tokens {
		tokens[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(t)
	}
	return tokens
}

// pointerField is a JSON pointer as a person reads a field: /spec/template is spec.template.
func pointerField(pointer string) string { return strings.Join(pointerTokens(pointer), ".") }

// nestedInt reads an integer field of an unstructured object, def when it is absent.
func nestedInt(u *unstructured.Unstructured, def int64, fields ...string) int64 {
	v, found, err := unstructured.NestedFieldNoCopy(u.Object, fields...)
	if err != nil || !found {
		return def
	}
	switch n := v.(type) {
	case int64:
		return n
	case float64:
		return int64(n)
	}
	return def
}

// nestedString reads a string field of an unstructured object, "" when it is absent or not a string.
func nestedString(u *unstructured.Unstructured, fields ...string) string {
	s, _, _ := unstructured.NestedString(u.Object, fields...)
	return s
}
