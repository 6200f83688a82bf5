// Command pause is the pod sandbox ("infra") container of the local e2e cluster (hack/e2e): it holds the pod's
// namespaces, reaps zombies and exits on SIGTERM or SIGINT, like registry.k8s.io/pause, which cannot be pulled
// here. hack/e2e/images.sh builds it statically into the image registry.k8s.io/pause:local.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}
