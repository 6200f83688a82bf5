// Command outrigger predicts, offline, what Outrigger's admission webhook does to manifests, with the same
// engine: `outrigger inject` prints them with the sidecars injected, `outrigger explain` says which profiles
// select each workload and why the others do not. Made for pull requests in GitOps repositories; see
// docs/cli.md.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
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
)

const usage = `outrigger predicts what Outrigger's admission webhook does to your manifests at their creation.

Usage:
  outrigger inject  -f FILE|DIR|- [-f ...] --profiles FILE|DIR [flags]   print the manifests with the sidecars
  outrigger explain -f FILE|DIR|- [-f ...] --profiles FILE|DIR [flags]   say which profiles select each workload, and why not

Run "outrigger inject -h" for the flags.

Exit codes: 0 ok, 1 usage or input error, 2 invalid profile, 3 conflict (a selected profile could not be injected).
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole command, with its streams, so that tests can run it.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError
	}
	switch args[0] {
	case "inject", "explain":
		return command(args[0], args[1:], stdin, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "outrigger: unknown command %q\n\n%s", args[0], usage)
	return exitError
}

// command runs inject or explain.
func command(name string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o, err := parseFlags(name, args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "outrigger %s: %v\n", name, err)
		return exitError
	}
	res, err := predict(o, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "outrigger %s: %v\n", name, err)
		if invalid := (*offline.InvalidProfilesError)(nil); errors.As(err, &invalid) {
			return exitInvalidProfile
		}
		return exitError
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(stderr, "outrigger %s: warning: %s\n", name, w)
	}
	if err := write(name, o.output, res, stdout); err != nil {
		fmt.Fprintf(stderr, "outrigger %s: %v\n", name, err)
		return exitError
	}
	conflicts := false
	for _, w := range res.Workloads {
		for _, c := range w.Conflicts() {
			conflicts = true
			if name == "inject" { // explain already says so in its output
				fmt.Fprintf(stderr, "outrigger inject: conflict: %s\n", c)
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

func parseFlags(name string, args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("outrigger "+name, flag.ContinueOnError)
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
		fmt.Fprintf(stderr, "Usage: outrigger %s -f FILE|DIR|- [-f ...] --profiles FILE|DIR [flags]\n\nFlags:\n", name)
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
