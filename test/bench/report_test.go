package bench

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/outrigger-dev/outrigger/internal/workload"
)

// The budget (ARCHITECTURE.md, "Performance budget").
const (
	maxConvergenceRatio  = 1.3
	maxAdmissionOverhead = 0.15
	maxHeapBytes         = 150 << 20
)

type result struct {
	Kind           workload.Kind
	N, Workers     int
	Admission      admissionResult // measured for Deployments only (Created is 0 otherwise)
	Inject, Remove phaseResult
	Memory         *memoryResult
}

type admissionResult struct {
	// Without: plain Deployments, no webhook. PreInjected: the same Deployments with the sidecar already in,
	// no webhook (what the bigger object costs). Noop: plain, through a webhook that does nothing (what calling
	// a webhook costs). With: plain, through Outrigger's webhook, which injects them.
	// FixedPatch: plain, through a webhook answering a precomputed sidecar patch (what applying the patch costs
	// the apiserver, without computing it).
	Without, PreInjected, Noop, FixedPatch, With time.Duration
	Created                                      int
	InjectedAtCreation                           int
}

func (a admissionResult) overhead() float64 { return a.With.Seconds()/a.Without.Seconds() - 1 }

// biggerObjectOverhead is what storing the injected object costs, without any webhook.
func (a admissionResult) biggerObjectOverhead() float64 {
	return a.PreInjected.Seconds()/a.Without.Seconds() - 1
}

// fixedPatchOverhead is what a webhook answering the sidecar patch without computing it costs.
func (a admissionResult) fixedPatchOverhead() float64 {
	return a.FixedPatch.Seconds()/a.Without.Seconds() - 1
}

// noopOverhead is what calling a webhook that does nothing costs.
func (a admissionResult) noopOverhead() float64 { return a.Noop.Seconds()/a.Without.Seconds() - 1 }

// phaseResult is one convergence: the bare client's time and Outrigger's, Outrigger's writes, and the resync
// (manager restart) after it.
type phaseResult struct {
	Bare, Outrigger   time.Duration
	Writes, Conflicts float64
	Resync            resyncResult
}

func (p phaseResult) ratio() float64 { return p.Outrigger.Seconds() / p.Bare.Seconds() }

type resyncResult struct {
	Writes   float64
	Duration time.Duration
}

type memoryResult struct {
	Pods, InjectedPods  int
	HeapBytes, RSSBytes float64
}

// report hands the figures to the benchmark framework, so that benchstat can compare runs.
func (r result) report(b *testing.B) {
	n := float64(r.N)
	b.ReportMetric(r.Inject.ratio(), "inject-ratio")
	b.ReportMetric(r.Inject.Writes/n, "inject-writes/workload")
	b.ReportMetric(r.Inject.Resync.Writes, "resync-writes")
	b.ReportMetric(r.Remove.ratio(), "remove-ratio")
	b.ReportMetric(r.Remove.Writes/n, "remove-writes/workload")
	b.ReportMetric(r.Remove.Resync.Writes, "remove-resync-writes")
	if r.Admission.Created > 0 {
		b.ReportMetric(100*r.Admission.overhead(), "admission-overhead-%")
		b.ReportMetric(100*r.Admission.noopOverhead(), "noop-webhook-overhead-%")
		b.ReportMetric(100*r.Admission.biggerObjectOverhead(), "bigger-object-overhead-%")
		b.ReportMetric(100*r.Admission.fixedPatchOverhead(), "fixed-patch-webhook-overhead-%")
	}
	if r.Memory != nil {
		b.ReportMetric(r.Memory.HeapBytes/(1<<20), "heap-MiB")
		b.ReportMetric(r.Memory.RSSBytes/(1<<20), "rss-MiB")
	}
}

// phases are a result's two convergences, named.
func (r result) phases() []namedPhase {
	return []namedPhase{{"inject", r.Inject}, {"remove", r.Remove}}
}

type namedPhase struct {
	name string
	phaseResult
}

// The convergence budget of a phase of n workloads.
func (p phaseResult) ratioOK() bool       { return p.ratio() <= maxConvergenceRatio }
func (p phaseResult) writesOK(n int) bool { return p.Writes == float64(n) }
func (p phaseResult) resyncOK() bool      { return p.Resync.Writes == 0 }

// missed says which convergence figures of a result miss the budget.
func (r result) missed() []string {
	var out []string
	for _, p := range r.phases() {
		if !p.ratioOK() {
			out = append(out, fmt.Sprintf("%s: ratio %.2f > %.1f (Outrigger %s, bare client %s)", p.name, p.ratio(), maxConvergenceRatio, secs(p.Outrigger), secs(p.Bare)))
		}
		if !p.writesOK(r.N) {
			out = append(out, fmt.Sprintf("%s: %.0f writes for %d workloads", p.name, p.Writes, r.N))
		}
		if !p.resyncOK() {
			out = append(out, fmt.Sprintf("%s: %.0f writes on resync", p.name, p.Resync.Writes))
		}
	}
	return out
}

