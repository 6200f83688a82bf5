package statusview

import (
	"context"
	"errors"
	"fmt"
	"net"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
)

// Query says which profiles Load reads: the SidecarProfiles of Namespace (of every namespace with
// AllNamespaces) and every ClusterSidecarProfile, since those reach the namespace too; or, with Name, the
// profiles of that name; with Kind, only profiles of that kind.
type Query struct {
	Namespace     string
	AllNamespaces bool
	Name          string
	// Kind is "" for both kinds, KindSidecarProfile or KindClusterSidecarProfile.
	Kind string
}

func (q Query) wants(kind string) bool { return q.Kind == "" || q.Kind == kind }

// Load reads the profiles the query asks for, sorted (Sort). When one kind cannot be read for want of
// permission and the other can, it returns what it read and a warning that says what is missing and how to get
// it; any other error, or both kinds refused, fails. A Name that matches no profile is an error.
func Load(ctx context.Context, c client.Reader, q Query) ([]Profile, []string, error) {
	var profiles []Profile
	var warnings, refused []string
	var errs []error
	read := 0
	for _, kind := range []string{KindClusterSidecarProfile, KindSidecarProfile} {
		if !q.wants(kind) {
			continue
		}
		got, err := list(ctx, c, kind, q)
		switch {
		case err == nil:
			read++
			profiles = append(profiles, got...)
		case apierrors.IsForbidden(err):
			refused = append(refused, Explain(err).Error())
			errs = append(errs, err)
		default:
			return nil, nil, err
		}
	}
	if read == 0 && len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	for _, r := range refused {
		warnings = append(warnings, "not listed: "+r)
	}
	if q.Name != "" && len(profiles) == 0 && len(refused) == 0 {
		return nil, warnings, notFound(q)
	}
	Sort(profiles)
	return profiles, warnings, nil
}

// list reads the profiles of one kind the query asks for.
func list(ctx context.Context, c client.Reader, kind string, q Query) ([]Profile, error) {
	var out []Profile
	if kind == KindClusterSidecarProfile {
		var l v1alpha1.ClusterSidecarProfileList
		if err := c.List(ctx, &l); err != nil {
			return nil, err
		}
		for i := range l.Items {
			if q.Name == "" || l.Items[i].Name == q.Name {
				out = append(out, FromClusterSidecarProfile(&l.Items[i]))
			}
		}
		return out, nil
	}
	var l v1alpha1.SidecarProfileList
	var opts []client.ListOption
	if !q.AllNamespaces {
		opts = append(opts, client.InNamespace(q.Namespace))
	}
	if err := c.List(ctx, &l, opts...); err != nil {
		return nil, err
	}
	for i := range l.Items {
		if q.Name == "" || l.Items[i].Name == q.Name {
			out = append(out, FromSidecarProfile(&l.Items[i]))
		}
	}
	return out, nil
}

func notFound(q Query) error {
	where := "in namespace " + q.Namespace
	if q.AllNamespaces {
		where = "in any namespace"
	}
	switch q.Kind {
	case KindSidecarProfile:
		return fmt.Errorf("no SidecarProfile %s %s", q.Name, where)
	case KindClusterSidecarProfile:
		return fmt.Errorf("no ClusterSidecarProfile %s", q.Name)
	}
	return fmt.Errorf("no SidecarProfile %s %s, and no ClusterSidecarProfile %s", q.Name, where, q.Name)
}

// Explain returns err with what to do about it, for the errors a person meets first: no kubeconfig, a cluster
// that cannot be reached, Outrigger's CRDs not installed, credentials refused, permission missing. Other errors
// are returned as they are.
func Explain(err error) error {
	switch {
	case err == nil:
		return nil
	case clientcmd.IsEmptyConfig(err):
		// client-go's own message asks for KUBERNETES_MASTER, which nothing reads any more.
		return errors.New("no cluster to read: no kubeconfig was found (--kubeconfig, KUBECONFIG, ~/.kube/config) " +
			"and this is not a pod with a service account: point KUBECONFIG or --kubeconfig at your cluster's kubeconfig")
	case meta.IsNoMatchError(err):
		return fmt.Errorf("this cluster does not have Outrigger's CRDs: install Outrigger "+
			"(helm install outrigger charts/outrigger, or make deploy), or pick the cluster it runs in with --context (%w)", err)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%w: reading profiles needs get and list on them; the built-in view role of a namespace "+
			"includes its SidecarProfiles (Outrigger's sidecarprofile-viewer role aggregates into it), and "+
			"ClusterSidecarProfiles need Outrigger's clustersidecarprofile-viewer ClusterRole bound with a "+
			"ClusterRoleBinding", err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("%w: the cluster does not accept your credentials; log in again or renew them in your kubeconfig", err)
	case utilnet.IsConnectionRefused(err) || isUnreachable(err):
		return fmt.Errorf("cannot reach the cluster's apiserver: is the cluster up, and is this the kubeconfig and "+
			"context you meant (kubectl config current-context)? (%w)", err)
	}
	return err
}

// isUnreachable is a DNS failure or a timeout dialling the apiserver.
func isUnreachable(err error) bool {
	var dns *net.DNSError
	return errors.As(err, &dns) || utilnet.IsTimeout(err)
}
