// Package requestmetrics counts the manager's requests to the apiserver by verb, resource and status code, as the
// metric outrigger_apiserver_requests_total. client-go's own rest_client_requests_total has no resource label,
// and "how many times did Outrigger write my Deployments" is the question a platform team asks (the benchmarks
// read it too).
package requestmetrics

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Name is the metric's name.
const Name = "outrigger_apiserver_requests_total"

var requests = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: Name,
	Help: "Requests of the Outrigger manager to the apiserver, by verb (get, list, watch, create, update, patch, delete), resource (group/resource[/subresource]) and HTTP status code.",
}, []string{"verb", "resource", "code"})

func init() {
	metrics.Registry.MustRegister(requests)
}

// Instrument returns a copy of cfg whose requests are counted.
func Instrument(cfg *rest.Config) *rest.Config {
	out := rest.CopyConfig(cfg)
	out.Wrap(func(rt http.RoundTripper) http.RoundTripper { return counting{next: rt} })
	return out
}

type counting struct{ next http.RoundTripper }

func (c counting) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	code := "error"
	if err == nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	verb, resource := Classify(req.Method, req.URL.Path, req.URL.Query().Get("watch") == "true")
	requests.WithLabelValues(verb, resource, code).Inc()
	return resp, err
}

// Classify names a request's verb and resource from its method and path, as the apiserver's audit log does:
// GET of a collection is list (or watch), of one object get. Paths that are not resources (discovery, /version)
// are "nonresource".
func Classify(method, path string, watch bool) (verb, resource string) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	var rest []string
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		rest = parts[2:] // /api/v1/...: the core group
	case len(parts) >= 3 && parts[0] == "apis":
		rest = parts[3:]
	default:
		return strings.ToLower(method), "nonresource"
	}
	group := ""
	if parts[0] == "apis" {
		group = parts[1]
	}
	if len(rest) >= 2 && rest[0] == "namespaces" && len(rest) > 2 {
		rest = rest[2:] // namespaced: namespaces/<ns>/<resource>...
	}
	if len(rest) == 0 {
		return strings.ToLower(method), "nonresource"
	}
	resource = rest[0]
	if len(rest) >= 3 {
		resource += "/" + rest[2]
	}
	if group != "" {
		resource = group + "/" + resource
	}
	return verbOf(method, len(rest) >= 2, watch), resource
}

func verbOf(method string, named, watch bool) string {
	switch {
	case method == http.MethodGet && watch:
		return "watch"
	case method == http.MethodGet && !named:
		return "list"
	case method == http.MethodPost:
		return "create"
	case method == http.MethodPut:
		return "update"
	default:
		return strings.ToLower(method)
	}
}
