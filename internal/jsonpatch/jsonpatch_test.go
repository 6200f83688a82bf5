package jsonpatch_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	// The library the apiserver applies webhook patches with (k8s.io/apiserver, mutating dispatcher).
	applier "gopkg.in/evanphx/json-patch.v4"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/outrigger-dev/outrigger/internal/jsonpatch"
)

func TestDiff(t *testing.T) {
	for _, tc := range []struct {
		name          string
		before, after string
		want          string // the operations, compared as JSON
	}{{
		name:   "InsertsBeforeAUserElementWithoutTouchingIt",
		before: `{"initContainers":[{"name":"user","image":"u"}]}`,
		after:  `{"initContainers":[{"name":"sidecar","image":"s","restartPolicy":"Always"},{"name":"user","image":"u"}]}`,
		want:   `[{"op":"add","path":"/initContainers/0","value":{"name":"sidecar","image":"s","restartPolicy":"Always"}}]`,
	}, {
		name:   "InsertsInTheMiddle",
		before: `{"c":[{"name":"a"},{"name":"c"}]}`,
		after:  `{"c":[{"name":"a"},{"name":"b"},{"name":"c"}]}`,
		want:   `[{"op":"add","path":"/c/1","value":{"name":"b"}}]`,
	}, {
		name:   "AppendsAtTheEnd",
		before: `{"c":[{"name":"a"}]}`,
		after:  `{"c":[{"name":"a"},{"name":"b"}]}`,
		want:   `[{"op":"add","path":"/c/1","value":{"name":"b"}}]`,
	}, {
		name:   "AddsToAnEmptyArrayByIndex",
		before: `{"c":[]}`,
		after:  `{"c":[{"name":"a"},{"name":"b"}]}`,
		want:   `[{"op":"add","path":"/c/0","value":{"name":"a"}},{"op":"add","path":"/c/1","value":{"name":"b"}}]`,
	}, {
		name:   "RemovesOne",
		before: `{"c":[{"name":"a"},{"name":"b"},{"name":"c"}]}`,
		after:  `{"c":[{"name":"a"},{"name":"c"}]}`,
		want:   `[{"op":"remove","path":"/c/1"}]`,
	}, {
		name:   "ReplacesOneFieldOfOneElement",
		before: `{"c":[{"name":"a","image":"a:1"},{"name":"b","image":"b:1"}]}`,
		after:  `{"c":[{"name":"a","image":"a:1"},{"name":"b","image":"b:2"}]}`,
		want:   `[{"op":"replace","path":"/c/1/image","value":"b:2"}]`,
	}, {
		name:   "ReordersTwoElementsWithOneMove",
		before: `{"c":[{"name":"a"},{"name":"b"}]}`,
		after:  `{"c":[{"name":"b"},{"name":"a"}]}`,
		want:   `[{"op":"move","from":"/c/0","path":"/c/1"}]`,
	}, {
		name:   "MovesOnlyTheElementOffTheCommonOrder",
		before: `{"c":[{"name":"x"},{"name":"a"},{"name":"b"},{"name":"c"}]}`,
		after:  `{"c":[{"name":"a"},{"name":"b"},{"name":"c"},{"name":"x"}]}`,
		want:   `[{"op":"move","from":"/c/0","path":"/c/3"}]`,
	}, {
		// Recursion first, at the indices of before; removals from the highest index down; then adds and moves
		// in the order of after, at the indices the array has at that time.
		name:   "IndicesAreThoseOfTheirTime",
		before: `{"c":[{"name":"a"},{"name":"b","image":"1"},{"name":"c"},{"name":"d"}]}`,
		after:  `{"c":[{"name":"e"},{"name":"d"},{"name":"b","image":"2"},{"name":"f"}]}`,
		want: `[{"op":"replace","path":"/c/1/image","value":"2"},
			{"op":"remove","path":"/c/2"},{"op":"remove","path":"/c/0"},
			{"op":"add","path":"/c/0","value":{"name":"e"}},
			{"op":"move","from":"/c/1","path":"/c/2"},
			{"op":"add","path":"/c/3","value":{"name":"f"}}]`,
	}, {
		// n goes after x, not at its final index 2: q, still in front, moves to the end only afterwards.
		name:   "PlacesEachElementAfterItsPredecessor",
		before: `{"c":[{"name":"q"},{"name":"x"},{"name":"y"}]}`,
		after:  `{"c":[{"name":"x"},{"name":"n"},{"name":"y"},{"name":"q"}]}`,
		want:   `[{"op":"add","path":"/c/2","value":{"name":"n"}},{"op":"move","from":"/c/0","path":"/c/3"}]`,
	}, {
		name: "AppendsAMountToAContainerMatchedByName",
		before: `{"containers":[{"name":"app","volumeMounts":[{"name":"data","mountPath":"/a"}]},
			{"name":"other"}]}`,
		after: `{"containers":[{"name":"app","volumeMounts":[{"name":"data","mountPath":"/a"},{"name":"data","mountPath":"/b"}]},
			{"name":"other"}]}`,
		want: `[{"op":"add","path":"/containers/0/volumeMounts/1","value":{"name":"data","mountPath":"/b"}}]`,
	}, {
		name:   "MatchesMountsByPathWhenTheirNamesRepeat",
		before: `{"m":[{"name":"data","mountPath":"/a"},{"name":"data","mountPath":"/b"}]}`,
		after:  `{"m":[{"name":"data","mountPath":"/a"},{"name":"logs","mountPath":"/c"},{"name":"data","mountPath":"/b","readOnly":true}]}`,
		want: `[{"op":"add","path":"/m/1/readOnly","value":true},
			{"op":"add","path":"/m/1","value":{"name":"logs","mountPath":"/c"}}]`,
	}, {
		name:   "ReplacesAnArrayOfScalarsWhole",
		before: `{"args":["a","b"]}`,
		after:  `{"args":["b","a","c"]}`,
		want:   `[{"op":"replace","path":"/args","value":["b","a","c"]}]`,
	}, {
		name:   "ReplacesAnArrayOfObjectsWithoutAKeyWhole",
		before: `{"tolerations":[{"key":"k"}]}`,
		after:  `{"tolerations":[{"key":"j"},{"key":"k"}]}`,
		want:   `[{"op":"replace","path":"/tolerations","value":[{"key":"j"},{"key":"k"}]}]`,
	}, {
		name:   "ReplacesAnArrayWithDuplicateKeysWhole",
		before: `{"c":[{"name":"a"}]}`,
		after:  `{"c":[{"name":"a"},{"name":"a","image":"x"}]}`,
		want:   `[{"op":"replace","path":"/c","value":[{"name":"a"},{"name":"a","image":"x"}]}]`,
	}, {
		name:   "ReplacesAnArrayWithANonStringKeyWhole",
		before: `{"c":[{"name":"a"}]}`,
		after:  `{"c":[{"name":"a"},{"name":1}]}`,
		want:   `[{"op":"replace","path":"/c","value":[{"name":"a"},{"name":1}]}]`,
	}, {
		name:   "EscapesSlashAndTildeInKeys",
		before: `{"metadata":{"annotations":{"sidecars.outrigger.dev/injection":"1","gone/key":"x"}}}`,
		after:  `{"metadata":{"annotations":{"sidecars.outrigger.dev/injection":"2","a~b/c":"y"}}}`,
		want: `[{"op":"add","path":"/metadata/annotations/a~0b~1c","value":"y"},
			{"op":"remove","path":"/metadata/annotations/gone~1key"},
			{"op":"replace","path":"/metadata/annotations/sidecars.outrigger.dev~1injection","value":"2"}]`,
	}, {
		name:   "WritesNullValues",
		before: `{"a":1,"b":2,"d":4}`,
		after:  `{"a":null,"b":2,"c":null}`,
		want: `[{"op":"replace","path":"/a","value":null},{"op":"add","path":"/c","value":null},
			{"op":"remove","path":"/d"}]`,
	}, {
		name:   "KeepsEveryDigitOfLargeNumbers",
		before: `{"n":1,"f":0.5}`,
		after:  `{"n":123456789012345678901234567890,"f":0.30000000000000000000001}`,
		want: `[{"op":"replace","path":"/f","value":0.30000000000000000000001},
			{"op":"replace","path":"/n","value":123456789012345678901234567890}]`,
	}, {
		name:   "ReplacesAValueOfAnotherType",
		before: `{"a":{"b":1},"c":[1],"d":"s"}`,
		after:  `{"a":[{"name":"b"}],"c":{"x":1},"d":1}`,
		want: `[{"op":"replace","path":"/a","value":[{"name":"b"}]},{"op":"replace","path":"/c","value":{"x":1}},
			{"op":"replace","path":"/d","value":1}]`,
	}, {
		name:   "NothingForEqualDocuments",
		before: `{"c":[{"name":"a","x":[1,2]}],"m":{"k":"v"},"n":1e3}`,
		after:  ` {"m":{"k":"v"},"n":1e3,"c":[{"x":[1,2],"name":"a"}]}`,
		want:   `[]`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			ops, err := jsonpatch.Diff([]byte(tc.before), []byte(tc.after))
			if err != nil {
				t.Fatal(err)
			}
			got := marshal(t, ops)
			if !sameJSON(t, got, []byte(tc.want)) {
				t.Errorf("ops\n got %s\nwant %s", got, compact(tc.want))
			}
			if patched := apply(t, []byte(tc.before), ops); !sameJSON(t, patched, []byte(tc.after)) {
				t.Errorf("patched before\n got %s\nwant %s", patched, compact(tc.after))
			}
		})
	}
}

