package offline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/outrigger-dev/outrigger/internal/selection"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// Stdin is the path that names standard input, as in kubectl.
const Stdin = "-"

// Document is one YAML (or JSON) document of an input, kept with the exact text it was read from, so that a
// document Outrigger does not change is printed byte for byte.
type Document struct {
	// Source is the file the document comes from ("stdin" for standard input); Index its 1-based position there.
	Source string
	Index  int
	// Text is the document as read, the "---" line before it included.
	Text []byte

	sep, body []byte
	node      *yaml.Node // the parsed document (a DocumentNode); nil when the text holds only comments or blanks
	json      []byte     // the document as JSON, as kubectl would send it
	meta      metav1.PartialObjectMetadata
}

// Where names the document in messages.
func (d *Document) Where() string { return fmt.Sprintf("%s, document %d", d.Source, d.Index) }

// isObject reports whether the document is a mapping: something that can be a Kubernetes object.
func (d *Document) isObject() bool {
	return d.node != nil && len(d.node.Content) == 1 && d.node.Content[0].Kind == yaml.MappingNode
}

// Reader reads manifests. Standard input can be read only once, whether by -f or by --profiles.
type Reader struct {
	Stdin io.Reader
	// Recursive reads the subdirectories of directories too.
	Recursive bool
	stdinRead bool
}

// Read reads the documents of the given paths, in order: files, directories (their .yaml, .yml and .json
// files, sorted by name) and "-" for stdin.
func (r *Reader) Read(paths []string) ([]*Document, error) {
	var docs []*Document
	for _, p := range paths {
		var d []*Document
		var err error
		if p == Stdin {
			d, err = r.readStdin()
		} else {
			d, err = r.readPath(p)
		}
		if err != nil {
			return nil, err
		}
		docs = append(docs, d...)
	}
	return docs, nil
}

func (r *Reader) readStdin() ([]*Document, error) {
	if r.stdinRead {
		return nil, errors.New(`"-" (stdin) can be read only once`)
	}
	r.stdinRead = true
	data, err := io.ReadAll(r.Stdin)
	if err != nil {
		return nil, fmt.Errorf("reading stdin: %w", err)
	}
	return Split("stdin", data)
}

func (r *Reader) readPath(path string) ([]*Document, error) {
	files, err := manifestFiles(path, r.Recursive)
	if err != nil {
		return nil, err
	}
	var docs []*Document
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		d, err := Split(f, data)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d...)
	}
	return docs, nil
}

// manifestFiles returns path itself if it is a file, or the manifests in it if it is a directory.
func manifestFiles(path string, recursive bool) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, e fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case e.IsDir() && p != path && !recursive:
			return filepath.SkipDir
		case !e.IsDir() && isManifest(p):
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

func isManifest(p string) bool {
	switch strings.ToLower(filepath.Ext(p)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// Split cuts a stream into its documents at the "---" lines, keeping every byte: the texts of the documents,
// concatenated, give data back. Text before the first "---" that holds no document (a comment) is kept as a
// document of its own, so that it is printed too.
func Split(source string, data []byte) ([]*Document, error) {
	var docs []*Document
	var sep, body []byte
	index := 0
	flush := func() error {
		if len(sep) == 0 && len(body) == 0 {
			return nil
		}
		d := &Document{Source: source, Text: append(append([]byte{}, sep...), body...), sep: sep, body: body}
		if err := d.parse(); err != nil {
			return fmt.Errorf("%s, document %d: %w", source, index+1, err)
		}
		if d.node != nil {
			index++
		}
		d.Index = index
		docs = append(docs, d)
		return nil
	}
	for _, line := range lines(data) {
		if !isSeparator(line) {
			body = append(body, line...)
			continue
		}
		if err := flush(); err != nil {
			return nil, err
		}
		sep, body = line, nil
	}
	return docs, flush()
}

// lines cuts data after every newline; the last line may have none.
func lines(data []byte) [][]byte {
	var out [][]byte
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return append(out, data)
		}
		out = append(out, data[:i+1])
		data = data[i+1:]
	}
	return out
}

// isSeparator reports whether a line is a YAML document start marker: "---" at column 0, alone or followed by a
// blank (and, say, a comment).
func isSeparator(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte("---"))
	return ok && (len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t' || rest[0] == '\n' || rest[0] == '\r')
}

// parse reads the document's node tree (for editing), its JSON (for the typed decoders, as kubectl converts
// YAML) and its type and metadata.
func (d *Document) parse() error {
	var n yaml.Node
	if err := yaml.Unmarshal(d.body, &n); err != nil {
		return err
	}
	if n.Kind == 0 || len(n.Content) == 0 {
		return nil
	}
	d.node = &n
	if !d.isObject() {
		return nil
	}
	var err error
	if d.json, err = sigsyaml.YAMLToJSON(d.body); err != nil {
		return err
	}
	if err := json.Unmarshal(d.json, &d.meta); err != nil {
		// Only the kinds the CLI reads must have a readable metadata; any other document is printed as it is.
		var tm metav1.TypeMeta
		_ = json.Unmarshal(d.json, &tm)
		if isKnownKind(tm.Kind) {
			return fmt.Errorf("reading the %s's metadata: %w", tm.Kind, err)
		}
		d.meta = metav1.PartialObjectMetadata{}
	}
	return nil
}

// isKnownKind reports whether the CLI reads documents of the kind: the workload kinds of the registry
// (internal/workload), the profiles, and Namespaces (for their labels).
func isKnownKind(kind string) bool {
	if _, isProfile := selection.NewProfile(kind); isProfile || kind == "Namespace" {
		return true
	}
	return slices.ContainsFunc(workload.All, func(k workload.Kind) bool { return k.GVK.Kind == kind })
}

// isJSON reports whether the document was written as JSON (a flow mapping), which is re-encoded as YAML when
// it changes: there are no comments to keep.
func (d *Document) isJSON() bool {
	return bytes.HasPrefix(bytes.TrimSpace(d.body), []byte("{"))
}
