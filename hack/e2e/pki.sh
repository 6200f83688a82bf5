#!/usr/bin/env bash
# Certificates and kubeconfigs of the local cluster, made once into .e2e/pki and reused afterwards.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ -f "$PKI/done" ] && exit 0
rm -rf "$PKI" && mkdir -p "$PKI" && cd "$PKI"
log "making certificates in $PKI"

openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -subj "/CN=outrigger-e2e-ca" -days 3650 -out ca.crt 2>/dev/null
openssl genrsa -out sa.key 2048 2>/dev/null
openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null

# cert NAME SUBJECT [SANS]: a key and a certificate signed by the CA; with SANS a serving certificate too.
cert() {
  local name=$1 subject=$2 sans=${3:-}
  openssl req -newkey rsa:2048 -nodes -keyout "$name.key" -subj "$subject" -out "$name.csr" 2>/dev/null
  if [ -n "$sans" ]; then
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$sans" >"$name.ext"
  else
    printf 'extendedKeyUsage=clientAuth\n' >"$name.ext"
  fi
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile "$name.ext" \
    -out "$name.crt" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}
# 10.96.0.1 is the kubernetes Service; 10.244.0.1 the bridge, where pods reach the apiserver (hack/e2e/up.sh).
cert apiserver "/CN=kube-apiserver" \
  "IP:127.0.0.1,IP:10.96.0.1,IP:$POD_GATEWAY,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
cert admin "/O=system:masters/CN=outrigger-e2e-admin"
cert controller-manager "/CN=system:kube-controller-manager"
cert scheduler "/CN=system:kube-scheduler"
cert kubelet "/O=system:nodes/CN=system:node:$NODE"

# kubeconfig FILE USER
kubeconfig() {
  cat >"$1" <<KC
apiVersion: v1
kind: Config
clusters:
- name: outrigger-e2e
  cluster: {server: $API, certificate-authority: $PKI/ca.crt}
users:
- name: $2
  user: {client-certificate: $PKI/$2.crt, client-key: $PKI/$2.key}
contexts:
- name: outrigger-e2e
  context: {cluster: outrigger-e2e, user: $2}
current-context: outrigger-e2e
KC
}
kubeconfig "$KUBECONFIG_ADMIN" admin
kubeconfig controller-manager.kubeconfig controller-manager
kubeconfig scheduler.kubeconfig scheduler
kubeconfig kubelet.kubeconfig kubelet
touch done
