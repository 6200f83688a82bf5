package jsonpatch

import (
	"cmp"
	"slices"
	"strconv"
)

// keyFields are the fields that identify an element of an array of objects, tried in order. Containers,
// volumes, env vars, ... have a unique "name"; volume mounts have a name too, but one volume may be mounted at
// several paths, so "name" is not always unique among mounts, and their key is then "mountPath".
var keyFields = []string{"name", "mountPath"}

// arrayKey returns the first of keyFields whose values are present (strings) and unique in a and in b.
func arrayKey(a, b []any) (string, bool) {
	for _, f := range keyFields {
		if uniqueKeys(a, f) && uniqueKeys(b, f) {
			return f, true
		}
	}
	return "", false
}

func uniqueKeys(arr []any, field string) bool {
	seen := make(map[string]bool, len(arr))
	for _, el := range arr {
		obj, ok := el.(map[string]any)
		if !ok {
			return false
		}
		k, ok := obj[field].(string)
		if !ok || seen[k] {
			return false
		}
		seen[k] = true
	}
	return true
}

// diffKeyed diffs two arrays of objects matched by their key field, in three steps applied in this order:
//
//  1. every element whose key is in both arrays is diffed recursively at its index in a: nothing has moved
//     yet, and these operations stay inside the element, so they shift no index;
//  2. the elements only in a are removed, from the highest index down, so that each index is still the one
//     it had in a;
//  3. the array is then a's common elements in a's order. Its elements on a longest common subsequence of the
//     two key orders stay where they are; following b's order, every other element of b is placed right after
//     its predecessor in b (or first): added if it is only in b, moved if it is in both, so that it keeps the
//     fields the raw object has and our structs do not.
//
// Steps 2 and 3 track the keys of the array as the operations apply (cur), so every index is the one at the
// time its operation applies.
func diffKeyed(path string, a, b []any, key string, ops []Operation) []Operation {
	aKeys, bKeys := keysOf(a, key), keysOf(b, key)
	inB := make(map[string]int, len(bKeys))
	for j, k := range bKeys {
		inB[k] = j
	}

	for i, k := range aKeys {
		if j, ok := inB[k]; ok {
			ops = diff(index(path, i), a[i], b[j], ops)
		}
	}

	cur := slices.Clone(aKeys)
	for i := len(aKeys) - 1; i >= 0; i-- {
		if _, ok := inB[aKeys[i]]; !ok {
			ops = append(ops, Operation{Op: "remove", Path: index(path, i)})
			cur = slices.Delete(cur, i, i+1)
		}
	}

	stay := inOrder(cur, inB)
	for j, k := range bKeys {
		if stay[k] {
			continue
		}
		from := slices.Index(cur, k)
		if from >= 0 { // a move removes first, then inserts into what is left
			cur = slices.Delete(cur, from, from+1)
		}
		to := 0
		if j > 0 {
			to = slices.Index(cur, bKeys[j-1]) + 1
		}
		cur = slices.Insert(cur, to, k)
		switch {
		case from < 0:
			ops = append(ops, Operation{Op: "add", Path: index(path, to), Value: b[j]})
		case from != to:
			ops = append(ops, Operation{Op: "move", From: index(path, from), Path: index(path, to)})
		}
	}
	return ops
}

// inOrder returns the keys of a longest subsequence of common (keys all in b, in a's order) whose positions in
// b increase: a longest common subsequence of the two orders, as the keys are unique.
func inOrder(common []string, inB map[string]int) map[string]bool {
	pos := make([]int, len(common))
	for i, k := range common {
		pos[i] = inB[k]
	}
	stay := make(map[string]bool, len(common))
	for i, ok := range longestIncreasing(pos) {
		if ok {
			stay[common[i]] = true
		}
	}
	return stay
}

// longestIncreasing marks the elements of a longest strictly increasing subsequence of s (patience sorting,
// O(n log n)).
func longestIncreasing(s []int) []bool {
	var tails []int // tails[l]: index in s of the smallest last value of an increasing run of length l+1
	prev := make([]int, len(s))
	for i, v := range s {
		l, _ := slices.BinarySearchFunc(tails, v, func(t, v int) int { return cmp.Compare(s[t], v) })
		prev[i] = -1
		if l > 0 {
			prev[i] = tails[l-1]
		}
		if l == len(tails) {
			tails = append(tails, i)
		} else {
			tails[l] = i
		}
	}
	on := make([]bool, len(s))
	if len(tails) > 0 {
		for i := tails[len(tails)-1]; i >= 0; i = prev[i] {
			on[i] = true
		}
	}
	return on
}

// keysOf returns the key of every element; arrayKey has checked they are all objects with a string key.
func keysOf(arr []any, key string) []string {
	keys := make([]string, len(arr))
	for i, el := range arr {
		keys[i] = el.(map[string]any)[key].(string)
	}
	return keys
}

func index(path string, i int) string { return path + "/" + strconv.Itoa(i) }