// TestDiff_RawUnknownFieldStaysOnTheUserContainer is the webhook's case: the diff of two typed pod templates,
// prefixed to the Deployment, applied to the raw Deployment whose user containers carry fields our structs do
// not know. Each of them must still be on its container, wherever that container now is.
func TestDiff_RawUnknownFieldStaysOnTheUserContainer(t *testing.T) {
	before := corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "migrate", Image: "migrate:1"}},
		Containers: []corev1.Container{{Name: "web", Image: "web:1",
			VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
		Volumes: []corev1.Volume{{Name: "data"}},
	}}
	before.Labels = map[string]string{"app": "web"}
	after := *before.DeepCopy()
	after.Annotations = map[string]string{"sidecars.outrigger.dev/injection": `{"proxy":"1"}`}
	after.Spec.InitContainers = append([]corev1.Container{{Name: "proxy", Image: "proxy:1",
		RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}}, after.Spec.InitContainers...)
	after.Spec.Containers[0].VolumeMounts = append(after.Spec.Containers[0].VolumeMounts,
		corev1.VolumeMount{Name: "proxy-certs", MountPath: "/certs"})
	after.Spec.Volumes = append(after.Spec.Volumes, corev1.Volume{Name: "proxy-certs"})
	typedBefore, typedAfter := marshal(t, before), marshal(t, after)

	// The raw objects: the typed ones as the apiserver would send them, plus the unknown fields.
	unknown := func(tmpl map[string]any, migrate int) {
		spec := tmpl["spec"].(map[string]any)
		spec["futurePodField"] = true
		spec["initContainers"].([]any)[migrate].(map[string]any)["futureField"] = map[string]any{"x": 1}
		web := spec["containers"].([]any)[0].(map[string]any)
		web["volumeMounts"].([]any)[0].(map[string]any)["futureMountField"] = "keep"
	}
	rawTemplate, wantTemplate := decode(t, typedBefore), decode(t, typedAfter)
	unknown(rawTemplate, 0)
	unknown(wantTemplate, 1) // behind the sidecar
	deployment := func(tmpl any) []byte {
		return marshal(t, map[string]any{"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"name": "web", "namespace": "shop"},
			"spec":     map[string]any{"replicas": 2, "template": tmpl}})
	}

	ops, err := jsonpatch.Diff(typedBefore, typedAfter)
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range ops {
		if op.Op != "add" {
			t.Errorf("an insertion needs adds only, got %s", marshal(t, op))
		}
	}
	got := apply(t, deployment(rawTemplate), jsonpatch.Prefix(ops, "/spec/template"))
	if want := deployment(wantTemplate); !sameJSON(t, got, want) {
		t.Errorf("patched raw Deployment\n got %s\nwant %s\n ops %s", got, want, marshal(t, ops))
	}
}

