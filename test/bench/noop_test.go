package bench

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/outrigger-dev/outrigger/internal/inject"
	"github.com/outrigger-dev/outrigger/internal/jsonpatch"
)

// noopWebhook is an admission webhook served with the same framework (controller-runtime's admission.Webhook),
// certificate and TLS settings as the manager's, that does no work of its own: on /noop it allows everything and
// changes nothing, on /fixed it answers every request with the same precomputed patch (the sidecar patch of
// the benchmark's Deployments). Creating Deployments through it measures what calling any webhook costs the
// apiserver, and what applying the sidecar patch costs it, so that the cost of Outrigger's own work (computing
// the patch) can be told apart.
type noopWebhook struct {
	server   *http.Server
	url      string // the /noop webhook
	fixedURL string // the /fixed webhook
}

func startNoopWebhook(certDir, host string, fixedPatch []byte) (*noopWebhook, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(certDir, "tls.crt"), filepath.Join(certDir, "tls.key"))
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/noop", &admission.Webhook{Handler: admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
		return admission.Allowed("")
	})})
	jsonPatch := admissionv1.PatchTypeJSONPatch
	mux.Handle("/fixed", &admission.Webhook{Handler: admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
		return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Allowed: true, Patch: fixedPatch, PatchType: &jsonPatch}}
	})})
	// HTTP/1.1 only, as the manager's webhook server by default.
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
	w := &noopWebhook{server: &http.Server{Handler: mux, TLSConfig: tlsConfig},
		url: fmt.Sprintf("https://%s/noop", l.Addr()), fixedURL: fmt.Sprintf("https://%s/fixed", l.Addr())}
	go func() {
		if err := w.server.Serve(tls.NewListener(l, tlsConfig)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Println("no-op webhook:", err)
		}
	}()
	return w, nil
}

func (w *noopWebhook) stop() { _ = w.server.Close() }

// configuration is Outrigger's mutating webhook configuration pointed at url (w.url or w.fixedURL).
func (w *noopWebhook) configuration(outriggers *admissionregistrationv1.MutatingWebhookConfiguration, url string) *admissionregistrationv1.MutatingWebhookConfiguration {
	c := outriggers.DeepCopy()
	c.ResourceVersion, c.UID = "", ""
	for i := range c.Webhooks {
		c.Webhooks[i].ClientConfig.URL = &url
	}
	return c
}

// sidecarPatch is the JSON patch Outrigger's webhook answers for the benchmark's Deployments of a set: the
// same for all of them (it adds the sidecar, the volume, the mount, the record and the label).
func sidecarPatch(set string) ([]byte, error) {
	d := deployment(set, 0, namespaces)
	spec := admissionProfile().Spec
	res, err := inject.Inject(&d.Spec.Template, []inject.Profile{{Ref: admissionRef, Spec: &spec.SidecarProfileSpec}})
	if err != nil {
		return nil, err
	}
	before, err := json.Marshal(d.Spec.Template)
	if err != nil {
		return nil, err
	}
	after, err := json.Marshal(res.Template)
	if err != nil {
		return nil, err
	}
	ops, err := jsonpatch.Diff(before, after)
	if err != nil {
		return nil, err
	}
	return json.Marshal(jsonpatch.Prefix(ops, "/spec/template"))
}
