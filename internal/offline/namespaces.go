package offline

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// nameLabel is the label the apiserver puts on every namespace, set to its name: the one label the CLI knows
// without being told.
const nameLabel = corev1.LabelMetadataName

// namespaces holds the labels of the namespaces the CLI was told about: by Namespace objects among its inputs,
// then by --namespace-labels. A namespace nobody mentions is taken to exist with only its name label, as every
// namespace a workload can be created in does.
type namespaces struct {
	labels map[string]map[string]string
	// told records the namespaces whose labels were given, so explain can say when it guessed.
	told map[string]bool
}

func newNamespaces() *namespaces {
	return &namespaces{labels: map[string]map[string]string{}, told: map[string]bool{}}
}

// add merges labels into those of namespace ns.
func (n *namespaces) add(ns string, labels map[string]string) {
	if n.labels[ns] == nil {
		n.labels[ns] = map[string]string{}
	}
	for k, v := range labels {
		n.labels[ns][k] = v
	}
	n.told[ns] = true
}

// addDocuments takes the labels of the v1 Namespace objects among docs.
func (n *namespaces) addDocuments(docs []*Document) {
	for _, d := range docs {
		if d.meta.APIVersion == "v1" && d.meta.Kind == "Namespace" && d.meta.Name != "" {
			n.add(d.meta.Name, d.meta.Labels)
		}
	}
}

// Labels returns the labels of namespace ns, with the name label the apiserver always sets (and overrides).
func (n *namespaces) Labels(ns string) map[string]string {
	out := map[string]string{}
	for k, v := range n.labels[ns] {
		out[k] = v
	}
	out[nameLabel] = ns
	return out
}

// ParseNamespaceLabels reads a --namespace-labels value, NAMESPACE=KEY=VALUE[,KEY=VALUE...], into labels.
func ParseNamespaceLabels(values []string) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	for _, v := range values {
		ns, list, ok := strings.Cut(v, "=")
		if !ok || ns == "" || list == "" {
			return nil, fmt.Errorf("--namespace-labels %q: want NAMESPACE=KEY=VALUE[,KEY=VALUE...]", v)
		}
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return nil, fmt.Errorf("--namespace-labels %q: namespace %q: %s", v, ns, strings.Join(errs, "; "))
		}
		if out[ns] == nil {
			out[ns] = map[string]string{}
		}
		for _, kv := range strings.Split(list, ",") {
			k, val, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, fmt.Errorf("--namespace-labels %q: %q is not KEY=VALUE", v, kv)
			}
			if errs := append(validation.IsQualifiedName(k), validation.IsValidLabelValue(val)...); len(errs) > 0 {
				return nil, fmt.Errorf("--namespace-labels %q: label %s=%s: %s", v, k, val, strings.Join(errs, "; "))
			}
			out[ns][k] = val
		}
	}
	return out, nil
}
