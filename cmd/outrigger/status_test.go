package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/outrigger-dev/outrigger/internal/statusview"
)

func TestProgName_IsHowThePersonTypedIt(t *testing.T) {
	for _, tc := range []struct{ arg0, want string }{
		{"outrigger", "outrigger"},
		{"/usr/local/bin/outrigger", "outrigger"},
		{"bin/kubectl-outrigger", "kubectl outrigger"},
		{"kubectl-outrigger.exe", "kubectl outrigger"},
		{"/tmp/go-build123/b001/exe/main", "outrigger"},
	} {
		if got := progName(tc.arg0); got != tc.want {
			t.Errorf("progName(%q) = %q, want %q", tc.arg0, got, tc.want)
		}
	}
}

// Every line of help and every error names the command as it was invoked, so that what it suggests can be
// copied and run.
func TestUsage_SpeaksOfTheInvokedName(t *testing.T) {
	for _, prog := range []string{"outrigger", "kubectl outrigger"} {
		for _, tc := range []struct {
			name string
			args []string
			want string
		}{
			{"Help", []string{"help"}, prog + " status  [NAME]"},
			{"UnknownCommand", []string{"apply"}, prog + `: unknown command "apply"`},
			{"InjectHelp", []string{"inject", "-h"}, "Usage: " + prog + " inject"},
			{"StatusHelp", []string{"status", "-h"}, prog + " status -A"},
			{"StatusBadOutput", []string{"status", "-o", "wide"}, `Run "` + prog + ` status -h"`},
			{"StatusBadType", []string{"status", "deploy/x"}, "sp/NAME or csp/NAME"},
			{"StatusTwoNames", []string{"status", "a", "b"}, "one profile name at most"},
		} {
			t.Run(prog+"/"+tc.name, func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				runAs(prog, tc.args, strings.NewReader(""), &stdout, &stderr)
				out := stdout.String() + stderr.String()
				if !strings.Contains(out, tc.want) {
					t.Errorf("want %q in:\n%s", tc.want, out)
				}
				other := "kubectl outrigger"
				if prog == other {
					other = "\noutrigger "
				}
				if strings.Contains(out, other) {
					t.Errorf("invoked as %q, the output speaks of %q:\n%s", prog, strings.TrimSpace(other), out)
				}
			})
		}
	}
}

func TestStatus_WithoutKubeconfigSaysWhereToPointIt(t *testing.T) {
	t.Setenv("KUBECONFIG", t.TempDir()+"/missing")
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	var stdout, stderr bytes.Buffer
	code := runAs("kubectl outrigger", []string{"status"}, nil, &stdout, &stderr)
	if code != exitError || !strings.Contains(stderr.String(), "no kubeconfig was found") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr.String())
	}
}

func TestParseProfileArg_TakesKubectlsTypeSlashName(t *testing.T) {
	for _, tc := range []struct{ arg, kind, name, err string }{
		{"logshipper", "", "logshipper", ""},
		{"sp/logshipper", statusview.KindSidecarProfile, "logshipper", ""},
		{"SidecarProfile/logshipper", statusview.KindSidecarProfile, "logshipper", ""},
		{"csp/platform", statusview.KindClusterSidecarProfile, "platform", ""},
		{"clustersidecarprofiles.sidecars.outrigger.dev/platform", statusview.KindClusterSidecarProfile, "platform", ""},
		{"csp/", "", "", "the name is missing"},
		{"pod/x", "", "", "sp/NAME or csp/NAME"},
	} {
		kind, name, err := parseProfileArg(tc.arg)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.arg, err, tc.err)
			}
			continue
		}
		if err != nil || kind != tc.kind || name != tc.name {
			t.Errorf("%q: got %q %q %v, want %q %q", tc.arg, kind, name, err, tc.kind, tc.name)
		}
	}
}
