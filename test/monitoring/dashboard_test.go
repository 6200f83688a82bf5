package monitoring

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const dashboardPath = "config/components/prometheus/dashboard.json"

// dashboard is the part of Grafana's dashboard model the tests read.
type dashboard struct {
	Title      string  `json:"title"`
	UID        string  `json:"uid"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, dashboardPath))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	return d
}

// grafanaVariables are what Grafana puts in place of the dashboard's variables before it sends a query.
var grafanaVariables = strings.NewReplacer(
	"$__rate_interval", "2m",
	"$profile_namespace", ".*",
	"$profile", ".*",
)

var labelValues = regexp.MustCompile(`^label_values\((.+), *[a-z_]+\)$`)

func TestDashboard_EveryQueryParsesAndReadsOnlyExportedMetrics(t *testing.T) {
	d := loadDashboard(t)
	if d.Title == "" || d.UID == "" {
		t.Errorf("%s: the dashboard needs a title and a uid (links to it use the uid)", dashboardPath)
	}
	exported := exportedMetrics(t)
	read := map[string]bool{}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		where := "panel " + p.Title
		if ids[p.ID] {
			t.Errorf("%s: id %d is taken by another panel", where, p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W == 0 || p.GridPos.H == 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("%s: gridPos %+v does not fit the 24 columns", where, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("%s: its data source is not the dashboard's variable ${datasource}", where)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no query", where)
		}
		for _, target := range p.Targets {
			for _, name := range metricNames(t, where, grafanaVariables.Replace(target.Expr)) {
				read[name] = true
				if !exported[name] {
					t.Errorf("%s reads %s, which no one exports (%s)", where, name, exportedList(exported))
				}
			}
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.Definition)
		if m == nil {
			t.Errorf("variable %s: %q is not label_values(<selector>, <label>)", v.Name, v.Definition)
			continue
		}
		for _, name := range metricNames(t, "variable "+v.Name, grafanaVariables.Replace(m[1])) {
			if !exported[name] {
				t.Errorf("variable %s reads %s, which no one exports", v.Name, name)
			}
		}
	}
	// And the dashboard shows each of Outrigger's metrics somewhere (a histogram by its buckets).
	for _, name := range outriggerMetrics(t) {
		if !read[name] && !strings.HasSuffix(name, "_sum") && !strings.HasSuffix(name, "_count") {
			t.Errorf("no panel shows %s", name)
		}
	}
}
