// Command outrigger predicts, offline, what Outrigger's admission webhook does to manifests, with the same
// engine: `outrigger inject` prints them with the sidecars injected, `outrigger explain` says which profiles
// select each workload and why the others do not. Made for pull requests in GitOps repositories. From a cluster,
// `outrigger status` shows where the profiles stand and the workloads that need attention.
//
// Installed on PATH as kubectl-outrigger (`make kubectl-plugin`, or krew), the same binary is the kubectl
// plugin: `kubectl outrigger status`. It speaks of itself by the name it was invoked as. See docs/cli.md.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/outrigger-dev/outrigger/internal/kindconfig"
	"github.com/outrigger-dev/outrigger/internal/offline"
	"github.com/outrigger-dev/outrigger/internal/workload"
)

// Exit codes, for CI jobs.
const (
	exitOK             = 0 // done; for inject, every selected profile was injected
	exitError          = 1 // usage, input or output error
	exitInvalidProfile = 2 // a profile would be refused by the cluster (or could not be used)
	exitConflict       = 3 // a profile selects a workload but cannot be injected into it
	exitAttention      = 4 // status --fail-on-attention: a profile or a workload needs attention
)

// usage is the command's help; %[1]s is the name it was invoked as (see progName).
const usage = `%[1]s shows what Outrigger does to your workloads: offline, what its admission webhook does to your
manifests at their creation; from the cluster, where its profiles stand.

Usage:
  %[1]s inject  -f FILE|DIR|- [-f ...] --profiles FILE|DIR [flags]   print the manifests with the sidecars
  %[1]s explain -f FILE|DIR|- [-f ...] --profiles FILE|DIR [flags]   say which profiles select each workload, and why not
  %[1]s status  [NAME] [-n NAMESPACE | -A] [-o json|yaml] [flags]    the profiles in the cluster, and the workloads that need attention

Run "%[1]s COMMAND -h" for a command's flags.

Exit codes: 0 ok, 1 usage or input error, 2 invalid profile, 3 conflict (a selected profile could not be injected),
4 status --fail-on-attention: a profile is not Ready or a workload needs attention.
`

func main() {
	os.Exit(runAs(progName(os.Args[0]), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// progName is how the command was invoked, as a person types it: "kubectl outrigger" when kubectl runs it as
// its plugin (kubectl-outrigger on PATH), "outrigger" otherwise.
func progName(arg0 string) string {
	base := strings.TrimSuffix(filepath.Base(arg0), ".exe")
	if plugin, ok := strings.CutPrefix(base, "kubectl-"); ok && plugin != "" {
		return "kubectl " + plugin
	}
	return "outrigger"
}

// run is the whole command, invoked as outrigger, with its streams, so that tests can run it.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runAs("outrigger", args, stdin, stdout, stderr)
}

// runAs is the whole command, invoked as prog (see progName).
func runAs(prog string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, usage, prog)
		return exitError
	}
	switch args[0] {
	case "inject", "explain":
		return command(prog, args[0], args[1:], stdin, stdout, stderr)
	case "status":
		return status(prog, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprintf(stdout, usage, prog)
		return exitOK
	}
	fmt.Fprintf(stderr, "%s: unknown command %q\n\n"+usage, prog, args[0])
	return exitError
}

// command runs inject or explain.
func command(prog, name string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o, err := parseFlags(prog, name, args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s %s: %v\n", prog, name, err)
		return exitError
	}
	res, err := predict(o, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "%s %s: %v\n", prog, name, err)
		if invalid := (*offline.InvalidProfilesError)(nil); errors.As(err, &invalid) {
			return exitInvalidProfile
		}
		return exitError
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(stderr, "%s %s: warning: %s\n", prog, name, w)
	}
	if err := write(name, o.output, res, stdout); err != nil {
		fmt.Fprintf(stderr, "%s %s: %v\n", prog, name, err)
		return exitError
	}
	conflicts := false
	for _, w := range res.Workloads {
		for _, a := range w.Advice {
			if name == "inject" { // as the webhook's warnings; it blocks nothing, so the exit code stays
				fmt.Fprintf(stderr, "outrigger inject: advice: %s: %s\n", w.Title(), a)
			}
		}
		for _, c := range w.Conflicts() {
			conflicts = true
			if name == "inject" { // explain already says so in its output
				fmt.Fprintf(stderr, "%s inject: conflict: %s\n", prog, c)
			}
		}
	}
	if conflicts {
		return exitConflict
	}
	return exitOK
}

