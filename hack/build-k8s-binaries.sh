#!/usr/bin/env bash
# Builds the Kubernetes binaries the tests need from Go modules (nothing can be downloaded as a release here):
#   kube-apiserver, kubectl (and, with COMPONENTS, any other k8s.io/kubernetes/cmd/*) from k8s.io/kubernetes,
#   etcd from go.etcd.io/etcd/server/v3.
# Output: bin/k8s/<K8S_VERSION>/ , the directory KUBEBUILDER_ASSETS points at. A binary already there is reused.
#
# Gotchas this script encodes (found building on 2-core Debian machines):
#  - k8s.io/kubernetes requires its ./staging modules at v0.0.0 and replaces them with local paths; a wrapper
#    module must replace each one with its published v0.X.Y instead.
#  - without -X version stamps the binaries report v0.0.0-master, which breaks version checks in clients.
#  - go.etcd.io/etcd/server/v3 has ../ replace directives, so `go install ...@version` fails: wrapper module too.
#  - the k8s.io/kubernetes v1.37.2 zip is refused by the module proxy; v1.37.1 downloads.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The versions have no default here: the Makefile exports them (K8S_VERSION read from
# internal/controlplane/version.go, the one place it is written; ETCD_VERSION from the Makefile).
# Run through `make envtest-binaries`, or set both.
: "${K8S_VERSION:?is not set: run make envtest-binaries (or set K8S_VERSION: internal/controlplane/version.go has it)}"
: "${ETCD_VERSION:?is not set: run make envtest-binaries (or set ETCD_VERSION: the Makefile has it)}"
COMPONENTS=${COMPONENTS:-kube-apiserver kubectl}
OUT=${OUT:-$ROOT/bin/k8s/$K8S_VERSION}
WORK=$ROOT/bin/.build
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local

mkdir -p "$OUT" "$WORK"
log() { printf '[build-k8s] %s\n' "$*" >&2; }

missing=()
for c in $COMPONENTS; do [ -x "$OUT/$c" ] || missing+=("$c"); done

if [ ${#missing[@]} -gt 0 ]; then
  w=$WORK/kubernetes-$K8S_VERSION
  mkdir -p "$w"
  log "building ${missing[*]} $K8S_VERSION from k8s.io/kubernetes (cold: ~5 min on 2 cores)"
  go mod download -json "k8s.io/kubernetes@$K8S_VERSION" >/dev/null
  mod="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$K8S_VERSION.mod"
  staging=v0.${K8S_VERSION#v1.}
  {
    printf 'module outrigger.local/k8s-build\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$K8S_VERSION"
    for m in $(sed -n '/^replace/,/^)/p' "$mod" | awk '/=>/{print $1}'); do
      grep -q "^	$m v0.0.0$" "$mod" && printf '\t%s => %s %s\n' "$m" "$m" "$staging"
    done
    printf ')\n'
  } >"$w/go.mod"
  {
    printf '//go:build tools\n\npackage tools\n\nimport (\n'
    for c in "${missing[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$c"; done
    printf ')\n'
  } >"$w/tools.go"
  (cd "$w" && go mod tidy 2>&1 | grep -v '^go: downloading' || true)
  major=$(echo "${K8S_VERSION#v}" | cut -d. -f1)
  minor=$(echo "${K8S_VERSION#v}" | cut -d. -f2)
  ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=$major -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
    ld="$ld -X $p.gitCommit=0000000000000000000000000000000000000000 -X $p.buildDate=2026-01-01T00:00:00Z"
  done
  pkgs=(); for c in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  (cd "$w" && go build -trimpath -ldflags="$ld" -o "$OUT/" "${pkgs[@]}")
fi

if [ ! -x "$OUT/etcd" ]; then
  w=$WORK/etcd-$ETCD_VERSION
  mkdir -p "$w"
  log "building etcd $ETCD_VERSION from go.etcd.io/etcd/server/v3"
  printf 'module outrigger.local/etcd-build\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" >"$w/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >"$w/tools.go"
  (cd "$w" && go mod tidy 2>&1 | grep -v '^go: downloading' || true)
  (cd "$w" && go build -trimpath -ldflags="-s -w" -o "$OUT/etcd" go.etcd.io/etcd/server/v3)
fi

for c in $COMPONENTS etcd; do
  [ -x "$OUT/$c" ] || { log "ERROR: $OUT/$c was not built"; exit 1; }
done
echo "$OUT"
