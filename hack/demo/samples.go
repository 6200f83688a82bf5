package main

import (
	"fmt"
	"maps"
	"os"
	"slices"

	"sigs.k8s.io/yaml"
)

// clusterImage is the one image hack/e2e's cluster has (hack/e2e/images.sh: Debian's static busybox): it pulls
// nothing, and its tag is not latest, so that the kubelet does not try to.
const clusterImage = "busybox:local"

// ForCluster reads a one-document sample of config/samples and returns it as YAML with every image (of the
// workload's containers and of the profile's sidecars alike) replaced by clusterImage, and the images it replaced.
func ForCluster(path string) ([]byte, []string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var obj map[string]any
	if err := yaml.Unmarshal(raw, &obj); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	replaced := map[string]bool{}
	replaceImages(obj, replaced)
	out, err := yaml.Marshal(obj)
	return out, slices.Sorted(maps.Keys(replaced)), err
}

// replaceImages sets every string field named image, at any depth, to clusterImage, noting the values it replaced.
func replaceImages(v any, replaced map[string]bool) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if s, ok := x.(string); ok && k == "image" {
				if s != clusterImage {
					replaced[s] = true
					t[k] = clusterImage
				}
				continue
			}
			replaceImages(x, replaced)
		}
	case []any:
		for _, x := range t {
			replaceImages(x, replaced)
		}
	}
}
