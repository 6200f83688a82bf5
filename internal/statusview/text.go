package statusview

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// Options say what the text view shows.
type Options struct {
	// Now is the time the ages (SINCE) are counted from.
	Now time.Time
	// Namespace, when set, is the namespace the view is of: the workloads a ClusterSidecarProfile lists in other
	// namespaces are counted, not listed. A SidecarProfile's workloads are all in its own namespace.
	Namespace string
	// Detail shows every condition of every profile, and the workloads per revision: the view of one profile.
	Detail bool
}

// WriteText writes the view a person reads: the table of profiles, the conditions that explain the profiles that
// are not Ready (all of them with Detail), and the workloads that need attention. The profiles are written in
// the order given (see Sort).
func WriteText(w io.Writer, profiles []Profile, o Options) error {
	var b strings.Builder
	writeProfiles(&b, profiles)
	for _, p := range profiles {
		if o.Detail || Troubled(p) {
			writeConditions(&b, p, o)
		}
	}
	writeAttention(&b, profiles, o)
	_, err := io.WriteString(w, b.String())
	return err
}

// table returns a tabwriter laid out as kubectl's tables are.
func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 8, 3, ' ', 0) }

func writeProfiles(w io.Writer, profiles []Profile) {
	t := table(w)
	fmt.Fprintln(t, "KIND\tNAMESPACE\tNAME\tREADY\tMATCHED\tINJECTED\tUP-TO-DATE\tROLLED-OUT\tHEALTHY\tROLLOUT")
	for _, p := range profiles {
		s := p.Status
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", p.Kind, orDash(p.Namespace), p.Name, ReadyCell(Ready(p)),
			s.Matched, s.Injected, s.UpToDate, s.RolledOut, s.Healthy, RolloutCell(s.Rollout))
	}
	_ = t.Flush()
}

// ReadyCell is the READY column: the condition's status, with its reason when it is not True.
func ReadyCell(r Readiness) string {
	if r.Status == metav1.ConditionTrue || r.Reason == "" {
		return string(r.Status)
	}
	return string(r.Status) + " (" + r.Reason + ")"
}

// RolloutCell is the ROLLOUT column: where a rollout in waves stands (wave open of waves, the candidate and the
// stable revision), the stable revision when none is under way, "-" when the status has no rollout.
func RolloutCell(r *v1alpha1.RolloutStatus) string {
	switch {
	case r == nil || (r.CandidateRevision == "" && r.StableRevision == ""):
		return "-"
	case r.CandidateRevision == "":
		return "stable " + r.StableRevision
	}
	var b strings.Builder
	switch {
	case r.Halted != "":
		b.WriteString("halted at ")
	case r.Wave == 0:
		b.WriteString("before ")
	}
	fmt.Fprintf(&b, "wave %s: candidate %s", fraction(max(r.Wave, 1), r.Waves), r.CandidateRevision)
	if r.StableRevision != "" {
		b.WriteString(", stable " + r.StableRevision)
	}
	return b.String()
}

func fraction(n, of int32) string {
	if of <= 0 {
		return strconv.Itoa(int(n))
	}
	return fmt.Sprintf("%d/%d", n, of)
}

// writeConditions writes, under the profile's name, its Ready condition when it is not True, the other
// conditions that are True (Reconciling, Stalled, Degraded), and why its rollout halted; with Detail every
// condition and the rollout's revisions.
func writeConditions(w io.Writer, p Profile, o Options) {
	fmt.Fprintf(w, "\n%s:\n", p.ID())
	r := Ready(p)
	if o.Detail || r.Status != metav1.ConditionTrue {
		fmt.Fprintf(w, "  %s\n", conditionLine(v1alpha1.ConditionReady, r.Status, r.Reason, r.Message, r.Since, o.Now))
	}
	for _, c := range p.Status.Conditions {
		if c.Type == v1alpha1.ConditionReady || (!o.Detail && c.Status != metav1.ConditionTrue) {
			continue
		}
		message := c.Message
		if message == r.Message {
			message = "" // the manager often words Reconciling or Stalled as Ready: say it once
		}
		fmt.Fprintf(w, "  %s\n", conditionLine(c.Type, c.Status, c.Reason, message, &c.LastTransitionTime, o.Now))
	}
	if ro := p.Status.Rollout; ro != nil && ro.Halted != "" {
		fmt.Fprintf(w, "  rollout halted: %s\n", oneLine(ro.Halted))
	}
	if o.Detail {
		writeRollout(w, p.Status.Rollout, o.Now)
	}
}

