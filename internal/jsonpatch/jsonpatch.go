// Package jsonpatch computes the RFC 6902 JSON patch a mutating admission webhook answers with.
//
// The webhook works on typed objects (k8s.io/api), but the apiserver applies the patch to the RAW object of the
// admission request, which may hold fields our structs do not know (a newer apiserver, an alpha field). The patch
// is therefore the diff of json.Marshal(typedBefore) against json.Marshal(typedAfter): both lack the unknown
// fields, so no operation targets them, and they must survive the patch ON THE ELEMENT THEY BELONG TO.
//
// Generic diffs compare arrays index by index: inserting a sidecar before the user's init container would then
// rewrite the user's container into the sidecar and re-add the user's container after it, leaving the user's
// unknown fields on the sidecar. Diff instead matches the elements of arrays of named objects by their key:
//   - objects: keys only in before are removed, keys only in after are added, the others are diffed recursively;
//   - arrays whose elements are all objects with a string key field whose values are unique, in before and in
//     after (keyFields, tried in order): an element whose key is in both is diffed recursively, at its index in
//     before, and if it changes position it is moved, not removed and re-added, so it keeps its unknown fields;
//     the others are removed or added (see diffKeyed);
//   - any other array, and values of different types: one replace of the whole value, if they differ.
//
// Operations are deterministic (object keys sorted) and numbers keep their text (json.Number).
package jsonpatch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
)

// Operation is one RFC 6902 operation. Diff emits add, remove, replace and move.
type Operation struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	From  string `json:"from,omitempty"` // move only
	Value any    `json:"value,omitempty"`
}

// MarshalJSON writes "value" for add, replace and test even when it is nil: RFC 6902 requires the member, and
// `"value": null` is how an operation sets a field to null. Other operations have no value.
func (o Operation) MarshalJSON() ([]byte, error) {
	type plain struct {
		Op   string `json:"op"`
		Path string `json:"path"`
		From string `json:"from,omitempty"`
	}
	switch o.Op {
	case "add", "replace", "test":
		return json.Marshal(struct {
			plain
			Value any `json:"value"`
		}{plain{o.Op, o.Path, o.From}, o.Value})
	default:
		return json.Marshal(plain{o.Op, o.Path, o.From})
	}
}

// Diff returns the operations that turn the JSON document before into after, applied in order. It returns an
// empty, non-nil slice when they are equal, so that the marshalled patch is [] rather than null.
func Diff(before, after []byte) ([]Operation, error) {
	a, err := decode(before)
	if err != nil {
		return nil, fmt.Errorf("before: %w", err)
	}
	b, err := decode(after)
	if err != nil {
		return nil, fmt.Errorf("after: %w", err)
	}
	return diff("", a, b, []Operation{}), nil
}

// Prefix returns ops with prefix, a JSON pointer such as "/spec/template", prepended to every path: the diff of a
// pod template applies to the object that holds it. ops is not modified.
func Prefix(ops []Operation, prefix string) []Operation {
	out := make([]Operation, len(ops))
	for i, op := range ops {
		op.Path = prefix + op.Path
		if op.From != "" {
			op.From = prefix + op.From
		}
		out[i] = op
	}
	return out
}

// decode reads exactly one JSON value, with numbers as json.Number so that large integers keep every digit.
func decode(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("invalid data after the JSON value")
	}
	return v, nil
}

func diff(path string, a, b any, ops []Operation) []Operation {
	switch a := a.(type) {
	case map[string]any:
		if b, ok := b.(map[string]any); ok {
			return diffObject(path, a, b, ops)
		}
	case []any:
		if b, ok := b.([]any); ok {
			return diffArray(path, a, b, ops)
		}
	}
	if reflect.DeepEqual(a, b) {
		return ops
	}
	return append(ops, Operation{Op: "replace", Path: path, Value: b})
}

func diffObject(path string, a, b map[string]any, ops []Operation) []Operation {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		av, inA := a[k]
		bv, inB := b[k]
		p := path + "/" + escape(k)
		switch {
		case !inB:
			ops = append(ops, Operation{Op: "remove", Path: p})
		case !inA:
			ops = append(ops, Operation{Op: "add", Path: p, Value: bv})
		default:
			ops = diff(p, av, bv, ops)
		}
	}
	return ops
}

func diffArray(path string, a, b []any, ops []Operation) []Operation {
	if reflect.DeepEqual(a, b) {
		return ops
	}
	if key, ok := arrayKey(a, b); ok {
		return diffKeyed(path, a, b, key, ops)
	}
	// Without a key, an element cannot be told apart from the one that takes its index: replacing the whole
	// array drops the unknown fields of its elements rather than moving them onto another element.
	return append(ops, Operation{Op: "replace", Path: path, Value: b})
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// escape makes an object key a JSON pointer token (RFC 6901): annotation keys such as
// sidecars.outrigger.dev/injection contain "/".
func escape(key string) string { return pointerEscaper.Replace(key) }
