package inject

import (
	"reflect"

	"k8s.io/apimachinery/pkg/api/equality"
)

// derives reports whether live holds everything rendered sets, so that live can stand for rendered: fields that
// rendered leaves unset may carry whatever the apiserver defaulted them to (terminationMessagePath, a port's
// protocol, a probe's timeoutSeconds). Unset is what the API defaults: an empty string, a nil pointer, an empty
// list or map, and a zero number. Semantic.DeepDerivative alone compares zero numbers, so a probe's defaulted
// timeoutSeconds would look like drift and be "repaired" on every reconcile. Booleans are compared: no default
// turns one true, so a true that rendered does not set is a hand edit to repair.
func derives(rendered, live any) bool {
	return derive(reflect.ValueOf(rendered), reflect.ValueOf(live))
}

func derive(a, b reflect.Value) bool {
	if !a.IsValid() {
		return true
	}
	if !b.IsValid() || a.Type() != b.Type() {
		return false
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() {
			return true
		}
		return !b.IsNil() && derive(a.Elem(), b.Elem())
	case reflect.Slice:
		if a.Len() == 0 {
			return true
		}
		if a.Len() != b.Len() {
			return false
		}
		for i := 0; i < a.Len(); i++ {
			if !derive(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		for _, k := range a.MapKeys() {
			if !derive(a.MapIndex(k), b.MapIndex(k)) {
				return false
			}
		}
		return true
	case reflect.Struct:
		return deriveStruct(a, b)
	case reflect.String:
		return a.Len() == 0 || a.String() == b.String()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return a.IsZero() || a.Equal(b)
	default:
		return a.Equal(b)
	}
}

// deriveStruct walks exported fields; a struct with unexported state (resource.Quantity) is compared as the API
// compares it.
func deriveStruct(a, b reflect.Value) bool {
	t := a.Type()
	for i := 0; i < t.NumField(); i++ {
		if !t.Field(i).IsExported() {
			return a.IsZero() || equality.Semantic.DeepEqual(a.Interface(), b.Interface())
		}
	}
	for i := 0; i < t.NumField(); i++ {
		if !derive(a.Field(i), b.Field(i)) {
			return false
		}
	}
	return true
}
