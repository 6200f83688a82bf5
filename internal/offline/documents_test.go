package offline

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/outrigger-dev/outrigger/internal/workload"
)

func TestSplit_KeepsEveryByteAndCountsOnlyRealDocuments(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		objects int
	}{
		{"Empty", "", 0},
		{"OneDocument", "a: 1\n", 1},
		{"NoFinalNewline", "a: 1\n---\nb: 2", 2},
		{"LeadingCommentBeforeTheFirstSeparator", "# header\n---\na: 1\n---\nb: 2\n", 2},
		{"SeparatorWithCommentAndEndMarker", "--- # first\na: 1\n...\n---\nb: 2\n", 2},
		{"EmptyDocumentsBetweenSeparators", "---\n---\na: 1\n---\n", 1},
		{"DashesInsideAValueAreNotASeparator", "a: |\n  ---\n  text\nb: ---x\n", 1},
		{"CRLF", "a: 1\r\n---\r\nb: 2\r\n", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs, err := Split("in", []byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			var all []byte
			objects := 0
			for _, d := range docs {
				all = append(all, d.Text...)
				if d.isObject() {
					objects++
					if d.Index != objects {
						t.Errorf("document %q has index %d, want %d", d.Text, d.Index, objects)
					}
				}
			}
			if string(all) != tc.in {
				t.Errorf("texts concatenated = %q, want the input %q", all, tc.in)
			}
			if objects != tc.objects {
				t.Errorf("%d objects, want %d", objects, tc.objects)
			}
		})
	}
}

func TestSplit_NamesTheDocumentThatIsNotYAML(t *testing.T) {
	_, err := Split("app.yaml", []byte("a: 1\n---\nb: [unclosed\n"))
	if err == nil || !strings.Contains(err.Error(), "app.yaml, document 2") {
		t.Fatalf("err = %v, want one naming app.yaml, document 2", err)
	}
}

func TestSplit_OnlyTheKindsTheCLIReadsNeedAReadableMetadata(t *testing.T) {
	if _, err := Split("in", []byte("kind: Note\nmetadata: [a, b]\n")); err != nil {
		t.Errorf("another kind with an odd metadata: %v", err)
	}
	if _, err := Split("in", []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: [a, b]\n")); err == nil {
		t.Errorf("a Deployment whose metadata is a list: no error")
	}
}

func TestRead_DirectoriesStdinAndRecursion(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("b.yaml", "b: 1\n")
	write("a.yml", "a: 1\n")
	write("c.json", `{"c": 1}`)
	write("notes.txt", "not a manifest")
	write("sub/d.yaml", "d: 1\n")

	sources := func(docs []*Document) string {
		var names []string
		for _, d := range docs {
			names = append(names, filepath.Base(d.Source))
		}
		return strings.Join(names, ",")
	}
	docs, err := (&Reader{Stdin: strings.NewReader("e: 1\n")}).Read([]string{dir, "-"})
	if err != nil {
		t.Fatal(err)
	}
	if got := sources(docs); got != "a.yml,b.yaml,c.json,stdin" {
		t.Errorf("sources = %s, want a.yml,b.yaml,c.json,stdin (sorted, no .txt, no subdirectory)", got)
	}
	docs, err = (&Reader{Recursive: true}).Read([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if got := sources(docs); got != "a.yml,b.yaml,c.json,d.yaml" {
		t.Errorf("recursive sources = %s, want a.yml,b.yaml,c.json,d.yaml", got)
	}
	if _, err := (&Reader{Stdin: bytes.NewReader(nil)}).Read([]string{"-", "-"}); err == nil {
		t.Errorf("reading stdin twice: no error")
	}
	if _, err := (&Reader{}).Read([]string{filepath.Join(dir, "missing.yaml")}); err == nil {
		t.Errorf("a missing file: no error")
	}
}

// The kinds the CLI injects and reads come from the registry of internal/workload: every kind there, in the API
// version Outrigger reads it as, and no other version.
func TestKindsComeFromTheRegistry(t *testing.T) {
	for _, k := range workload.All {
		d := &Document{meta: metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: k.GVK.GroupVersion().String(), Kind: k.GVK.Kind}}}
		if got, ok := workloadKind(d); !ok || got.Name != k.Name {
			t.Errorf("%s: workloadKind = %v, %v", k.GVK, got.Name, ok)
		}
		if !isKnownKind(k.GVK.Kind) {
			t.Errorf("%s is not a known kind", k.GVK.Kind)
		}
		d.meta.APIVersion = k.GVK.Group + "/v1beta1"
		if _, ok := workloadKind(d); ok {
			t.Errorf("%s: another version is taken for the kind", d.meta.APIVersion)
		}
	}
	for kind, want := range map[string]bool{"SidecarProfile": true, "ClusterSidecarProfile": true, "Namespace": true, "ConfigMap": false} {
		if isKnownKind(kind) != want {
			t.Errorf("isKnownKind(%s) = %v", kind, !want)
		}
	}
	if got := kindList(); got != "Deployment, Job, CronJob, StatefulSet, DaemonSet or Rollout" {
		t.Errorf("kindList() = %q", got)
	}
}
