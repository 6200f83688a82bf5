package offline

import (
	"encoding/json"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"

	"github.com/outrigger-dev/outrigger/internal/jsonpatch"
)

func TestApplyPatch(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in, ops  string
		want     string
		template string // the injected template, for field order; {} when the test is not about it
	}{{
		name: "AddCreatesMissingMetadataFirst",
		in:   "spec:\n  containers: []\n",
		ops:  `[{"op":"add","path":"/metadata/labels","value":{"a":"b"}}]`,
		want: "metadata:\n  labels:\n    a: b\nspec:\n  containers: []\n",
	}, {
		name: "AddIntoAnEmptyFlowMappingWritesABlock",
		in:   "labels: {}\n",
		ops:  `[{"op":"add","path":"/labels/x","value":"true"}]`,
		want: "labels:\n  x: \"true\"\n",
	}, {
		name: "AddReplacesANullMapping",
		in:   "metadata:\nspec: 1\n",
		ops:  `[{"op":"add","path":"/metadata/labels","value":{"a":"b"}}]`,
		want: "metadata:\n  labels:\n    a: b\nspec: 1\n",
	}, {
		name: "InsertsIntoASequenceAndKeepsComments",
		in:   "c: # containers\n  - name: app # the app\n",
		ops:  `[{"op":"add","path":"/c/0","value":{"name":"side","image":"s"}}]`,
		// Without the value in the template, fields are sorted.
		want: "c: # containers\n  - image: s\n    name: side\n  - name: app # the app\n",
	}, {
		name: "ReplaceKeepsTheComment",
		in:   "image: a:1 # pinned\n",
		ops:  `[{"op":"replace","path":"/image","value":"a:2"}]`,
		want: "image: a:2 # pinned\n",
	}, {
		name: "RemoveAndMove",
		in:   "c:\n  - name: x\n  - name: y\n  - name: z\n",
		ops:  `[{"op":"remove","path":"/c/1"},{"op":"move","from":"/c/0","path":"/c/1"}]`,
		want: "c:\n  - name: z\n  - name: x\n",
	}, {
		name: "AnAliasIsCopiedBeforeItIsEdited",
		in:   "base: &b\n  a: 1\nuse: *b\n",
		ops:  `[{"op":"add","path":"/use/x","value":2}]`,
		want: "base: &b\n  a: 1\nuse:\n  a: 1\n  x: 2\n",
	}, {
		name:     "ValuesTakeTheFieldOrderOfTheTemplate",
		in:       "c: []\n",
		ops:      `[{"op":"add","path":"/c/0","value":{"image":"s","name":"side","restartPolicy":"Always"}}]`,
		template: `{"x":{"name":"side","image":"s","restartPolicy":"Always"}}`,
		want:     "c:\n  - name: side\n    image: s\n    restartPolicy: Always\n",
	}, {
		name: "StringsThatLookLikeOtherTypesAreQuoted",
		in:   "m: {}\n",
		ops:  `[{"op":"add","path":"/m/a","value":"on"},{"op":"add","path":"/m/b","value":"1"},{"op":"add","path":"/m/c","value":3}]`,
		want: "m:\n  a: \"on\"\n  b: \"1\"\n  c: 3\n",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			root, err := parseBody([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			var ops []jsonpatch.Operation
			dec := json.NewDecoder(strings.NewReader(tc.ops))
			dec.UseNumber()
			if err := dec.Decode(&ops); err != nil {
				t.Fatal(err)
			}
			if tc.template == "" {
				tc.template = "{}"
			}
			lib, err := newLibrary([]byte(tc.template))
			if err != nil {
				t.Fatal(err)
			}
			if err := applyPatch(root.Content[0], ops, lib); err != nil {
				t.Fatal(err)
			}
			got, err := encode(root, layout{indent: 2})
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestApplyPatch_FailsOnAPathThatIsNotThere(t *testing.T) {
	root, _ := parseBody([]byte("a: 1\n"))
	for _, op := range []jsonpatch.Operation{
		{Op: "replace", Path: "/b", Value: "x"},
		{Op: "remove", Path: "/b"},
		{Op: "add", Path: "/a/b", Value: "x"},
		{Op: "test", Path: "/a", Value: 1},
	} {
		if err := applyPatch(root.Content[0], []jsonpatch.Operation{op}, library{}); err == nil {
			t.Errorf("%s %s: no error", op.Op, op.Path)
		}
	}
}

func TestDetectLayout(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want layout
	}{
		{"a:\n  b:\n  - x\n", layout{indent: 2, compact: true}},
		{"a:\n    b:\n        - x\n", layout{indent: 4, compact: false}},
		{"a:\n  b:\n    - x\n", layout{indent: 2, compact: false}},
		{"a: 1\n", layout{indent: 2, compact: true}},
	} {
		d := &Document{body: []byte(tc.in)}
		var n yaml.Node
		if err := yaml.Unmarshal(d.body, &n); err != nil {
			t.Fatal(err)
		}
		d.node = &n
		if got := detectLayout(d); got != tc.want {
			t.Errorf("detectLayout(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}
