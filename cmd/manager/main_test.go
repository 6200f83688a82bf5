package main

import (
	"slices"
	"strings"
	"testing"
)

// --excluded-namespaces takes the list the Helm chart joins with commas; a name no namespace can have is refused
// with the flag's usage, rather than excluding nothing.
func TestParseNamespaces(t *testing.T) {
	for _, tc := range []struct {
		name, list string
		want       []string
		wantErr    string
	}{
		{"empty: none", "", nil, ""},
		{"one", "monitoring", []string{"monitoring"}, ""},
		{"several, spaces around", "kube-system, monitoring ,istio-system", []string{"kube-system", "monitoring", "istio-system"}, ""},
		{"an upper-case name", "Monitoring", nil, `"Monitoring" is not a namespace name`},
		{"an empty entry", "monitoring,,istio-system", nil, `"" is not a namespace name`},
		{"a label selector instead of names", "env=dev", nil, "list namespace names separated by commas"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseNamespaces(tc.list)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("parseNamespaces(%q) = %q, %v; want %q", tc.list, got, err, tc.want)
			}
		})
	}
}
