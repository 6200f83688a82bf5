package inject

import "fmt"

// Conflict is a name in a profile that the template already uses for something Outrigger did not add for that
// profile. The engine never overwrites: the profile is not (re)applied to that workload.
type Conflict struct {
	// Field is the profile field that holds the clashing name, e.g. spec.sidecars[0].name.
	Field string
	// What is "container", "volume" or "mount path".
	What string
	// Name is the clashing name (or mount path).
	Name string
	// Container is the app container, for a mount path.
	Container string
	// Owner is who has the name already: "the workload" or another profile ("ClusterSidecarProfile/logs").
	Owner string
}

// OwnerWorkload is Conflict.Owner when the clashing item is the workload's own.
const OwnerWorkload = "the workload"

// Message says what clashes and what to rename, in words a platform engineer can act on.
func (c Conflict) Message() string {
	where := ""
	if c.Container != "" {
		where = fmt.Sprintf(" in container %q", c.Container)
	}
	return fmt.Sprintf("%s %q (%s) is already used%s by %s: rename it in the profile", c.What, c.Name, c.Field, where, c.Owner)
}
