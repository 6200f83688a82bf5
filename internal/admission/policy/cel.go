package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// literal writes a value as a CEL literal, through its JSON form. Every map value and list item is wrapped in
// dyn(): CEL map and list literals are homogeneous, and a container mixes strings, numbers, lists and maps.
func literal(v any) (string, error) {
	tree, err := jsonTree(v)
	if err != nil {
		return "", err
	}
	return writeTree(tree), nil
}

// jsonTree is v's JSON form as maps, lists, strings, numbers (json.Number) and booleans: a literal's tree, which
// the compiler may give CEL expressions in places (celExpr, optionalEntry) before writing it.
func jsonTree(v any) (any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var tree any
	err = dec.Decode(&tree)
	return tree, err
}

// writeTree writes a literal's tree.
func writeTree(tree any) string {
	var b strings.Builder
	writeLiteral(&b, tree)
	return b.String()
}

// celExpr is a CEL expression in a literal's tree, written as it is.
type celExpr string

// optionalEntry, as a map value in a literal's tree, is a CEL optional (optional.of(...) or optional.none()):
// the map has the key only when the optional has a value.
type optionalEntry string

func writeLiteral(b *strings.Builder, v any) {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case celExpr:
		b.WriteString(string(v))
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case json.Number:
		b.WriteString(v.String()) // an int, or a double in a form CEL reads too (a pod template has none)
	case string:
		b.WriteString(quote(v))
	case []any:
		b.WriteString("[")
		for i, item := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("dyn(")
			writeLiteral(b, item)
			b.WriteString(")")
		}
		b.WriteString("]")
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString("{")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			if opt, ok := v[k].(optionalEntry); ok {
				b.WriteString("?" + quote(k) + ": " + string(opt))
				continue
			}
			b.WriteString(quote(k))
			b.WriteString(": dyn(")
			writeLiteral(b, v[k])
			b.WriteString(")")
		}
		b.WriteString("}")
	default:
		panic(fmt.Sprintf("a JSON value of type %T", v))
	}
}

// quote writes a CEL string literal. Go's escapes (\n, \", \\, \uXXXX, \UXXXXXXXX) are CEL's too.
func quote(s string) string { return strconv.Quote(s) }

// stringList is a CEL list of string literals.
func stringList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// labelSelector compiles a parsed label selector into a CEL condition over a map of labels (an expression such
// as variables.labels). It takes the requirements labels.Selector parsed, so it means what Selects means.
func labelSelector(s labels.Selector, labelsExpr string) (string, error) {
	reqs, selectable := s.Requirements()
	if !selectable {
		return "false", nil
	}
	if len(reqs) == 0 {
		return "true", nil
	}
	terms := make([]string, 0, len(reqs))
	for _, r := range reqs {
		key := quote(r.Key())
		has := key + " in " + labelsExpr
		value := labelsExpr + "[" + key + "]"
		values := r.ValuesUnsorted()
		sort.Strings(values)
		switch r.Operator() {
		case selection.Equals, selection.DoubleEquals, selection.In:
			terms = append(terms, fmt.Sprintf("(%s && %s in %s)", has, value, stringList(values)))
		case selection.NotEquals, selection.NotIn:
			terms = append(terms, fmt.Sprintf("(!(%s) || !(%s in %s))", has, value, stringList(values)))
		case selection.Exists:
			terms = append(terms, "("+has+")")
		case selection.DoesNotExist:
			terms = append(terms, "!("+has+")")
		default:
			return "", fmt.Errorf("label selector operator %q has no CEL form", r.Operator())
		}
	}
	return strings.Join(terms, " && "), nil
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// fieldPath turns a JSON pointer (/spec/template) into a CEL field selection from root (object.spec.template);
// a key that is not a CEL identifier is indexed (object.spec["pod-template"]).
func fieldPath(root, pointer string) string {
	out := root
	for _, key := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
		key = strings.ReplaceAll(strings.ReplaceAll(key, "~1", "/"), "~0", "~")
		if identifier.MatchString(key) && !reserved[key] {
			out += "." + key
		} else {
			out += "[" + quote(key) + "]"
		}
	}
	return out
}

// reserved are CEL's reserved words, which a field selection cannot use.
var reserved = map[string]bool{
	"in": true, "as": true, "break": true, "const": true, "continue": true, "else": true, "for": true,
	"function": true, "if": true, "import": true, "let": true, "loop": true, "package": true, "namespace": true,
	"return": true, "var": true, "void": true, "while": true, "true": true, "false": true, "null": true,
}

// escapeKey escapes a map key for a JSON pointer (RFC 6901).
func escapeKey(key string) string {
	return strings.ReplaceAll(strings.ReplaceAll(key, "~", "~0"), "/", "~1")
}
