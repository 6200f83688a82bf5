package main

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"

	"sigs.k8s.io/yaml"
)

const krewTemplate = "../../config/krew/outrigger.yaml"

// krewPlugin is the part of krew's v1alpha2 Plugin manifest that krew and krew-index require.
type krewPlugin struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string `json:"version"`
		Homepage         string `json:"homepage"`
		ShortDescription string `json:"shortDescription"`
		Description      string `json:"description"`
		Platforms        []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			SHA256 string `json:"sha256"`
			Bin    string `json:"bin"`
			Files  []struct {
				From string `json:"from"`
				To   string `json:"to"`
			} `json:"files"`
		} `json:"platforms"`
	} `json:"spec"`
}

// renderKrew renders the template as krew-release-bot does for a tag, with a made-up sha256 where the bot puts
// the downloaded archive's.
func renderKrew(t *testing.T, tag string) []byte {
	t.Helper()
	raw, err := os.ReadFile(krewTemplate)
	if err != nil {
		t.Fatal(err)
	}
	funcs := template.FuncMap{"addURIAndSha": func(url, tag string) (string, error) {
		var b bytes.Buffer
		u, err := template.New("url").Parse(url)
		if err == nil {
			err = u.Execute(&b, struct{ TagName string }{tag})
		}
		return fmt.Sprintf("uri: %s\n    sha256: %s", b.String(), strings.Repeat("ab", 32)), err
	}}
	tmpl, err := template.New("krew").Funcs(funcs).Parse(string(raw))
	if err != nil {
		t.Fatalf("%s: %v", krewTemplate, err)
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, struct{ TagName string }{tag}); err != nil {
		t.Fatalf("%s: %v", krewTemplate, err)
	}
	return out.Bytes()
}

// The krew manifest template, filled in as the release process does, is a manifest krew accepts, and names, per
// platform, the archive `make kubectl-plugin-archives` builds for it.
func TestKrewManifest_RendersToAPluginOfEveryReleasedPlatform(t *testing.T) {
	const tag = "v1.2.3"
	var p krewPlugin
	if err := yaml.UnmarshalStrict(renderKrew(t, tag), &p); err != nil {
		t.Fatalf("the rendered manifest: %v", err)
	}
	if p.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || p.Kind != "Plugin" {
		t.Errorf("apiVersion %q kind %q", p.APIVersion, p.Kind)
	}
	// krew: the manifest's file is named after the plugin, which is how it is invoked (kubectl outrigger).
	if p.Metadata.Name != "outrigger" || path.Base(krewTemplate) != p.Metadata.Name+".yaml" {
		t.Errorf("metadata.name %q in %s", p.Metadata.Name, krewTemplate)
	}
	if p.Spec.Version != tag || p.Spec.Homepage == "" || p.Spec.ShortDescription == "" || p.Spec.Description == "" {
		t.Errorf("version %q (want %q), homepage, shortDescription and description are required", p.Spec.Version, tag)
	}
	var platforms []string
	for _, pl := range p.Spec.Platforms {
		os, arch := pl.Selector.MatchLabels["os"], pl.Selector.MatchLabels["arch"]
		platforms = append(platforms, os+"/"+arch)
		wantURI := fmt.Sprintf("https://github.com/outrigger-dev/outrigger/releases/download/%s/kubectl-outrigger_%s_%s.tar.gz", tag, os, arch)
		wantBin := "kubectl-outrigger"
		if os == "windows" {
			wantBin += ".exe"
		}
		if pl.URI != wantURI || len(pl.SHA256) != 64 || pl.Bin != wantBin {
			t.Errorf("%s/%s: uri %q sha256 %q bin %q; want uri %q, bin %q", os, arch, pl.URI, pl.SHA256, pl.Bin, wantURI, wantBin)
		}
		var from []string
		for _, f := range pl.Files {
			from = append(from, f.From)
		}
		if !slices.Contains(from, wantBin) || !slices.Contains(from, "LICENSE") {
			t.Errorf("%s/%s: files %v: krew-index wants the binary and the LICENSE", os, arch, from)
		}
	}
	if want := makefilePlatforms(t); !slices.Equal(platforms, want) {
		t.Errorf("the manifest's platforms %v are not the archives' (KUBECTL_PLUGIN_PLATFORMS in the Makefile) %v", platforms, want)
	}
}

func makefilePlatforms(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^KUBECTL_PLUGIN_PLATFORMS := (.*)$`).FindSubmatch(raw)
	if m == nil {
		t.Fatal("no KUBECTL_PLUGIN_PLATFORMS in the Makefile")
	}
	return strings.Fields(string(m[1]))
}
