package offline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/outrigger-dev/outrigger/internal/jsonpatch"
)

// applyPatch applies the webhook's JSON patch operations to a YAML node tree (the document's top mapping), in
// place: nodes the patch does not reach keep their comments, style and order.
//
// One difference with RFC 6902: an add creates the missing mappings on its way. The apiserver applies the
// webhook's patch to its own serialization of the object, where a pod template always has metadata; a manifest
// may leave it out.
func applyPatch(root *yaml.Node, ops []jsonpatch.Operation, lib library) error {
	for _, op := range ops {
		var err error
		switch op.Op {
		case "add", "replace":
			err = put(root, pointerTokens(op.Path), lib.node(op.Value), op.Op == "add")
		case "remove":
			_, err = take(root, pointerTokens(op.Path))
		case "move":
			var n *yaml.Node
			if n, err = take(root, pointerTokens(op.From)); err == nil {
				err = put(root, pointerTokens(op.Path), n, true)
			}
		default:
			err = fmt.Errorf("unsupported operation %q", op.Op)
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", op.Op, op.Path, err)
		}
	}
	return nil
}

// put sets (add: inserts) n at path.
func put(root *yaml.Node, path []string, n *yaml.Node, add bool) error {
	parent, err := walk(root, path[:len(path)-1], add)
	if err != nil {
		return err
	}
	last := path[len(path)-1]
	if len(parent.Content) == 0 {
		parent.Style &^= yaml.FlowStyle // "{}" or "[]" that gets content: write it as a block
	}
	switch parent.Kind {
	case yaml.MappingNode:
		if i := keyIndex(parent, last); i >= 0 {
			keepComments(parent.Content[i+1], n)
			parent.Content[i+1] = n
			return nil
		}
		if !add {
			return fmt.Errorf("no field %q to replace", last)
		}
		addKey(parent, last, n)
	case yaml.SequenceNode:
		i, err := seqIndex(parent, last, add)
		if err != nil {
			return err
		}
		if add {
			parent.Content = slices.Insert(parent.Content, i, n)
		} else {
			keepComments(parent.Content[i], n)
			parent.Content[i] = n
		}
	default:
		return fmt.Errorf("cannot set %q in a scalar", last)
	}
	return nil
}

// take removes the node at path and returns it.
func take(root *yaml.Node, path []string) (*yaml.Node, error) {
	parent, err := walk(root, path[:len(path)-1], false)
	if err != nil {
		return nil, err
	}
	last := path[len(path)-1]
	switch parent.Kind {
	case yaml.MappingNode:
		i := keyIndex(parent, last)
		if i < 0 {
			return nil, fmt.Errorf("no field %q to remove", last)
		}
		n := parent.Content[i+1]
		parent.Content = slices.Delete(parent.Content, i, i+2)
		return n, nil
	case yaml.SequenceNode:
		i, err := seqIndex(parent, last, false)
		if err != nil {
			return nil, err
		}
		n := parent.Content[i]
		parent.Content = slices.Delete(parent.Content, i, i+1)
		return n, nil
	}
	return nil, fmt.Errorf("cannot remove %q from a scalar", last)
}

// walk follows path from root. With create, a missing (or null) mapping on the way is created. An alias on the
// way is replaced by a copy of what it points to, so that editing it changes nothing else.
func walk(root *yaml.Node, path []string, create bool) (*yaml.Node, error) {
	cur := root
	for _, tok := range path {
		var slot int
		switch cur.Kind {
		case yaml.MappingNode:
			slot = keyIndex(cur, tok) + 1
			if slot == 0 {
				if !create {
					return nil, fmt.Errorf("no field %q", tok)
				}
				slot = addKey(cur, tok, &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"})
			}
		case yaml.SequenceNode:
			i, err := seqIndex(cur, tok, false)
			if err != nil {
				return nil, err
			}
			slot = i
		default:
			return nil, fmt.Errorf("%q is under a scalar", tok)
		}
		next := cur.Content[slot]
		if next.Kind == yaml.AliasNode {
			next = deepCopy(next.Alias)
			next.Anchor = ""
			cur.Content[slot] = next
		}
		if create && next.Kind == yaml.ScalarNode && next.Tag == "!!null" {
			next.Kind, next.Tag, next.Value, next.Style = yaml.MappingNode, "!!map", "", 0
		}
		cur = next
	}
	return cur, nil
}

// addKey adds a key to a mapping and returns the index of its value: last, but metadata goes first, where
// people write it (a Job's pod template often has none until Outrigger labels it).
func addKey(m *yaml.Node, key string, val *yaml.Node) int {
	k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}
	if key == "metadata" {
		m.Content = append([]*yaml.Node{k, val}, m.Content...)
		return 1
	}
	m.Content = append(m.Content, k, val)
	return len(m.Content) - 1
}