// renderTable renders the convergence, admission and memory tables.
func renderTable(rs []result) string {
	var sb strings.Builder
	sb.WriteString(renderConvergence(rs))
	fmt.Fprintf(&sb, "\nAdmission (creating Deployments, %d at a time; budget: webhook overhead <= %.0f%%)\n\n", createWorkers, 100*maxAdmissionOverhead)
	sb.WriteString("| Deployments (each way) | no webhook | no webhook, sidecar already in | no-op webhook | webhook with a precomputed patch | Outrigger's webhook | Outrigger's overhead | injected object alone | no-op webhook alone | precomputed patch | injected at creation |\n")
	sb.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rs {
		a := r.Admission
		fmt.Fprintf(&sb, "| %d | %s | %s | %s | %s | %s | %+.1f%% %s | %+.1f%% | %+.1f%% | %+.1f%% | %d of %d |\n", a.Created,
			secs(a.Without), secs(a.PreInjected), secs(a.Noop), secs(a.FixedPatch), secs(a.With),
			100*a.overhead(), verdict(a.overhead() <= maxAdmissionOverhead), 100*a.biggerObjectOverhead(), 100*a.noopOverhead(),
			100*a.fixedPatchOverhead(), a.InjectedAtCreation, a.Created)
	}
	for _, r := range rs {
		if m := r.Memory; m != nil {
			fmt.Fprintf(&sb, "\nMemory (%d pods, %d of them injected, %d Deployments; budget: heap < %d MiB)\n\n", m.Pods, m.InjectedPods, 2*r.N, maxHeapBytes>>20)
			sb.WriteString("| heap after GC | RSS |\n|---:|---:|\n")
			fmt.Fprintf(&sb, "| %.1f MiB %s | %.1f MiB |\n", m.HeapBytes/(1<<20), verdict(m.HeapBytes < maxHeapBytes), m.RSSBytes/(1<<20))
		}
	}
	return sb.String()
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func verdict(ok bool) string {
	if ok {
		return "(ok)"
	}
	return "(MISSED)"
}

// renderConvergence renders the convergence table of results of one kind.
func renderConvergence(rs []result) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "Convergence (%d namespaces; Outrigger and the bare client with %d workers; budget: ratio <= %.1f, 1 write per workload, 0 on resync)\n\n",
		namespaces, rs[0].Workers, maxConvergenceRatio)
	fmt.Fprintf(&sb, "| %s | phase | Outrigger | bare client | ratio | writes per workload | 409s | resync writes | resync time |\n", plural(rs[0].Kind))
	sb.WriteString("|---:|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rs {
		for _, p := range r.phases() {
			fmt.Fprintf(&sb, "| %d | %s | %s | %s | %.2f %s | %.3f %s | %.0f | %.0f %s | %s |\n", r.N, p.name,
				secs(p.Outrigger), secs(p.Bare), p.ratio(), verdict(p.ratioOK()),
				p.Writes/float64(r.N), verdict(p.writesOK(r.N)), p.Conflicts,
				p.Resync.Writes, verdict(p.resyncOK()), secs(p.Resync.Duration))
		}
	}
	return sb.String()
}

// plotConvergence draws convergence time against N, Outrigger and the bare client, injection and removal.
func plotConvergence(rs []result, path string) error {
	p := plot.New()
	p.Title.Text = "Convergence of a new (and a deleted) profile"
	p.X.Label.Text = "Deployments selected"
	p.Y.Label.Text = "seconds until all carry it"
	line := func(get func(result) time.Duration) plotter.XYs {
		xys := make(plotter.XYs, len(rs))
		for i, r := range rs {
			xys[i] = plotter.XY{X: float64(r.N), Y: get(r).Seconds()}
		}
		return xys
	}
	if err := plotutil.AddLinePoints(p,
		"Outrigger, inject", line(func(r result) time.Duration { return r.Inject.Outrigger }),
		"bare client, inject", line(func(r result) time.Duration { return r.Inject.Bare }),
		"Outrigger, remove", line(func(r result) time.Duration { return r.Remove.Outrigger }),
		"bare client, remove", line(func(r result) time.Duration { return r.Remove.Bare }),
	); err != nil {
		return err
	}
	p.Legend.Top, p.Legend.Left = true, true
	return p.Save(16*vg.Centimeter, 10*vg.Centimeter, path)
}
