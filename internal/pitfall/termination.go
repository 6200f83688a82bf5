package pitfall

import (
	"fmt"
	"regexp"
	"strconv"

	corev1 "k8s.io/api/core/v1"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/advice"
)

// defaultGracePeriod is the pod's terminationGracePeriodSeconds when unset.
const defaultGracePeriod = 30

// stopFloor is the least time the kubelet gives a container to stop after its SIGTERM, whatever is left of the
// grace period (minimumGracePeriodInSeconds): each sidecar needs at least that, one after the other.
const stopFloor = 2

// gracePeriod: a pod's whole termination fits in its one terminationGracePeriodSeconds. When the pod is
// deleted, the kubelet runs every container's preStop hook at once, the sidecars' too; the app containers get
// SIGTERM after their hook; each sidecar waits for every app container (and every sidecar after it) to exit, one
// after the other in reverse order, but only as long as the grace period lasts, and then gets SIGTERM with what is
// left of it, at least 2 seconds (kuberuntime_container.go: killContainer, terminationOrdering,
// minimumGracePeriodInSeconds). So a preStop that sleeps through the grace period gets the sidecars stopped
// while the app may still be draining, with the kubelet's floor only.
//
// Outrigger knows how long a preStop takes when it sleeps (the sleep action, or an exec of `sleep N`), and counts
// each sidecar's stop after it as the 2-second floor. Advice when some container sleeps in its preStop and the
// grace period is shorter than the longest sleep plus 2 seconds per sidecar. Without any preStop sleep it says
// nothing: every container then stops on SIGTERM, each given at least the floor, and how long an app takes to
// drain is not written anywhere Outrigger can read.
func gracePeriod(w *workload, _ Namespace) []advice.Advice {
	grace := int64(defaultGracePeriod)
	if w.spec.TerminationGracePeriodSeconds != nil {
		grace = *w.spec.TerminationGracePeriodSeconds
	}
	longest, who := int64(0), ""
	for _, c := range w.spec.Containers {
		if s := preStopSleep(&c); s > longest {
			longest, who = s, fmt.Sprintf("the app container %q", c.Name)
		}
	}
	sidecars := int64(0)
	for i := range w.spec.InitContainers {
		c := &w.spec.InitContainers[i]
		if !isSidecar(c) {
			continue
		}
		sidecars++
		if s := preStopSleep(c); s > longest {
			longest, who = s, fmt.Sprintf("the sidecar %q", c.Name)
		}
	}
	need := longest + stopFloor*sidecars
	if longest == 0 || need <= grace {
		return nil
	}
	then := fmt.Sprintf("the %d sidecars stop after the app containers, one after the other, %d seconds each at least", sidecars, stopFloor)
	if sidecars == 1 {
		then = fmt.Sprintf("the sidecar stops after the app containers, in %d seconds at least", stopFloor)
	}
	why := fmt.Sprintf("the preStop of %s sleeps %d seconds (every preStop starts when the pod is deleted), and then %s", who, longest, then)
	var out []advice.Advice
	for _, ref := range w.profiles() {
		out = append(out, advice.Advice{Profile: ref, Reason: v1alpha1.ReasonGracePeriodTooShort,
			Message: fmt.Sprintf("terminationGracePeriodSeconds is %d, but %s: once it ends the kubelet stops "+
				"the sidecars %s whether the app has exited or not, with 2 seconds to flush; set terminationGracePeriodSeconds to at least %d on the workload's pod template, "+
				"or shorten the preStop sleeps", grace, why, quoted(w.sidecarsOf(ref)), need)})
	}
	return out
}

// sleepCommand matches a shell command that starts with sleeping a whole number of seconds.
var sleepCommand = regexp.MustCompile(`^\s*(?:/usr)?(?:/bin/)?sleep\s+(\d+)s?\s*(?:$|[;&|])`)

// preStopSleep is how long a container's preStop hook sleeps: the sleep action, or an exec of sleep (directly,
// or through sh -c); 0 when it does not, or in a way Outrigger cannot read.
func preStopSleep(c *corev1.Container) int64 {
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
		return 0
	}
	h := c.Lifecycle.PreStop
	if h.Sleep != nil {
		return h.Sleep.Seconds
	}
	if h.Exec == nil || len(h.Exec.Command) == 0 {
		return 0
	}
	cmd := h.Exec.Command
	line := ""
	switch {
	case len(cmd) >= 3 && (cmd[0] == "sh" || cmd[0] == "/bin/sh" || cmd[0] == "bash" || cmd[0] == "/bin/bash") && cmd[1] == "-c":
		line = cmd[2]
	case len(cmd) == 2:
		line = cmd[0] + " " + cmd[1]
	}
	m := sleepCommand.FindStringSubmatch(line)
	if m == nil {
		return 0
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0
	}
	return n
}
