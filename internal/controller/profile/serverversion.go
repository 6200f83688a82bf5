package profile

import (
	"fmt"
	"strconv"

	utilversion "k8s.io/apimachinery/pkg/util/version"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
)

// nativeSidecarsMinMinor is the first Kubernetes 1.x minor with native sidecars on by default.
const nativeSidecarsMinMinor = 29

// NativeSidecarSupport asks the apiserver its version and returns why the cluster cannot run native sidecars,
// or "" when it can. When it cannot tell, it logs why and assumes it can: a wrong "unsupported" would stall
// every profile.
func NativeSidecarSupport(cfg *rest.Config) string {
	log := ctrl.Log.WithName("setup")
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		log.Error(err, "cannot ask the apiserver its version; assuming it supports native sidecars")
		return ""
	}
	info, err := dc.ServerVersion()
	if err != nil {
		log.Error(err, "cannot read the apiserver's version; assuming it supports native sidecars")
		return ""
	}
	msg, ok := nativeSidecarsUnsupported(info)
	if !ok {
		log.Info("cannot parse the apiserver's version; assuming it supports native sidecars", "version", info.GitVersion)
	}
	return msg
}

// nativeSidecarsUnsupported returns the message for a server version older than 1.29, "" for a newer one; ok is
// false when the version cannot be parsed.
func nativeSidecarsUnsupported(info *version.Info) (msg string, ok bool) {
	major, minor, ok := majorMinor(info)
	if !ok || major > 1 || minor >= nativeSidecarsMinMinor {
		return "", ok
	}
	return fmt.Sprintf("the cluster runs Kubernetes v%d.%d; native sidecars (init containers with restartPolicy Always) "+
		"need 1.%d or newer: upgrade the cluster", major, minor, nativeSidecarsMinMinor), true
}

// majorMinor reads Major and Minor, which some providers suffix ("28+"), else the git version ("v1.28.3-eks-1").
func majorMinor(info *version.Info) (major, minor int, ok bool) {
	major, errMajor := strconv.Atoi(leadingDigits(info.Major))
	minor, errMinor := strconv.Atoi(leadingDigits(info.Minor))
	if errMajor == nil && errMinor == nil {
		return major, minor, true
	}
	v, err := utilversion.ParseGeneric(info.GitVersion)
	if err != nil {
		return 0, 0, false
	}
	return int(v.Major()), int(v.Minor()), true
}

func leadingDigits(s string) string {
	for i, r := range s {
		if r < '0' || r > '9' {
			return s[:i]
		}
	}
	return s
}
