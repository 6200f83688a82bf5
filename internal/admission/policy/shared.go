package policy

import (
	"fmt"
	"slices"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
)

// A name (of a container or a volume) or a mount path that several profiles of a policy use is placed by the
// first of them only, as the engine places it: a profile whose name a profile placed before it took is skipped,
// and so is one whose mount path it took, in an app container both mount into. Any two profiles of a policy can
// select one workload (a policy holds the SidecarProfiles of one namespace at most, see Compile), so each is
// skipped for any placed before it.
//
// A profile's condition does not name every profile before it that uses the name: that made a policy quadratic
// in its profiles (300 profiles of one sidecar name: 1.4 MiB, and 7.7 MiB of warnings) and nested the warnings'
// expressions a level deeper for each (the apiserver refuses 250). Each user of a name carries a variable on,
// whether the name is taken so far, and the next user reads that one variable.

// use is what a profile can share with others: a container name, a volume name or a mount path.
type use struct {
	what, name string
}

const (
	useContainer = "container"
	useVolume    = "volume"
	useMountPath = "mountPath"
)

// sharing is, for each use of the policy's profiles, which profiles have it, in placement order.
type sharing struct {
	uses  []use       // in order of first appearance: use k is named by its index in the variables
	index map[use]int // into uses
	users [][]int     // per use, the profiles that have it
	of    [][]int     // per profile, its uses
}

func (c compiler) sharing() sharing {
	sh := sharing{index: map[use]int{}, of: make([][]int, len(c.profiles))}
	for i, r := range c.renders {
		var uses []use
		for _, n := range containerNames(r.Sidecars) {
			uses = append(uses, use{useContainer, n})
		}
		for _, n := range volumeNames(r.Volumes) {
			uses = append(uses, use{useVolume, n})
		}
		for _, m := range r.Mounts {
			uses = append(uses, use{useMountPath, m.Mount.MountPath})
		}
		for _, u := range uses {
			k, ok := sh.index[u]
			if !ok {
				k = len(sh.uses)
				sh.index[u] = k
				sh.uses = append(sh.uses, u)
				sh.users = append(sh.users, nil)
			}
			if !slices.Contains(sh.of[i], k) { // a name a profile uses twice skips it (fitsWorkload)
				sh.of[i] = append(sh.of[i], k)
				sh.users[k] = append(sh.users[k], i)
			}
		}
	}
	return sh
}

// before is the user of use k placed just before profile i, and whether there is one.
func (sh sharing) before(k, i int) (int, bool) {
	at := slices.Index(sh.users[k], i)
	if at <= 0 {
		return 0, false
	}
	return sh.users[k][at-1], true
}

// round names the variables of one round of placement (see placement): the last round's are p<i> and t<k>_<i>,
// an earlier round n's r<n>p<i> and r<n>t<k>_<i>.
type round string

func (r round) placed(i int) string { return fmt.Sprintf("%sp%d", r, i) }

// taken is the variable that user i of use k carries on: for a name, whether it or a user before it is placed;
// for a mount path, the app containers it and the users before it mounted it into.
func (r round) taken(k, i int) string { return fmt.Sprintf("%st%d_%d", r, k, i) }

// takenBy is the CEL condition that user i of name k, or a user before it, is placed: the first user's own
// placement, the others' carried variable.
func (sh sharing) takenBy(r round, k, i int) string {
	if sh.users[k][0] == i {
		return "variables." + r.placed(i)
	}
	return "variables." + r.taken(k, i)
}

// free is profile i's condition that none of its uses is taken by a profile placed before it, in the round.
func (c compiler) free(sh sharing, r round, i int) []string {
	var terms []string
	for _, k := range sh.of[i] {
		prev, ok := sh.before(k, i)
		if !ok {
			continue
		}
		u := sh.uses[k]
		if u.what != useMountPath {
			terms = append(terms, "!"+sh.takenBy(r, k, prev))
			continue
		}
		for _, m := range c.renders[i].Mounts {
			if m.Mount.MountPath == u.name {
				terms = append(terms, fmt.Sprintf("!variables.apps.exists(x, %s && x.name in variables.%s)", targets("x", m), r.taken(k, prev)))
			}
		}
	}
	return terms
}

// carried are the variables profile i carries on for the uses it shares: for a name, from its second user on,
// the last one too (a profile that mounts a volume without declaring it asks whether any user of the volume's
// name is placed, see missing); for a mount path, up to the user before the last.
func (c compiler) carried(sh sharing, r round, i int) []admissionregistrationv1.Variable {
	var out []admissionregistrationv1.Variable
	for _, k := range sh.of[i] {
		users := sh.users[k]
		if len(users) < 2 {
			continue
		}
		prev, hasPrev := sh.before(k, i)
		if sh.uses[k].what != useMountPath {
			if hasPrev {
				out = append(out, admissionregistrationv1.Variable{Name: r.taken(k, i), Expression: sh.takenBy(r, k, prev) + " || variables." + r.placed(i)})
			}
			continue
		}
		if i == users[len(users)-1] {
			continue // no user after it asks
		}
		expr := fmt.Sprintf("(variables.%s ? variables.apps.filter(x, %s).map(x, x.name) : [])", r.placed(i), c.mountTargets(i, sh.uses[k].name))
		if hasPrev {
			expr = "variables." + r.taken(k, prev) + " + " + expr
		}
		out = append(out, admissionregistrationv1.Variable{Name: r.taken(k, i), Expression: expr})
	}
	return out
}

// mountTargets is the CEL condition that profile i mounts path into the app container x.
func (c compiler) mountTargets(i int, path string) string {
	var terms []string
	for _, m := range c.renders[i].Mounts {
		if m.Mount.MountPath == path {
			terms = append(terms, targets("x", m))
		}
	}
	if len(terms) == 1 {
		return terms[0]
	}
	return "(" + strings.Join(terms, " || ") + ")"
}