// keyIndex returns the index of key in a mapping's Content, or -1.
func keyIndex(m *yaml.Node, key string) int {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return i
		}
	}
	return -1
}

// seqIndex reads an array index of a JSON pointer; with add, it may be the length (or "-"): an append.
func seqIndex(seq *yaml.Node, tok string, add bool) (int, error) {
	limit := len(seq.Content)
	if add {
		limit++
		if tok == "-" {
			return len(seq.Content), nil
		}
	}
	i, err := strconv.Atoi(tok)
	if err != nil || i < 0 || i >= limit {
		return 0, fmt.Errorf("index %q is out of range", tok)
	}
	return i, nil
}

// keepComments moves the comments of a replaced node to its replacement.
func keepComments(old, n *yaml.Node) {
	n.HeadComment, n.LineComment, n.FootComment = old.HeadComment, old.LineComment, old.FootComment
}

// pointerTokens splits a JSON pointer (RFC 6901) into its unescaped tokens.
func pointerTokens(p string) []string {
	toks := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, t := range toks {
		toks[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return toks
}

func deepCopy(n *yaml.Node) *yaml.Node {
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, x := range n.Content {
		c.Content[i] = deepCopy(x)
	}
	return &c
}

// library finds, for a value of the patch, the same value in the injected template parsed from JSON into
// nodes: decoding the patch lost the order of the fields, which the nodes have as the API types write it
// (a container's name first).
type library map[string]*yaml.Node

func newLibrary(templateJSON []byte) (library, error) {
	root, err := parseBody(templateJSON)
	if err != nil {
		return nil, err
	}
	lib := library{}
	var index func(n *yaml.Node)
	index = func(n *yaml.Node) {
		var v any
		if n.Decode(&v) == nil {
			if key, err := canonical(v); err == nil && lib[key] == nil {
				lib[key] = n
			}
		}
		for _, c := range n.Content {
			index(c)
		}
	}
	index(root.Content[0])
	return lib, nil
}

// node returns a block-style node for a patch value.
func (l library) node(v any) *yaml.Node {
	if key, err := canonical(v); err == nil && l[key] != nil {
		n := deepCopy(l[key])
		restyle(n)
		return n
	}
	var n yaml.Node
	if err := n.Encode(plain(v)); err != nil {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	}
	return &n
}

// canonical is a value's JSON with sorted keys and numbers as written, to compare values decoded differently.
func canonical(v any) (string, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return "", err
	}
	raw, err = json.Marshal(x)
	return string(raw), err
}

// plain turns the patch's json.Numbers into numbers, which the YAML encoder would otherwise quote as strings.
func plain(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = plain(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = plain(x)
		}
		return out
	}
	return v
}

// restyle turns a tree parsed from JSON (flow mappings, quoted strings) into block-style YAML, quoting only the
// strings that need it, as the YAML encoder does for Go strings (it also quotes YAML 1.1 booleans such as "on",
// which kubectl's YAML reader would otherwise take for true).
func restyle(n *yaml.Node) {
	switch n.Kind {
	case yaml.ScalarNode:
		n.Style = 0
		if n.Tag == "!!str" {
			var s yaml.Node
			if s.Encode(n.Value) == nil {
				n.Style = s.Style
			}
		}
	default:
		n.Style &^= yaml.FlowStyle
	}
	for _, c := range n.Content {
		restyle(c)
	}
}
