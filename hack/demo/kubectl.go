package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// kubectl runs the kubectl built next to kube-apiserver against the demo's cluster or control plane.
type kubectl struct {
	path, kubeconfig string
}

func (k kubectl) command(ctx context.Context, args ...string) *exec.Cmd {
	// Its own discovery cache, so that every run (a new apiserver port each time) does not add one to ~/.kube.
	global := []string{"--kubeconfig", k.kubeconfig, "--cache-dir", filepath.Join(demoDir, "kube-cache")}
	return exec.CommandContext(ctx, k.path, append(global, args...)...)
}

// run runs kubectl with its output on ours.
func (k kubectl) run(ctx context.Context, args ...string) error {
	cmd := k.command(ctx, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kubectl %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// output runs kubectl and returns its standard output; its standard error goes into the error.
func (k kubectl) output(ctx context.Context, args ...string) (string, error) {
	return k.outputWithInput(ctx, nil, args...)
}

// outputWithInput is output with stdin, for `-f -`.
func (k kubectl) outputWithInput(ctx context.Context, stdin []byte, args ...string) (string, error) {
	cmd := k.command(ctx, args...)
	if stdin != nil {
		cmd.Stdin = strings.NewReader(string(stdin))
	}
	out, err := cmd.Output()
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		return "", fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(ee.Stderr)))
	}
	return string(out), err
}

// show prints a kubectl command as the user would type it, then its output, indented.
func (k kubectl) show(ctx context.Context, args ...string) (string, error) {
	out, err := k.output(ctx, args...)
	if err != nil {
		return "", err
	}
	fmt.Printf("\n$ kubectl %s\n", strings.Join(quoted(args), " "))
	fmt.Print(indent(out))
	return out, nil
}

// quoted quotes the arguments a shell would split or expand.
func quoted(args []string) []string {
	q := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " {}[]*?$'\"()") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return q
}

// indent puts four spaces before every line of s, which ends with a newline.
func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ") + "\n"
}
