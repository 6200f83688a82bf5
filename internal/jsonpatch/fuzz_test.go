package jsonpatch_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/outrigger-dev/outrigger/internal/jsonpatch"
)

// FuzzDiff derives two pod-template-like documents from the input and checks that:
//
//	(a) applying Diff(before, after) to before gives after;
//	(b) Diff is deterministic;
//	(c) applied to a raw before in which every object that Diff matches between before and after (the same
//	    object key, or the same element key in an array of named objects) carries an unknown field, the patch
//	    gives after with each unknown field still on its object, wherever that object now is.
//
// Names, mount paths and map keys come from small alphabets so that before and after share many elements, in
// different orders, and so that names sometimes repeat (arrays then have no key, or mounts fall back to their
// path).
func FuzzDiff(f *testing.F) {
	for _, seed := range [][2][]byte{
		{{}, {}},
		{{1, 2, 3, 4, 5, 6, 7, 8}, {8, 7, 6, 5, 4, 3, 2, 1}},
		{[]byte("outrigger injects native sidecars"), []byte("outrigger injects sidecars natively")},
		{[]byte(strings.Repeat("\x03\x01\x04\x01\x05\x09\x02\x06", 8)), []byte(strings.Repeat("\x02\x07\x01\x08\x02\x08", 9))},
		{[]byte(strings.Repeat("\xff\x80\x07\x11", 20)), []byte(strings.Repeat("\x11\x07\x80\xff", 20))},
	} {
		f.Add(seed[0], seed[1])
	}
	// Long random inputs make every choice count: the fuzzer's own inputs are short and repetitive at first.
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 16 {
		a, b := make([]byte, 256), make([]byte, 256)
		for i := range a {
			a[i], b[i] = byte(rnd.Uint32()), byte(rnd.Uint32())
		}
		f.Add(a, b)
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		before := (&source{data: a}).template()
		after := (&source{data: b}).template()
		beforeJSON, afterJSON := marshal(t, before), marshal(t, after)

		ops, err := jsonpatch.Diff(beforeJSON, afterJSON)
		if err != nil {
			t.Fatal(err)
		}
		if got := apply(t, beforeJSON, ops); !sameJSON(t, got, afterJSON) {
			t.Fatalf("(a) patched before is not after\nbefore %s\nafter  %s\nops    %s\ngot    %s",
				beforeJSON, afterJSON, marshal(t, ops), got)
		}
		again, _ := jsonpatch.Diff(beforeJSON, afterJSON)
		if !bytes.Equal(marshal(t, again), marshal(t, ops)) {
			t.Fatalf("(b) two diffs differ:\n%s\n%s", marshal(t, ops), marshal(t, again))
		}

		raw, want := decode(t, beforeJSON), decode(t, afterJSON)
		markMatched(raw, want, "")
		if got := apply(t, marshal(t, raw), ops); !sameJSON(t, got, marshal(t, want)) {
			t.Fatalf("(c) unknown fields lost or moved\nraw  %s\nwant %s\nops  %s\ngot  %s",
				marshal(t, raw), marshal(t, want), marshal(t, ops), got)
		}
	})
}

// markMatched adds the same unknown field to a (the raw before) and to b (the after expected) on every pair of
// objects Diff matches: the same key of two objects, the same key field value in two keyed arrays. It does not
// look into other arrays: Diff replaces them whole when they differ. The key rule is written out again here
// from the specification rather than shared with the code under test.
func markMatched(a, b any, path string) {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok {
			return
		}
		for k, av := range a {
			if bv, ok := b[k]; ok {
				markMatched(av, bv, path+"/"+k)
			}
		}
		a["x-unknown"], b["x-unknown"] = path, path
	case []any:
		b, ok := b.([]any)
		if !ok {
			return
		}
		for _, field := range []string{"name", "mountPath"} {
			ak, bk := byKey(a, field), byKey(b, field)
			if ak == nil || bk == nil {
				continue
			}
			for k, av := range ak {
				if bv, ok := bk[k]; ok {
					markMatched(av, bv, path+"/"+k)
				}
			}
			return
		}
	}
}

