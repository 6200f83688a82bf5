package revision

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/intstr"
)

// Rank is a workload's place in a profile's rollout order: canary workloads first, then the others, each group
// in the order of a hash of kind, namespace and name, so the same workloads go first in every rollout, and a
// workload created during a rollout has its place without the others moving. Ranks compare as strings.
func Rank(kind, namespace, name string, canary bool) string {
	sum := sha256.Sum256([]byte(kind + "/" + namespace + "/" + name))
	group := "1"
	if canary {
		group = "0"
	}
	return group + hex.EncodeToString(sum[:8])
}

// Plan returns how many workloads, of total ranked ones, the candidate has once each wave is open: canary of them
// (the canary selector's workloads, 0 when there is none) first, then the waves, cumulative, and every workload
// last. Counts never go down; a wave that adds nothing is dropped. No workload, no wave.
func Plan(waves []intstr.IntOrString, total, canary int) []int {
	if total == 0 {
		return nil
	}
	var out []int
	add := func(n int) {
		n = min(max(n, 1), total)
		if len(out) == 0 || n > out[len(out)-1] {
			out = append(out, n)
		}
	}
	if canary > 0 {
		add(canary)
	}
	for _, w := range waves {
		add(waveSize(w, total))
	}
	add(total)
	return out
}

// waveSize is a wave's count: a number, or a percentage of total rounded up. The CRD admits only those two forms.
func waveSize(w intstr.IntOrString, total int) int {
	if w.Type == intstr.Int {
		return int(w.IntVal)
	}
	pct, err := strconv.Atoi(strings.TrimSuffix(w.StrVal, "%"))
	if err != nil {
		return total
	}
	return int(math.Ceil(float64(total) * float64(pct) / 100))
}
