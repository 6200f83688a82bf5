// Command manifests adapts the rendered config/default (`kubectl kustomize config/default`, on stdin) to the
// local e2e cluster (hack/e2e) and writes it to stdout. Two ways to run Outrigger there:
//
//	--mode=process: the manager runs on the host (bin/manager), where the apiserver runs too. The manager
//	  Deployment is left out, and every webhook's clientConfig.service becomes clientConfig.url
//	  https://localhost:<port><service path>: the apiserver calls the process directly.
//	--mode=pod: the manager runs as the Deployment of config/default, with --image (imported with ctr, never
//	  pulled) and KUBERNETES_SERVICE_HOST/PORT pointing at --apiserver, since this cluster has no kube-proxy to
//	  route the kubernetes Service. The webhook configurations are left as they are: the apiserver, started with
//	  --enable-aggregator-routing, calls the webhook Service's endpoint (the pod's IP) itself.
//
// Everything else (CRDs, RBAC, namespace, Service) is applied as users apply it.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/outrigger-dev/outrigger/internal/workload"
)

func main() {
	mode := flag.String("mode", "process", "process or pod")
	port := flag.Int("webhook-port", 9443, "process: the port of the manager's webhook server on localhost")
	image := flag.String("image", "docker.io/library/outrigger:e2e", "pod: the manager's image")
	apiserver := flag.String("apiserver", "10.244.0.1:6443", "pod: host:port where pods reach the apiserver")
	flag.Parse()
	in, err := io.ReadAll(bufio.NewReader(os.Stdin))
	if err == nil {
		var out []byte
		out, err = adapt(in, *mode, *port, *image, *apiserver)
		if err == nil {
			_, err = os.Stdout.Write(out)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hack/e2e/manifests:", err)
		os.Exit(1)
	}
}

func adapt(in []byte, mode string, port int, image, apiserver string) ([]byte, error) {
	if mode != "process" && mode != "pod" {
		return nil, fmt.Errorf("--mode=%q: must be process or pod", mode)
	}
	var out bytes.Buffer
	managers := 0
	for _, doc := range splitDocuments(in) {
		var obj map[string]any
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			return nil, err
		}
		if obj == nil {
			continue
		}
		kind, _ := obj["kind"].(string)
		switch {
		case kind == workload.Deployment.GVK.Kind: // config/default has one Deployment: the manager
			managers++
			if mode == "process" {
				continue
			}
			if err := podManager(obj, image, apiserver); err != nil {
				return nil, err
			}
		case mode == "process" && (kind == "MutatingWebhookConfiguration" || kind == "ValidatingWebhookConfiguration"):
			if err := webhooksToURL(obj, port); err != nil {
				return nil, err
			}
		}
		b, err := yaml.Marshal(obj)
		if err != nil {
			return nil, err
		}
		out.WriteString("---\n")
		out.Write(b)
	}
	if managers != 1 {
		return nil, fmt.Errorf("expected one Deployment (the manager) in the input, found %d", managers)
	}
	return out.Bytes(), nil
}

func splitDocuments(in []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	for line := range strings.Lines(string(in)) {
		if strings.TrimRight(line, "\r\n") == "---" {
			docs = append(docs, bytes.Clone(cur.Bytes()))
			cur.Reset()
			continue
		}
		cur.WriteString(line)
	}
	return append(docs, cur.Bytes())
}

func webhooksToURL(obj map[string]any, port int) error {
	hooks, _ := obj["webhooks"].([]any)
	for _, h := range hooks {
		hook, _ := h.(map[string]any)
		cc, _ := hook["clientConfig"].(map[string]any)
		svc, _ := cc["service"].(map[string]any)
		if svc == nil {
			return fmt.Errorf("webhook %v has no clientConfig.service", hook["name"])
		}
		path, _ := svc["path"].(string)
		delete(cc, "service")
		cc["url"] = "https://localhost:" + strconv.Itoa(port) + path
	}
	return nil
}

func podManager(obj map[string]any, image, apiserver string) error {
	host, port, ok := strings.Cut(apiserver, ":")
	if !ok {
		return fmt.Errorf("--apiserver=%q: want host:port", apiserver)
	}
	spec, _ := obj["spec"].(map[string]any)
	tmpl, _ := spec["template"].(map[string]any)
	podSpec, _ := tmpl["spec"].(map[string]any)
	containers, _ := podSpec["containers"].([]any)
	for _, c := range containers {
		container, _ := c.(map[string]any)
		if container["name"] != "manager" {
			continue
		}
		container["image"] = image
		container["imagePullPolicy"] = "Never"
		env, _ := container["env"].([]any)
		container["env"] = append(env,
			map[string]any{"name": "KUBERNETES_SERVICE_HOST", "value": host},
			map[string]any{"name": "KUBERNETES_SERVICE_PORT", "value": port})
		return nil
	}
	return fmt.Errorf("the Deployment %v has no container named manager", obj["metadata"])
}
