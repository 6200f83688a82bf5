package profile

import (
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/version"
)

func TestNativeSidecarsUnsupported_ByServerVersion(t *testing.T) {
	for _, tc := range []struct {
		info    version.Info
		want    string
		wantsOK bool
	}{
		{version.Info{Major: "1", Minor: "37", GitVersion: "v1.37.1"}, "", true},
		{version.Info{Major: "1", Minor: "29", GitVersion: "v1.29.0"}, "", true},
		{version.Info{Major: "1", Minor: "28+", GitVersion: "v1.28.3-eks-4f4795d"}, "the cluster runs Kubernetes v1.28; native sidecars " +
			"(init containers with restartPolicy Always) need 1.29 or newer: upgrade the cluster", true},
		{version.Info{GitVersion: "v1.27.2+k3s1"}, "the cluster runs Kubernetes v1.27; native sidecars " +
			"(init containers with restartPolicy Always) need 1.29 or newer: upgrade the cluster", true},
		{version.Info{Major: "2", Minor: "0"}, "", true},
		{version.Info{GitVersion: "unknown"}, "", false},
	} {
		t.Run(tc.info.String(), func(t *testing.T) {
			got, ok := nativeSidecarsUnsupported(&tc.info)
			NewWithT(t).Expect([]any{got, ok}).To(Equal([]any{tc.want, tc.wantsOK}))
		})
	}
}