func predict(o *options, stdin io.Reader) (*offline.Result, error) {
	labels, err := offline.ParseNamespaceLabels(o.namespaceLabels)
	if err != nil {
		return nil, err
	}
	r := &offline.Reader{Stdin: stdin, Recursive: o.recursive}
	inputs, err := r.Read(o.files)
	if err != nil {
		return nil, err
	}
	profiles, err := r.Read(o.profiles)
	if err != nil {
		return nil, err
	}
	kinds, err := workloadKinds(o.workloadKinds)
	if err != nil {
		return nil, err
	}
	return offline.Predict(inputs, profiles, offline.Options{
		Namespace: o.namespace, OutriggerNamespace: o.outriggerNamespace, NamespaceLabels: labels, Kinds: kinds,
	})
}

// workloadKinds are the built-in kinds and those of the manager's configuration file, when given. Unlike the
// manager, which serves the good entries of a file with bad ones, a preview refuses any bad entry: a pull
// request must not pass because a kind was left out.
func workloadKinds(path string) (workload.Kinds, error) {
	if path == "" {
		return nil, nil
	}
	configured, errs := kindconfig.Load(path, workload.All)
	if len(errs) > 0 {
		return nil, fmt.Errorf("--workload-kinds-config: %w", errors.Join(errs...))
	}
	return workload.All.With(kindconfig.Workloads(configured)...), nil
}

func write(name, format string, res *offline.Result, stdout io.Writer) error {
	switch {
	case name == "explain":
		return offline.WriteExplanation(stdout, res.Workloads, format)
	case format == "json":
		return offline.WriteJSON(stdout, res.Documents)
	default:
		return offline.WriteYAML(stdout, res.Documents)
	}
}

type options struct {
	files, profiles, namespaceLabels      stringList
	namespace, outriggerNamespace, output string
	workloadKinds                         string
	recursive                             bool
}

func parseFlags(prog, name string, args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet(prog+" "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	fs.Var(&o.files, "f", "manifests: a file, a directory (its .yaml, .yml and .json files) or - for stdin; repeatable")
	fs.Var(&o.files, "filename", "same as -f")
	fs.Var(&o.profiles, "profiles", "SidecarProfiles and ClusterSidecarProfiles: a file, a directory or -; repeatable (Namespace objects there count too)")
	fs.Var(&o.namespaceLabels, "namespace-labels", "`NAMESPACE=KEY=VALUE[,KEY=VALUE...]`: labels of a namespace, for namespaceSelectors; repeatable")
	fs.StringVar(&o.namespace, "namespace", "default", "namespace of the workloads and SidecarProfiles that name none")
	fs.StringVar(&o.namespace, "n", "default", "same as --namespace")
	fs.StringVar(&o.outriggerNamespace, "outrigger-namespace", "outrigger-system", "the namespace Outrigger runs in: never injected at creation")
	fs.StringVar(&o.workloadKinds, "workload-kinds-config", "", "the manager's configuration of workload kinds beyond the built-in ones (the file the Helm value workloadKinds renders)")
	fs.BoolVar(&o.recursive, "R", false, "read directories recursively")
	fs.BoolVar(&o.recursive, "recursive", false, "same as -R")
	formats, def := "yaml or json", "yaml"
	if name == "explain" {
		formats, def = "text, yaml or json", "text"
	}
	fs.StringVar(&o.output, "output", def, "output format: "+formats)
	fs.StringVar(&o.output, "o", def, "same as --output")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s %s -f FILE|DIR|- [-f ...] --profiles FILE|DIR [flags]\n\nFlags:\n", prog, name)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %q: give manifests with -f", fs.Arg(0))
	case len(o.files) == 0:
		return nil, errors.New("-f is required: the manifests to read (a file, a directory, or - for stdin)")
	case len(o.profiles) == 0:
		return nil, errors.New("--profiles is required: the SidecarProfiles and ClusterSidecarProfiles to apply")
	case o.output != "yaml" && o.output != "json" && (o.output != "text" || name != "explain"):
		return nil, fmt.Errorf("--output %q: use %s", o.output, formats)
	}
	return o, nil
}

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }
