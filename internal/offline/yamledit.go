package offline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/outrigger-dev/outrigger/internal/jsonpatch"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// rewrite returns the document's text with the pod template the webhook would give it, changing as little as it
// can.
//
// It applies the webhook's own JSON patch (internal/mutation: the diff of the typed templates, keyed by name,
// under the template's path) to the document's YAML node tree, so every node the patch does not touch keeps its
// comments and style. Then, in order of preference, it:
//  1. re-encodes only the pod template and splices it into the original text: everything outside the template
//     stays byte for byte;
//  2. re-encodes the whole edited document (a flow-style or JSON document);
//  3. re-encodes the document from its JSON, without comments (a last resort, for anchors or merge keys the
//     patch runs into).
//
// Each candidate is accepted only if it reads back to the injected template (want, as JSON) and to the same
// object outside it.
func rewrite(d *Document, kind workload.Kind, ops []jsonpatch.Operation, want []byte) ([]byte, error) {
	lib, err := newLibrary(want)
	if err != nil {
		return nil, err
	}
	path := pointerTokens(kind.TemplatePath)
	for _, attempt := range []func(*Document, []string, []jsonpatch.Operation, library) ([]byte, error){splice, whole, clean} {
		text, err := attempt(d, path, ops, lib)
		if err == nil && verify(d, kind, path, want, text) {
			return text, nil
		}
	}
	return nil, errors.New("cannot write the injected pod template into this document (please report it, with the document)")
}

// splice edits the document's tree and replaces only the lines of the pod template with the edited template.
func splice(d *Document, path []string, ops []jsonpatch.Operation, lib library) ([]byte, error) {
	if d.isJSON() {
		return nil, errors.New("a JSON document is re-encoded whole")
	}
	root, err := parseBody(d.body)
	if err != nil {
		return nil, err
	}
	key, val, err := lookup(root.Content[0], path)
	if err != nil {
		return nil, err
	}
	if val.Kind != yaml.MappingNode || val.Style&yaml.FlowStyle != 0 || val.Line <= key.Line {
		return nil, errors.New("the pod template is not a block mapping of its own lines")
	}
	keyLine, keyCol, valCol := key.Line, key.Column, val.Column
	if err := applyPatch(root.Content[0], ops, lib); err != nil {
		return nil, err
	}
	if _, val, err = lookup(root.Content[0], path); err != nil {
		return nil, err
	}
	enc, err := encode(val, detectLayout(d))
	if err != nil {
		return nil, err
	}
	ls := lines(d.body)
	end := regionEnd(ls, keyLine, keyCol)
	out := append([]byte{}, d.sep...)
	out = append(out, bytes.Join(ls[:keyLine], nil)...)
	out = append(out, indent(enc, valCol-1)...)
	return append(out, bytes.Join(ls[end:], nil)...), nil
}

// regionEnd returns the index of the first line after the value of the key at line keyLine (1-based) and
// column keyCol: the value's lines are those indented more than the key. Comment and blank lines at the key's
// indentation or less that follow the value are left out: they belong to what follows.
func regionEnd(ls [][]byte, keyLine, keyCol int) int {
	end := keyLine
	for i := keyLine; i < len(ls); i++ {
		text := bytes.TrimLeft(ls[i], " ")
		if len(bytes.TrimSpace(text)) == 0 {
			continue
		}
		if len(ls[i])-len(text) < keyCol {
			if text[0] == '#' {
				continue
			}
			break
		}
		end = i + 1
	}
	return end
}

// indent prefixes every non-empty line with n spaces.
func indent(text []byte, n int) []byte {
	pad := []byte(strings.Repeat(" ", n))
	var out []byte
	for _, l := range lines(text) {
		if len(bytes.TrimSpace(l)) > 0 {
			out = append(out, pad...)
		}
		out = append(out, l...)
	}
	return out
}

// whole edits the document's tree and re-encodes all of it. A JSON document becomes block-style YAML.
func whole(d *Document, path []string, ops []jsonpatch.Operation, lib library) ([]byte, error) {
	root, err := parseBody(d.body)
	if err != nil {
		return nil, err
	}
	if d.isJSON() {
		restyle(root)
	}
	return encodeDocument(d, root, ops, lib)
}

