package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Mode is where the demo runs.
type Mode string

// The modes --mode (DEMO= in the Makefile) takes.
const (
	// ModeAuto runs the cluster where this machine can, the control plane elsewhere.
	ModeAuto Mode = "auto"
	// ModeCluster runs hack/e2e's single-node cluster: pods run, with their sidecars.
	ModeCluster Mode = "cluster"
	// ModeControlPlane runs kube-apiserver and etcd only: Outrigger writes the sidecar, no pod runs.
	ModeControlPlane Mode = "controlplane"
)

// Host is what decides whether this machine can run hack/e2e's cluster (hack/e2e/README.md): Linux amd64, root,
// and Debian's containerd, runc, CNI plugins and busybox, installed or installable with apt-get.
type Host struct {
	OS, Arch string
	// UID is the effective user id.
	UID int
	// Missing are the Debian packages the cluster needs that are not installed.
	Missing []string
	// MissingErr says why Missing could not be found out; the cluster is then not tried.
	MissingErr error
	// AptGet is true when apt-get is there, so that hack/e2e/up.sh can install Missing.
	AptGet bool
}

// Choose returns the mode the demo runs in and why, in one line. Asking for the cluster on a machine that cannot
// run it is an error that says why; asking for anything but the three modes is an error too.
func Choose(requested Mode, h Host) (Mode, string, error) {
	switch requested {
	case ModeControlPlane:
		return ModeControlPlane, "a local control plane (kube-apiserver and etcd, no node: no pod runs), as asked", nil
	case ModeCluster, ModeAuto:
	default:
		return "", "", fmt.Errorf("mode %q: must be %s, %s or %s (make demo DEMO=cluster)", requested, ModeAuto,
			ModeCluster, ModeControlPlane)
	}
	why := cannotRunCluster(h)
	switch {
	case why != "" && requested == ModeCluster:
		return "", "", fmt.Errorf("the single-node cluster cannot run here: %s", why)
	case why != "":
		return ModeControlPlane, "a local control plane (no node: no pod runs), not the single-node cluster: " + why, nil
	case len(h.Missing) > 0:
		return ModeCluster, fmt.Sprintf("the single-node cluster (hack/e2e); it installs the missing %s with apt-get first",
			strings.Join(h.Missing, ", ")), nil
	default:
		return ModeCluster, "the single-node cluster (hack/e2e): Linux amd64, root, its packages installed", nil
	}
}

// cannotRunCluster says why h cannot run the cluster, with what would change that; "" when it can.
func cannotRunCluster(h Host) string {
	switch {
	case h.OS != "linux" || h.Arch != "amd64":
		return fmt.Sprintf("it needs Linux amd64, this is %s/%s", h.OS, h.Arch)
	case h.UID != 0:
		return "it needs root (for containerd and the kubelet): `sudo make demo` runs it"
	case h.MissingErr != nil:
		return fmt.Sprintf("its packages could not be checked (%v)", h.MissingErr)
	case len(h.Missing) > 0 && !h.AptGet:
		return fmt.Sprintf("it needs the Debian packages %s, and there is no apt-get to install them",
			strings.Join(h.Missing, ", "))
	}
	return ""
}

// ProbeHost finds out what Choose needs about this machine. The packages are asked of hack/e2e/lib.sh, which
// hack/e2e/up.sh installs them by, so that both agree; only where the rest allows the cluster.
func ProbeHost(ctx context.Context) Host {
	h := Host{OS: runtime.GOOS, Arch: runtime.GOARCH, UID: os.Geteuid()}
	if h.OS != "linux" || h.Arch != "amd64" || h.UID != 0 {
		return h
	}
	_, err := exec.LookPath("apt-get")
	h.AptGet = err == nil
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", "-c", `source hack/e2e/lib.sh && missing_packages`).Output()
	if ee, ok := err.(*exec.ExitError); ok {
		err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
	}
	h.Missing, h.MissingErr = strings.Fields(string(out)), err
	return h
}
