package main

import (
	"errors"
	"strings"
	"testing"
)

func TestChoose_PicksTheClusterWhereItRunsAndSaysWhyNotElsewhere(t *testing.T) {
	able := Host{OS: "linux", Arch: "amd64", UID: 0, AptGet: true}
	with := func(f func(*Host)) Host { h := able; f(&h); return h }
	tests := []struct {
		name      string
		requested Mode
		host      Host
		want      Mode
		reason    string // a part of the one line that says why
		err       string // a part of the error; "" when none is wanted
	}{
		{"auto on Linux amd64 as root with the packages", ModeAuto, able, ModeCluster, "its packages installed", ""},
		{"auto installs missing packages with apt-get", ModeAuto, with(func(h *Host) { h.Missing = []string{"containerd", "socat"} }),
			ModeCluster, "installs the missing containerd, socat with apt-get", ""},
		{"auto falls back on macOS", ModeAuto, with(func(h *Host) { h.OS, h.Arch = "darwin", "arm64" }),
			ModeControlPlane, "needs Linux amd64, this is darwin/arm64", ""},
		{"auto falls back on arm64 Linux", ModeAuto, with(func(h *Host) { h.Arch = "arm64" }),
			ModeControlPlane, "this is linux/arm64", ""},
		{"auto falls back without root", ModeAuto, with(func(h *Host) { h.UID = 1000 }),
			ModeControlPlane, "needs root", ""},
		{"auto falls back when packages are missing and apt-get is not there", ModeAuto,
			with(func(h *Host) { h.Missing, h.AptGet = []string{"runc"}, false }),
			ModeControlPlane, "needs the Debian packages runc, and there is no apt-get", ""},
		{"auto falls back when the packages cannot be checked", ModeAuto,
			with(func(h *Host) { h.MissingErr = errors.New("bash: not found") }),
			ModeControlPlane, "could not be checked (bash: not found)", ""},
		{"the control plane when asked, even where the cluster runs", ModeControlPlane, able, ModeControlPlane, "as asked", ""},
		{"the cluster when asked", ModeCluster, able, ModeCluster, "single-node cluster", ""},
		{"the cluster asked for without root is an error", ModeCluster, with(func(h *Host) { h.UID = 1000 }),
			"", "", "cannot run here: it needs root"},
		{"an unknown mode is an error naming the modes", "kind", able, "", "", `mode "kind": must be auto, cluster or controlplane`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason, err := Choose(tt.requested, tt.host)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Choose(%q) error %v, want one containing %q", tt.requested, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Choose(%q): %v", tt.requested, err)
			}
			if got != tt.want || !strings.Contains(reason, tt.reason) {
				t.Errorf("Choose(%q) = %q, %q; want %q, a reason containing %q", tt.requested, got, reason, tt.want, tt.reason)
			}
			if strings.Contains(reason, "\n") {
				t.Errorf("the reason is more than one line: %q", reason)
			}
		})
	}
}
