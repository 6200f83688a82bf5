// Package render renders Outrigger's install manifests in-process, as the tests that check them read them: a
// kustomize tree (kustomize's krusty, as `kustomize build`) and the Helm chart (Helm's chart loader, values
// coalescing and template engine, as `helm template`), decoded into objects. test/install and test/monitoring
// both render through it, so they check the same renderings.
package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Kustomize is `kustomize build dir`.
func Kustomize(dir string) ([]*unstructured.Unstructured, error) {
	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	out, err := resMap.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	return Decode("kustomize build "+dir, out)
}

// Helm is `helm template` of the chart in chartDir as the release, with values on top of its values.yaml, for a
// cluster of the given capabilities (nil: Helm's defaults, as `helm template` without --kube-version or
// --api-versions). The rendered files are decoded in the order of their names.
func Helm(chartDir string, release common.ReleaseOptions, values map[string]any, caps *common.Capabilities) ([]*unstructured.Unstructured, error) {
	files, err := HelmFiles(chartDir, release, values, caps)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		if strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var objs []*unstructured.Unstructured
	for _, name := range names {
		o, err := Decode("helm template: "+name, []byte(files[name]))
		if err != nil {
			return nil, err
		}
		objs = append(objs, o...)
	}
	return objs, nil
}

// HelmFiles is what Helm's engine renders of the chart, by file name: its error is the one `helm template` would
// print.
func HelmFiles(chartDir string, release common.ReleaseOptions, values map[string]any, caps *common.Capabilities) (map[string]string, error) {
	chrt, err := loader.Load(chartDir)
	if err != nil {
		return nil, fmt.Errorf("loading the chart: %w", err)
	}
	vals, err := chartutil.ToRenderValues(chrt, values, release, caps)
	if err != nil {
		return nil, fmt.Errorf("chart values: %w", err)
	}
	files, err := engine.Render(chrt, vals)
	if err != nil {
		return nil, fmt.Errorf("helm template: %w", err)
	}
	return files, nil
}

// Decode reads the YAML or JSON documents of data (from source, for messages) into objects, skipping empty ones;
// a document without apiVersion, kind or name is an error.
func Decode(source string, data []byte) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw); err != nil {
			return nil, fmt.Errorf("%s: %w\n%s", source, err, raw)
		}
		if u.GetKind() == "" || u.GetAPIVersion() == "" || u.GetName() == "" {
			return nil, fmt.Errorf("%s: a document without apiVersion, kind or name: %s", source, raw)
		}
		objs = append(objs, u)
	}
}