func TestPrefix(t *testing.T) {
	ops := []jsonpatch.Operation{
		{Op: "add", Path: "/spec/initContainers/0", Value: "x"},
		{Op: "move", From: "/spec/containers/0", Path: "/spec/containers/1"},
		{Op: "replace", Path: "", Value: map[string]any{}},
	}
	got := jsonpatch.Prefix(ops, "/spec/template")
	want := []jsonpatch.Operation{
		{Op: "add", Path: "/spec/template/spec/initContainers/0", Value: "x"},
		{Op: "move", From: "/spec/template/spec/containers/0", Path: "/spec/template/spec/containers/1"},
		{Op: "replace", Path: "/spec/template", Value: map[string]any{}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if ops[0].Path != "/spec/initContainers/0" || ops[1].From != "/spec/containers/0" {
		t.Errorf("Prefix modified its input: %+v", ops)
	}
	if got := marshal(t, jsonpatch.Prefix(nil, "/spec")); string(got) != "[]" {
		t.Errorf("no operations marshal as %s, want []", got)
	}
}

func TestOperation_MarshalJSON(t *testing.T) {
	for _, tc := range []struct {
		op   jsonpatch.Operation
		want string
	}{
		{jsonpatch.Operation{Op: "add", Path: "/a"}, `{"op":"add","path":"/a","value":null}`},
		{jsonpatch.Operation{Op: "replace", Path: "/a"}, `{"op":"replace","path":"/a","value":null}`},
		{jsonpatch.Operation{Op: "add", Path: "/a", Value: json.Number("10000000000000000000001")},
			`{"op":"add","path":"/a","value":10000000000000000000001}`},
		{jsonpatch.Operation{Op: "remove", Path: "/a"}, `{"op":"remove","path":"/a"}`},
		{jsonpatch.Operation{Op: "move", From: "/a/0", Path: "/a/1"}, `{"op":"move","path":"/a/1","from":"/a/0"}`},
	} {
		if got := marshal(t, tc.op); string(got) != tc.want {
			t.Errorf("got %s, want %s", got, tc.want)
		}
	}
}

func TestDiff_NoChangeMarshalsAsAnEmptyPatch(t *testing.T) {
	ops, err := jsonpatch.Diff([]byte(`{"a":1}`), []byte(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := marshal(t, ops); string(got) != "[]" {
		t.Errorf("got %s, want []", got)
	}
}

func TestDiff_IsDeterministic(t *testing.T) {
	before := `{"m":{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8}}`
	after := `{"m":{"a":0,"b":0,"c":0,"d":0,"e":0,"f":0,"g":0,"z":8}}`
	first, err := jsonpatch.Diff([]byte(before), []byte(after))
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, _ := jsonpatch.Diff([]byte(before), []byte(after))
		if !bytes.Equal(marshal(t, again), marshal(t, first)) {
			t.Fatalf("two diffs differ:\n%s\n%s", marshal(t, first), marshal(t, again))
		}
	}
}

func TestDiff_RejectsInvalidJSON(t *testing.T) {
	for _, tc := range []struct{ before, after string }{
		{`{`, `{}`},
		{`{}`, `{"a":}`},
		{`{} {}`, `{}`},
		{`{}`, `{}x`},
		{``, `{}`},
	} {
		if _, err := jsonpatch.Diff([]byte(tc.before), []byte(tc.after)); err == nil {
			t.Errorf("Diff(%q, %q): no error", tc.before, tc.after)
		}
	}
}

// apply applies ops to doc as the apiserver applies a webhook's patch.
func apply(t testing.TB, doc []byte, ops []jsonpatch.Operation) []byte {
	t.Helper()
	patch, err := applier.DecodePatch(marshal(t, ops))
	if err != nil {
		t.Fatalf("decode patch: %v", err)
	}
	out, err := patch.Apply(doc)
	if err != nil {
		t.Fatalf("apply %s\nto %s: %v", marshal(t, ops), doc, err)
	}
	return out
}

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// decode reads JSON keeping the text of numbers, so that comparisons are exact.
func decode(t testing.TB, data []byte) map[string]any {
	t.Helper()
	var v map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return v
}

func sameJSON(t testing.TB, a, b []byte) bool {
	t.Helper()
	var x, y any
	for _, d := range []struct {
		data []byte
		v    *any
	}{{a, &x}, {b, &y}} {
		dec := json.NewDecoder(bytes.NewReader(d.data))
		dec.UseNumber()
		if err := dec.Decode(d.v); err != nil {
			t.Fatalf("decode %s: %v", d.data, err)
		}
	}
	return reflect.DeepEqual(x, y)
}

func compact(s string) string {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		return strings.TrimSpace(s)
	}
	return b.String()
}