// clean builds the document's tree from its JSON, which has no comments, anchors or merge keys.
func clean(d *Document, path []string, ops []jsonpatch.Operation, lib library) ([]byte, error) {
	root, err := parseBody(d.json)
	if err != nil {
		return nil, err
	}
	restyle(root)
	return encodeDocument(d, root, ops, lib)
}

func encodeDocument(d *Document, root *yaml.Node, ops []jsonpatch.Operation, lib library) ([]byte, error) {
	if err := applyPatch(root.Content[0], ops, lib); err != nil {
		return nil, err
	}
	enc, err := encode(root, detectLayout(d))
	if err != nil {
		return nil, err
	}
	return append(append([]byte{}, d.sep...), enc...), nil
}

func parseBody(body []byte) (*yaml.Node, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(body, &root); err != nil {
		return nil, err
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 || root.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("not a mapping")
	}
	return &root, nil
}

// layout is how a document indents: spaces per level, and whether a sequence's "- " sits at its key's column
// (compact, as kubectl and kustomize write) or is indented under it.
type layout struct {
	indent  int
	compact bool
}

// detectLayout reads the layout of a document from its first nested block mapping and block sequence; a
// document that has none (or is JSON) gets kubectl's.
func detectLayout(d *Document) layout {
	l := layout{indent: 2, compact: true}
	if d.isJSON() {
		return l
	}
	foundIndent, foundSeq := false, false
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode && n.Style&yaml.FlowStyle == 0 {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				block := v.Style&yaml.FlowStyle == 0 && v.Line > k.Line
				if !foundIndent && block && v.Kind == yaml.MappingNode && v.Column > k.Column {
					l.indent, foundIndent = v.Column-k.Column, true
				}
				if !foundSeq && block && v.Kind == yaml.SequenceNode {
					l.compact, foundSeq = v.Column == k.Column, true
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(d.node)
	return l
}

func encode(n *yaml.Node, l layout) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(l.indent)
	if l.compact {
		enc.CompactSeqIndent()
	}
	if err := enc.Encode(n); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// verify reports whether text reads back, as kubectl would read it, to the injected template (want, as JSON)
// and to the original document everywhere else.
func verify(d *Document, kind workload.Kind, path []string, want, text []byte) bool {
	got, err := sigsyaml.YAMLToJSON(text)
	if err != nil {
		return false
	}
	obj := kind.NewObject()
	if err := json.Unmarshal(got, obj); err != nil {
		return false
	}
	typed, err := kind.PodTemplate(obj)
	if err != nil {
		return false
	}
	tmpl, err := json.Marshal(typed)
	if err != nil || !bytes.Equal(tmpl, want) {
		return false
	}
	var a, b map[string]any
	if json.Unmarshal(d.json, &a) != nil || json.Unmarshal(got, &b) != nil {
		return false
	}
	deleteAt(a, path)
	deleteAt(b, path)
	return reflect.DeepEqual(a, b)
}

// deleteAt removes the value at a path of object keys.
func deleteAt(m map[string]any, path []string) {
	for _, k := range path[:len(path)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			return
		}
		m = next
	}
	delete(m, path[len(path)-1])
}

// commentsKept reports whether every comment of the document is still in text; rewrite's last resort drops
// them, and the user is then told.
func commentsKept(d *Document, text []byte) bool {
	kept := true
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		for _, c := range []string{n.HeadComment, n.LineComment, n.FootComment} {
			for _, l := range strings.Split(c, "\n") {
				if l = strings.TrimSpace(l); l != "" && !bytes.Contains(text, []byte(l)) {
					kept = false
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	if d.node != nil {
		walk(d.node)
	}
	return kept
}

// lookup returns the key and value nodes at a path of object keys.
func lookup(m *yaml.Node, path []string) (key, val *yaml.Node, err error) {
	for i, tok := range path {
		if m.Kind != yaml.MappingNode {
			return nil, nil, fmt.Errorf("/%s is not a mapping", strings.Join(path[:i], "/"))
		}
		j := keyIndex(m, tok)
		if j < 0 {
			return nil, nil, fmt.Errorf("/%s is missing", strings.Join(path[:i+1], "/"))
		}
		key, val = m.Content[j], m.Content[j+1]
		m = val
	}
	return key, val, nil
}
