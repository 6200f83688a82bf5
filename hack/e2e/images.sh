#!/usr/bin/env bash
# Builds the images of the local cluster as docker-archive tarballs (tar, sha256sum and two JSON files; no
# registry, no Docker) into .e2e/images; hack/e2e/up.sh imports them into containerd with `ctr images import`.
#   busybox.tar   docker.io/library/busybox:local   Debian's static busybox and its applets (sh, httpd, wget...)
#   pause.tar     registry.k8s.io/pause:local       hack/e2e/pause, the pod sandbox image
#   outrigger.tar docker.io/library/outrigger:e2e   the manager as the Dockerfile builds it (E2E_OUTRIGGER=pod)
# Tags are not "latest", so that imagePullPolicy defaults to IfNotPresent and nothing is ever pulled.
# A tarball already there is reused, except outrigger.tar, rebuilt when the manager's source is newer.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mkdir -p "$IMAGES"

# image REF ROOTFS ENTRYPOINT-JSON CMD-JSON USER OUT: a one-layer image of the directory ROOTFS.
image() {
  local ref=$1 rootfs=$2 entrypoint=$3 cmd=$4 user=$5 out=$6 w diff cfg
  w=$(mktemp -d "$IMAGES/.build.XXXXXX")
  tar --numeric-owner --owner=0 --group=0 --mtime=2020-01-01 --sort=name -C "$rootfs" -cf "$w/layer.tar" .
  diff=$(sha256sum "$w/layer.tar" | cut -d' ' -f1)
  cat >"$w/config.json" <<JSON
{"architecture":"amd64","os":"linux","created":"2020-01-01T00:00:00Z","config":{"User":"$user","Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Entrypoint":$entrypoint,"Cmd":$cmd,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:$diff"]},"history":[{"created":"2020-01-01T00:00:00Z","created_by":"hack/e2e/images.sh"}]}
JSON
  cfg=$(sha256sum "$w/config.json" | cut -d' ' -f1)
  mv "$w/config.json" "$w/$cfg.json"
  mkdir "$w/$diff" && mv "$w/layer.tar" "$w/$diff/layer.tar"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]\n' "$cfg" "$ref" "$diff" >"$w/manifest.json"
  tar -C "$w" -cf "$out.tmp" manifest.json "$cfg.json" "$diff"
  mv "$out.tmp" "$out"
  rm -rf "$w"
}

if [ ! -f "$IMAGES/busybox.tar" ]; then
  log "building busybox:local from /bin/busybox (busybox-static)"
  r=$IMAGES/busybox-root
  rm -rf "$r" && mkdir -p "$r"/{bin,etc,tmp,proc,sys,dev,root,var/www}
  cp /bin/busybox "$r/bin/busybox"
  for applet in $("$r/bin/busybox" --list); do [ "$applet" = busybox ] || ln -sf busybox "$r/bin/$applet"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$r/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' >"$r/etc/group"
  chmod 1777 "$r/tmp"
  image docker.io/library/busybox:local "$r" null '["sh"]' "" "$IMAGES/busybox.tar"
  rm -rf "$r"
fi

if [ ! -f "$IMAGES/pause.tar" ]; then
  log "building pause:local from hack/e2e/pause"
  r=$IMAGES/pause-root
  rm -rf "$r" && mkdir -p "$r"
  (cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$r/pause" ./hack/e2e/pause)
  image registry.k8s.io/pause:local "$r" '["/pause"]' null "" "$IMAGES/pause.tar"
  rm -rf "$r"
fi

# The manager image: what the Dockerfile builds (a static ./cmd/manager on distroless/static:nonroot, user
# 65532), made here without Docker. distroless/static adds CA certificates and tzdata, which the manager does not
# need to talk to the apiserver (it trusts the ServiceAccount's CA). Rebuilt when the binary changed.
if [ "${1:-}" = outrigger ]; then
  out=$IMAGES/outrigger.tar
  r=$IMAGES/outrigger-root
  rm -rf "$r" && mkdir -p "$r/etc" "$r/tmp"
  chmod 1777 "$r/tmp"
  (cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$r/manager" ./cmd/manager)
  sum=$(sha256sum "$r/manager" | cut -d' ' -f1)
  if [ ! -f "$out" ] || [ "$(cat "$out.manager-sha256" 2>/dev/null)" != "$sum" ]; then
    log "building outrigger:e2e from ./cmd/manager (CGO_ENABLED=0, as the Dockerfile)"
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$r/etc/passwd"
    printf 'root:x:0:\nnonroot:x:65532:\n' >"$r/etc/group"
    image docker.io/library/outrigger:e2e "$r" '["/manager"]' null 65532:65532 "$out"
    echo "$sum" >"$out.manager-sha256"
  fi
  rm -rf "$r"
fi
