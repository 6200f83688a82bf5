package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/statusview"
)

const statusUsage = `%[1]s status shows the profiles in the cluster and the workloads that need attention: for each
SidecarProfile and ClusterSidecarProfile its Ready condition (with the reason and message when not True), how
many workloads it matched, injected, brought up to date, rolled out and keeps healthy, and its rollout in waves;
then the workloads its status lists as needing attention.

Usage:
  %[1]s status                   SidecarProfiles of the current namespace, and every ClusterSidecarProfile
  %[1]s status -n NAMESPACE      SidecarProfiles of NAMESPACE, and every ClusterSidecarProfile
  %[1]s status -A                the profiles of every namespace
  %[1]s status NAME              the profile(s) called NAME, every condition and the workloads per revision
  %[1]s status sp/NAME           only the SidecarProfile (csp/NAME: only the ClusterSidecarProfile)

Without -A, the workloads a ClusterSidecarProfile lists in other namespaces are counted, not listed.
The cluster is the one kubectl uses: --kubeconfig, KUBECONFIG or ~/.kube/config, --context; in a pod, its
service account.

Flags:
`

// statusOptions are the status command's flags.
type statusOptions struct {
	kube            *genericclioptions.ConfigFlags
	allNamespaces   bool
	output          string
	failOnAttention bool
	query           statusview.Query
}

// status runs the status command: it reads the profiles from the cluster and writes their view.
func status(prog string, args []string, stdout, stderr io.Writer) int {
	o, err := parseStatusFlags(prog, args, stderr)
	if errors.Is(err, pflag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s status: %v\nRun \"%s status -h\" for the flags.\n", prog, err, prog)
		return exitError
	}
	profiles, warnings, err := loadProfiles(o)
	if err != nil {
		fmt.Fprintf(stderr, "%s status: %v\n", prog, statusview.Explain(err))
		return exitError
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "%s status: warning: %s\n", prog, w)
	}
	if err := writeStatus(o, profiles, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "%s status: %v\n", prog, err)
		return exitError
	}
	if o.failOnAttention && anyNeedsAttention(profiles, o.query.Namespace) {
		return exitAttention
	}
	return exitOK
}

func parseStatusFlags(prog string, args []string, stderr io.Writer) (*statusOptions, error) {
	fs := pflag.NewFlagSet(prog+" status", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &statusOptions{kube: genericclioptions.NewConfigFlags(false)}
	o.kube.CacheDir = nil // no discovery cache: the client asks the apiserver for the profiles' group only
	o.kube.AddFlags(fs)
	fs.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "list the SidecarProfiles of every namespace, and the workloads of every namespace")
	fs.StringVarP(&o.output, "output", "o", "", "output format: json or yaml (default: the tables)")
	fs.BoolVar(&o.failOnAttention, "fail-on-attention", false, fmt.Sprintf("exit with %d when a profile listed is not Ready, is Stalled or Degraded, or lists workloads that need attention", exitAttention))
	fs.Usage = func() {
		fmt.Fprintf(stderr, statusUsage, prog)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if o.output != "" && o.output != "json" && o.output != "yaml" {
		return nil, fmt.Errorf("--output %q: use json or yaml, or leave it out for the tables", o.output)
	}
	if fs.NArg() > 1 {
		return nil, fmt.Errorf("one profile name at most; got %s", strings.Join(fs.Args(), " "))
	}
	if fs.NArg() == 1 {
		kind, name, err := parseProfileArg(fs.Arg(0))
		if err != nil {
			return nil, err
		}
		o.query.Kind, o.query.Name = kind, name
	}
	o.query.AllNamespaces = o.allNamespaces
	return o, nil
}

// parseProfileArg reads NAME, or TYPE/NAME as kubectl does, TYPE one of the profiles' resource names, short names
// or kinds.
func parseProfileArg(arg string) (kind, name string, err error) {
	typ, name, typed := strings.Cut(arg, "/")
	if !typed {
		return "", arg, nil
	}
	switch strings.ToLower(typ) {
	case "sp", "sidecarprofile", "sidecarprofiles", "sidecarprofiles.sidecars.outrigger.dev":
		kind = statusview.KindSidecarProfile
	case "csp", "clustersidecarprofile", "clustersidecarprofiles", "clustersidecarprofiles.sidecars.outrigger.dev":
		kind = statusview.KindClusterSidecarProfile
	default:
		return "", "", fmt.Errorf("%q: name a profile as NAME, sp/NAME or csp/NAME", arg)
	}
	if name == "" {
		return "", "", fmt.Errorf("%q: the name is missing after the /", arg)
	}
	return kind, name, nil
}

// loadProfiles reads the profiles from the cluster of the kubeconfig flags, the namespace being the one kubectl
// would use (-n, the context's, the pod's, or default).
func loadProfiles(o *statusOptions) ([]statusview.Profile, []string, error) {
	if err := needKubeconfig(o.kube); err != nil {
		return nil, nil, err
	}
	cfg, err := o.kube.ToRESTConfig()
	if err != nil {
		return nil, nil, err
	}
	if !o.allNamespaces {
		if o.query.Namespace, _, err = o.kube.ToRawKubeConfigLoader().Namespace(); err != nil {
			return nil, nil, err
		}
	}
	scheme := runtime.NewScheme()
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return statusview.Load(ctx, c, o.query)
}

// needKubeconfig fails, as clientcmd.ErrEmptyConfig, when there is no cluster to read: no context in any
// kubeconfig, no --server, and not in a pod. client-go would otherwise try localhost:8080, and a person would read
// "connection refused" where "no kubeconfig" is meant.
func needKubeconfig(kube *genericclioptions.ConfigFlags) error {
	raw, err := kube.ToRawKubeConfigLoader().RawConfig()
	if err != nil || len(raw.Contexts) > 0 || *kube.APIServer != "" {
		return nil // a broken kubeconfig is for ToRESTConfig to report
	}
	if _, err := rest.InClusterConfig(); err == nil {
		return nil
	}
	return clientcmd.ErrEmptyConfig
}

func writeStatus(o *statusOptions, profiles []statusview.Profile, stdout, stderr io.Writer) error {
	switch o.output {
	case "json":
		return statusview.WriteJSON(stdout, profiles)
	case "yaml":
		return statusview.WriteYAML(stdout, profiles)
	}
	if len(profiles) == 0 {
		// As kubectl get says it: on stderr, so that a script reading stdout sees nothing.
		where := "in namespace " + o.query.Namespace
		if o.allNamespaces {
			where = "in any namespace"
		}
		fmt.Fprintf(stderr, "No SidecarProfiles %s, and no ClusterSidecarProfiles.\n", where)
		return nil
	}
	view := statusview.Options{Now: time.Now(), Detail: o.query.Name != ""}
	if !o.allNamespaces {
		view.Namespace = o.query.Namespace
	}
	return statusview.WriteText(stdout, profiles, view)
}

// anyNeedsAttention is what --fail-on-attention fails on: a profile listed that is not Ready, is Stalled or
// Degraded, or lists workloads of the namespace ("" with -A: of any).
func anyNeedsAttention(profiles []statusview.Profile, namespace string) bool {
	for _, p := range profiles {
		if statusview.NeedsAttention(p, namespace) {
			return true
		}
	}
	return false
}
