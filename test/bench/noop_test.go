package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// noopWebhook is an admission webhook that allows everything and changes nothing, served with the same
// framework (controller-runtime's admission.Webhook), certificate and TLS settings as the manager's. Creating
// Deployments through it measures what calling any webhook costs the apiserver, so that the cost of Outrigger's
// own work can be told apart.
type noopWebhook struct {
	server *http.Server
	url    string
}

func startNoopWebhook(certDir, host string) (*noopWebhook, error) {
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
	// HTTP/1.1 only, as the manager's webhook server by default.
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
	w := &noopWebhook{server: &http.Server{Handler: mux, TLSConfig: tlsConfig}, url: fmt.Sprintf("https://%s/noop", l.Addr())}
	go func() {
		if err := w.server.Serve(tls.NewListener(l, tlsConfig)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Println("no-op webhook:", err)
		}
	}()
	return w, nil
}

func (w *noopWebhook) stop() { _ = w.server.Close() }

// configuration is Outrigger's mutating webhook configuration pointed at the no-op webhook.
func (w *noopWebhook) configuration(outriggers *admissionregistrationv1.MutatingWebhookConfiguration) *admissionregistrationv1.MutatingWebhookConfiguration {
	c := outriggers.DeepCopy()
	c.ResourceVersion, c.UID = "", ""
	for i := range c.Webhooks {
		c.Webhooks[i].ClientConfig.URL = &w.url
	}
	return c
}