// byKey indexes the objects of arr by their field, or returns nil if one has none or two have the same.
func byKey(arr []any, field string) map[string]any {
	m := map[string]any{}
	for _, el := range arr {
		obj, _ := el.(map[string]any)
		k, ok := obj[field].(string)
		if _, dup := m[k]; !ok || dup {
			return nil
		}
		m[k] = el
	}
	return m
}

// source turns fuzz bytes into choices; once they run out every choice is 0, so documents stay small.
type source struct {
	data []byte
	pos  int
}

func (s *source) intn(n int) int {
	if s.pos >= len(s.data) {
		return 0
	}
	s.pos++
	return int(s.data[s.pos-1]) % n
}

func (s *source) pick(options ...string) string { return options[s.intn(len(options))] }

func (s *source) template() map[string]any {
	meta := map[string]any{}
	if s.intn(2) == 1 {
		meta["annotations"] = s.strings()
	}
	if s.intn(2) == 1 {
		meta["labels"] = s.strings()
	}
	spec := map[string]any{"containers": s.containers()}
	if s.intn(3) > 0 {
		spec["initContainers"] = s.containers()
	}
	if s.intn(2) == 1 {
		spec["volumes"] = s.named("name", []string{"data", "certs", "logs", "tmp"}, func(v map[string]any) {
			v["emptyDir"] = s.strings()
		})
	}
	if s.intn(2) == 1 { // no key: replaced whole
		spec["tolerations"] = s.list(3, func() any { return map[string]any{"key": s.pick("a", "b"), "effect": s.pick("", "x")} })
	}
	if s.intn(2) == 1 {
		spec["priority"] = s.scalar()
	}
	return map[string]any{"metadata": meta, "spec": spec}
}

func (s *source) containers() []any {
	return s.named("name", []string{"a", "b", "c", "d", "e", "f"}, func(c map[string]any) {
		c["image"] = s.pick("x:1", "x:2")
		if s.intn(2) == 1 {
			c["env"] = s.named("name", []string{"A", "B", "C", "D"}, func(e map[string]any) { e["value"] = s.scalar() })
		}
		if s.intn(3) > 0 { // names repeat often: then the key is the path
			c["volumeMounts"] = s.named("mountPath", []string{"/a", "/b", "/c", "/d", "/e"}, func(m map[string]any) {
				m["name"] = s.pick("data", "logs")
				if s.intn(3) == 0 {
					m["readOnly"] = s.intn(2) == 1
				}
			})
		}
		if s.intn(2) == 1 {
			c["args"] = s.list(3, func() any { return s.pick("-v", "-q", "--x") })
		}
		if s.intn(3) == 0 {
			c["resources"] = map[string]any{"limits": s.strings()}
		}
		if s.intn(4) == 0 {
			c["restartPolicy"] = s.scalar()
		}
	})
}

// named returns up to len(keys) objects whose field takes values from keys, in any order; now and then a value
// repeats, and the array then has no key (or, for mounts, falls back to its path).
func (s *source) named(field string, keys []string, fill func(map[string]any)) []any {
	left := slices.Clone(keys)
	out := make([]any, s.intn(len(keys)+1))
	for i := range out {
		k := keys[s.intn(len(keys))]
		if s.intn(8) > 0 { // unique
			j := s.intn(len(left))
			k = left[j]
			left = slices.Delete(left, j, j+1)
		}
		obj := map[string]any{field: k}
		fill(obj)
		out[i] = obj
	}
	return out
}

func (s *source) list(maxLen int, elem func() any) []any {
	out := make([]any, s.intn(maxLen+1))
	for i := range out {
		out[i] = elem()
	}
	return out
}

func (s *source) strings() map[string]any {
	m := map[string]any{}
	for range s.intn(4) {
		m[s.pick("a", "sidecars.outrigger.dev/injection", "x~y", "~1", "/", "")] = s.pick("1", "2", "")
	}
	return m
}

func (s *source) scalar() any {
	switch s.intn(6) {
	case 0:
		return nil
	case 1:
		return s.intn(2) == 1
	case 2:
		return json.Number(fmt.Sprint(s.intn(3)))
	case 3:
		return json.Number("123456789012345678901234567890")
	case 4:
		return []any{s.pick("a", "b")}
	default:
		return s.pick("Always", "", "x")
	}
}