// conditionLine is "Type=Status Reason (age): message", the age when the transition time is known.
func conditionLine(typ string, status metav1.ConditionStatus, reason, message string, since *metav1.Time, now time.Time) string {
	line := typ + "=" + string(status)
	if reason != "" {
		line += " " + reason
	}
	if since != nil && !since.IsZero() {
		line += " (" + Age(since, now) + ")"
	}
	if message != "" {
		line += ": " + oneLine(message)
	}
	return line
}

// writeRollout writes the rollout's revisions, for the view of one profile.
func writeRollout(w io.Writer, r *v1alpha1.RolloutStatus, now time.Time) {
	if r == nil {
		return
	}
	if r.CandidateRevision != "" {
		fmt.Fprintf(w, "  rollout: candidate %s, wave %s open", r.CandidateRevision, fraction(r.Wave, r.Waves))
		if r.WaveOpened != nil {
			fmt.Fprintf(w, " for %s", Age(r.WaveOpened, now))
		}
		fmt.Fprintf(w, "; stable %s\n", orDash(r.StableRevision))
	} else if r.StableRevision != "" {
		fmt.Fprintf(w, "  rollout: stable %s\n", r.StableRevision)
	}
	if len(r.Revisions) == 0 {
		return
	}
	parts := make([]string, 0, len(r.Revisions))
	for _, c := range r.Revisions {
		rev := c.Revision
		if rev == "" {
			rev = "none"
		}
		parts = append(parts, fmt.Sprintf("%s %d", rev, c.Workloads))
	}
	fmt.Fprintf(w, "  workloads per revision: %s\n", strings.Join(parts, ", "))
}

// writeAttention writes the workloads the profiles' status lists as needing attention, in one table, then per
// profile how many more its status counts but does not list, and how many are in other namespaces.
func writeAttention(w io.Writer, profiles []Profile, o Options) {
	var more []string
	rows := 0
	var b strings.Builder
	t := table(&b)
	fmt.Fprintln(t, "PROFILE\tKIND\tWORKLOAD\tSIDECAR\tREASON\tSINCE\tMESSAGE")
	for _, p := range profiles {
		shown, elsewhere := Attention(p, o.Namespace)
		for _, a := range shown {
			rows++
			fmt.Fprintf(t, "%s\t%s\t%s/%s\t%s\t%s\t%s\t%s\n", p.ID(), a.Kind, a.Namespace, a.Name, orDash(a.Sidecar),
				a.Reason, Age(a.Since, o.Now), oneLine(a.Message))
		}
		more = append(more, MoreLines(p, elsewhere, o.Namespace)...)
	}
	_ = t.Flush()
	if rows == 0 && len(more) == 0 {
		fmt.Fprintln(w, "\nNo workload needs attention.")
		return
	}
	fmt.Fprintln(w, "\nWorkloads that need attention:")
	if rows > 0 {
		fmt.Fprint(w, b.String())
	}
	for _, line := range more {
		fmt.Fprintln(w, line)
	}
}

// Attention returns the profile's needsAttention entries the view of a namespace lists (all of them when
// namespace is ""), and how many it leaves out for being in other namespaces.
func Attention(p Profile, namespace string) (shown []v1alpha1.WorkloadAttention, elsewhere int) {
	for _, a := range p.Status.NeedsAttention {
		if namespace != "" && a.Namespace != namespace {
			elsewhere++
			continue
		}
		shown = append(shown, a)
	}
	return shown, elsewhere
}

// MoreLines say what the table does not list of a profile's workloads that need attention: those in other
// namespaces than the view's, and those its status counts in needsAttentionOmitted (it lists at most
// v1alpha1.MaxNeedsAttention). None when nothing is left out.
func MoreLines(p Profile, elsewhere int, namespace string) []string {
	var lines []string
	if elsewhere > 0 {
		lines = append(lines, fmt.Sprintf("%s: and %d more in other namespaces than %s (-A lists them)", p.ID(), elsewhere, namespace))
	}
	if n := p.Status.NeedsAttentionOmitted; n > 0 {
		lines = append(lines, fmt.Sprintf("%s: and %d more, not listed: a profile's status lists at most %d", p.ID(), n,
			v1alpha1.MaxNeedsAttention))
	}
	return lines
}

// Age is how long ago t was, as kubectl writes ages (5m, 3h2m, 4d); "-" when unknown.
func Age(t *metav1.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// oneLine keeps a message on its line of the table.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
