package monitoring

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocs_NameEveryMetricAndAlert: docs/metrics.md is where a user looks a metric or an alert up.
func TestDocs_NameEveryMetricAndAlert(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "docs/metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	for _, name := range outriggerMetrics(t) {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		if !strings.Contains(doc, "`"+base+"`") {
			t.Errorf("docs/metrics.md does not list %s", base)
		}
	}
	for _, g := range parsedRules(t).Groups {
		for _, r := range g.Rules {
			if !strings.Contains(doc, "`"+r.Alert+"`") {
				t.Errorf("docs/metrics.md does not list the alert %s", r.Alert)
			}
		}
	}
}
