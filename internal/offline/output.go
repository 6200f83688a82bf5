package offline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	sigsyaml "sigs.k8s.io/yaml"

	"github.com/outrigger-dev/outrigger/internal/workload"
)

// WriteYAML prints the documents as a multi-document YAML stream: each document's text, unchanged ones byte for
// byte. A file that does not start with "---" gets one, so that it does not run into the previous file's last
// document.
func WriteYAML(w io.Writer, docs []Output) error {
	var out []byte
	for i, o := range docs {
		if i > 0 && o.Doc.Source != docs[i-1].Doc.Source && len(out) > 0 {
			if out[len(out)-1] != '\n' {
				out = append(out, '\n')
			}
			if len(o.Doc.sep) == 0 {
				out = append(out, "---\n"...)
			}
		}
		out = append(out, o.Text...)
	}
	_, err := w.Write(out)
	return err
}

// WriteJSON prints the objects among the documents as JSON: one object alone, several in a v1 List, as
// kubectl does. Documents holding only comments are left out; keys are sorted.
func WriteJSON(w io.Writer, docs []Output) error {
	items := []json.RawMessage{}
	for _, o := range docs {
		if !o.Doc.isObject() {
			continue
		}
		j, err := sigsyaml.YAMLToJSON(o.Text)
		if err != nil {
			return fmt.Errorf("%s: %w", o.Doc.Where(), err)
		}
		items = append(items, j)
	}
	var v any = map[string]any{"apiVersion": "v1", "kind": "List", "items": items}
	if len(items) == 1 {
		v = items[0]
	}
	return writeIndented(w, v)
}

func writeIndented(w io.Writer, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err = w.Write(buf.Bytes())
	return err
}

// explanation is explain's structured output.
type explanation struct {
	Workloads []*Report `json:"workloads"`
}

// WriteExplanation prints the reports as text (for people), json or yaml.
func WriteExplanation(w io.Writer, reports []*Report, format string) error {
	switch format {
	case "json":
		return writeIndented(w, explanation{Workloads: nonNil(reports)})
	case "yaml":
		raw, err := sigsyaml.Marshal(explanation{Workloads: nonNil(reports)})
		if err != nil {
			return err
		}
		_, err = w.Write(raw)
		return err
	}
	var b strings.Builder
	for i, r := range reports {
		if i > 0 {
			b.WriteByte('\n')
		}
		writeReport(&b, r)
	}
	if len(reports) == 0 {
		fmt.Fprintf(&b, "no %s among the inputs\n", kindList())
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func nonNil(r []*Report) []*Report {
	if r == nil {
		return []*Report{}
	}
	return r
}

// writeReport writes one workload: "+" a profile injected, "!" one that selects it but could not be injected
// (or was left as it was), "-" one that does not select it, with the reason; then one "advice:" line for each
// piece of advice, and one "warning:" line for each warning no profile tells.
func writeReport(b *strings.Builder, r *Report) {
	status := "nothing injected"
	if r.Changed {
		status = "sidecars injected"
	}
	fmt.Fprintf(b, "%s: %s\n", r.Title(), status)
	if r.Note != "" {
		fmt.Fprintf(b, "  note: %s\n", r.Note)
	}
	if len(r.Profiles) == 0 {
		b.WriteString("  no profiles given\n")
	}
	for _, v := range r.Profiles {
		switch {
		case !v.Selected:
			fmt.Fprintf(b, "  - %s: not selected: %s\n", v.Profile, v.Reason)
		case len(v.Conflicts) > 0:
			fmt.Fprintf(b, "  ! %s: selects it, %s:\n", v.Profile, v.Outcome)
			for _, c := range v.Conflicts {
				fmt.Fprintf(b, "      %s\n", c)
			}
		case v.Revision == "":
			fmt.Fprintf(b, "  ! %s: selects it, %s\n", v.Profile, v.Outcome)
		default:
			mark := "+"
			if v.Outcome != "Injected" {
				mark = "!"
			}
			fmt.Fprintf(b, "  %s %s: selects it, %s (revision %s): %s\n", mark, v.Profile, v.Outcome, v.Revision, strings.Join(v.Sidecars, ", "))
		}
		for _, o := range v.Overrides {
			fmt.Fprintf(b, "      override: %s\n", o)
		}
		if v.RolloutNote != "" {
			fmt.Fprintf(b, "      rollout: %s\n", v.RolloutNote)
		}
	}
	for _, a := range r.Advice {
		fmt.Fprintf(b, "  advice: %s\n", a)
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(b, "  warning: %s\n", w)
	}
}

// kindList names the workload kinds of the registry (internal/workload) for a sentence: "Deployment, Job or
// CronJob".
func kindList() string {
	var names []string
	for _, n := range workload.Names() {
		names = append(names, string(n))
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
