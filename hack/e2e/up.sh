#!/usr/bin/env bash
# Brings up a real single-node Kubernetes cluster in .e2e/ (containerd, runc, etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubelet) and runs Outrigger on it. `make e2e-up` runs it.
#
# Idempotent: a cluster that is up and healthy is kept (Outrigger is restarted only when bin/manager changed);
# leftovers of a cluster that is not (a crash, a reboot, a half-finished run) are cleaned up by hack/e2e/down.sh
# first, and a fresh cluster (empty etcd) is started. Built artefacts are reused: the Kubernetes binaries in
# bin/k8s/<version> (shared with `make test`), the images and certificates in .e2e/.
#
# Needs root (containerd, the kubelet, mounts, the bridge) and Debian's containerd, runc, CNI plugins and busybox,
# which it installs with apt-get when missing.
#
# E2E_OUTRIGGER=pod (default): config/default as users install it, with the image built from ./cmd/manager as
#   the Dockerfile does, imported with ctr; the apiserver calls the webhook Service's endpoint.
# E2E_OUTRIGGER=process: bin/manager runs on the host as the ServiceAccount of config/default, the webhook
#   configurations call it at https://localhost:9443.
# E2E_ADMISSION=webhook (default): the mutating webhook injects new workloads.
# E2E_ADMISSION=policy: config/default with the component config/components/admission-policy, as users install
#   policy mode: the manager runs with --admission=policy and compiles the profiles into MutatingAdmissionPolicies
#   that the apiserver runs itself; no MutatingWebhookConfiguration (the profiles' validating webhook stays).
# Changing either on a cluster that is up reinstalls Outrigger in the new mode (the cluster is kept).
# hack/e2e/README.md says more.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
MODE=${E2E_OUTRIGGER:-pod}
[ "$MODE" = process ] || [ "$MODE" = pod ] || die "E2E_OUTRIGGER=$MODE: must be process or pod"
ADMISSION=${E2E_ADMISSION:-webhook}
[ "$ADMISSION" = webhook ] || [ "$ADMISSION" = policy ] || die "E2E_ADMISSION=$ADMISSION: must be webhook or policy"
[ "$(id -u)" = 0 ] || die "the local cluster needs root (containerd, kubelet, mounts, the pod bridge): run as root"
T0=$(date +%s)

# --- packages ---------------------------------------------------------------------------------------------------
mapfile -t need < <(missing_packages)
if [ ${#need[@]} -gt 0 ]; then
  log "installing Debian packages (missing: ${need[*]})"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends containerd runc containernetworking-plugins busybox-static \
    iptables conntrack socat openssl iproute2 curl >/dev/null
fi

# --- binaries, images, certificates (each reused when present) --------------------------------------------------
COMPONENTS="kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl" \
  K8S_VERSION=$K8S_VERSION ETCD_VERSION=$ETCD_VERSION "$ROOT/hack/build-k8s-binaries.sh" >/dev/null
"$ROOT/hack/e2e/images.sh" $([ "$MODE" = pod ] && echo outrigger)
"$ROOT/hack/e2e/pki.sh"

# --- the cluster ------------------------------------------------------------------------------------------------
cluster_up() {
  local c
  for c in "${CLUSTER_PROCESSES[@]}"; do running "$c" || return 1; done
  apiserver_ready && node_ready
}

start_cluster() {
  for p in 2379 2380 6443 10248 10250 10257 10259; do
    port_free "$p" || die "port $p is taken by a process hack/e2e did not start: $(ss -Hltnp "sport = :$p" | head -1)"
  done
  [ ${#CTRD_SOCK} -lt 100 ] || die "$CTRD_SOCK is too long for a unix socket: move the checkout to a shorter path"
  mkdir -p "$CTRD" "$E2E/cni/net.d" "$LOGS" "$RUN"
  # A fresh cluster: no etcd data, no pod of a previous one (down.sh unmounted everything).
  ! grep -q " $E2E/" /proc/self/mounts || die "something is still mounted under $E2E: run make e2e-down"
  rm -rf "$E2E/etcd" "$E2E/cni/ipam" "$E2E/kubelet/root" "$E2E/kubelet/pod-logs"

  # The pod bridge, made before the CNI plugin would, so that its address (where pods reach the apiserver in
  # E2E_OUTRIGGER=pod) exists before the first pod.
  ip link show "$BRIDGE" >/dev/null 2>&1 || ip link add "$BRIDGE" type bridge
  ip addr replace "$POD_GATEWAY/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up

  log "starting containerd"
  cat >"$CTRD/config.toml" <<TOML
version = 2
root = "$CTRD/root"
state = "$CTRD/state"
[grpc]
  address = "$CTRD_SOCK"
[plugins."io.containerd.internal.v1.opt"]
  path = "$CTRD/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:local"
  stream_server_address = "127.0.0.1"
  # This VM's capability bounding set lacks CAP_SYS_RESOURCE, so runc cannot set the negative oom_score_adj
  # (-998) the kubelet asks for the pod sandbox ("can't get final child's PID from pipe: EOF"): clamp it.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$CTRD/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$E2E/cni/net.d"
TOML
  # No masquerading and no port mapping: pods talk to each other and to the host over the bridge, nothing else.
  cat >"$E2E/cni/net.d/10-$CNI_NETWORK.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "$CNI_NETWORK",
  "plugins": [
    {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$E2E/cni/ipam", "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$POD_GATEWAY"}]]}}
  ]
}
JSON
  start containerd containerd --config "$CTRD/config.toml"
  wait_for 20 "containerd socket $CTRD_SOCK" ctrk version

  log "starting etcd and the control plane"
  start etcd "$BIN/etcd" --name e2e --data-dir "$E2E/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster e2e=http://127.0.0.1:2380 --unsafe-no-fsync
  # --endpoint-reconciler-type=none: 1.37 refuses a loopback --advertise-address with the default reconciler.
  # --kubelet-preferred-address-types=Hostname: the node is "localhost" (see lib.sh).
  # --enable-aggregator-routing: there is no kube-proxy, so the apiserver calls webhook Services' endpoints.
  start kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers=http://127.0.0.1:2379 \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port=6443 --endpoint-reconciler-type=none \
    --cert-dir="$E2E/apiserver" \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" --client-ca-file="$PKI/ca.crt" \
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types=Hostname \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" --authorization-mode=Node,RBAC --allow-privileged=true \
    --enable-aggregator-routing=true --profiling=false
  wait_for 90 "kube-apiserver readyz (see $LOGS/kube-apiserver.log)" apiserver_ready
  start kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig="$PKI/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$PKI/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$PKI/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=10257 --leader-elect=false --profiling=false \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
    --use-service-account-credentials=true --service-cluster-ip-range="$SERVICE_CIDR" \
    --kube-api-qps=100 --kube-api-burst=200
  start kube-scheduler "$BIN/kube-scheduler" \
    --kubeconfig="$PKI/scheduler.kubeconfig" \
    --authentication-kubeconfig="$PKI/scheduler.kubeconfig" --authorization-kubeconfig="$PKI/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=10259 --leader-elect=false --profiling=false

  log "importing images"
  for t in busybox pause; do ctrk images import "$IMAGES/$t.tar" >/dev/null; done
  # A second tag of the same image: a profile change the rollout test can make without another image.
  ctrk images tag --force docker.io/library/busybox:local docker.io/library/busybox:local2 >/dev/null

  log "starting the kubelet"
  mkdir -p "$E2E/kubelet"
  cat >"$E2E/kubelet/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
containerRuntimeEndpoint: unix://$CTRD_SOCK
# containerd 1.6 lacks the RuntimeConfig CRI call, so the kubelet takes the cgroup driver from here.
cgroupDriver: cgroupfs
# This VM runs cgroup v1 (hybrid); the kubelet refuses it since 1.35 unless told otherwise.
failCgroupV1: false
failSwapOn: false
podLogsDir: $E2E/kubelet/pod-logs
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
# No cluster DNS and an empty resolv.conf in pods: nothing in a pod resolves or reaches any name outside.
resolvConf: ""
serializeImagePulls: false
imageGCHighThresholdPercent: 100
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
syncFrequency: 10s
fileCheckFrequency: 10s
YAML
  start kubelet "$BIN/kubelet" --config="$E2E/kubelet/config.yaml" --kubeconfig="$PKI/kubelet.kubeconfig" \
    --root-dir="$E2E/kubelet/root" --cert-dir="$E2E/kubelet/pki" --hostname-override="$NODE" --v=2
  wait_for 120 "node $NODE Ready (see $LOGS/kubelet.log)" node_ready
  # Pods are refused until the controller-manager has made the namespace's default ServiceAccount.
  wait_for 60 "the default ServiceAccount" kc get serviceaccount default
  log "cluster up: node $NODE Ready"
}

if cluster_up; then
  log "cluster already up (kubeconfig $KUBECONFIG_ADMIN)"
else
  leftovers=
  for c in "${CLUSTER_PROCESSES[@]}" outrigger socat; do [ -f "$RUN/$c.pid" ] && leftovers=1; done
  ip link show "$BRIDGE" >/dev/null 2>&1 && leftovers=1
  grep -q " $E2E/" /proc/self/mounts && leftovers=1
  if [ -n "$leftovers" ]; then
    log "cleaning up what a previous cluster left"
    "$ROOT/hack/e2e/down.sh"
  fi
  start_cluster
fi

# --- Outrigger --------------------------------------------------------------------------------------------------
# The recorded modes: switching between process and pod, or between webhook and policy admission, reinstalls
# Outrigger. A cluster recorded before E2E_ADMISSION existed ran the webhook.
prev_mode=$(cat "$RUN/outrigger.mode" 2>/dev/null || true)
prev_admission=$(cat "$RUN/outrigger.admission" 2>/dev/null || true)
[ -z "$prev_mode" ] || [ -n "$prev_admission" ] || prev_admission=webhook
MWC=mutatingwebhookconfiguration/outrigger-mutating-webhook-configuration
VWC=validatingwebhookconfiguration/outrigger-validating-webhook-configuration
WORK=$(mktemp -d "${TMPDIR:-/tmp}/outrigger-e2e.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# render writes what is applied to $WORK/outrigger.yaml: config/default, in policy mode through an overlay with the
# admission-policy component (a kustomization of its own that refers to config/ by relative paths, as a user's
# overlay would), adapted to this cluster by hack/e2e/manifests.
render() {
  local src=$ROOT/config/default
  if [ "$ADMISSION" = policy ]; then
    src=$WORK/overlay
    mkdir -p "$src"
    cat >"$src/kustomization.yaml" <<YAML
resources:
- $(realpath --relative-to="$src" "$ROOT/config/default")
components:
- $(realpath --relative-to="$src" "$ROOT/config/components/admission-policy")
YAML
  fi
  "$BIN/kubectl" kustomize "$src" >"$WORK/kustomized.yaml"
  (cd "$ROOT" && go run ./hack/e2e/manifests --mode="$MODE" --webhook-port="$MANAGER_WEBHOOK_PORT" \
    --apiserver="$POD_GATEWAY:6443") <"$WORK/kustomized.yaml" >"$WORK/outrigger.yaml"
  if [ "$ADMISSION" = policy ]; then
    # What the component is for: checked here, so that a component that stopped doing it fails loudly rather
    # than leaving the tests to run the webhook.
    ! grep -q '^kind: MutatingWebhookConfiguration$' "$WORK/outrigger.yaml" ||
      die "config/components/admission-policy left the MutatingWebhookConfiguration in"
    [ "$MODE" = process ] || grep -q -- '- --admission=policy$' "$WORK/outrigger.yaml" ||
      die "config/components/admission-policy did not give the manager --admission=policy"
  fi
}
render

if [ -n "$prev_mode" ] && { [ "$prev_mode" != "$MODE" ] || [ "$prev_admission" != "$ADMISSION" ]; }; then
  log "reinstalling Outrigger: $prev_mode, $prev_admission admission -> $MODE, $ADMISSION admission"
  stop outrigger
  stop socat
  # Foreground: the manager's pod is gone too, so that the old manager writes nothing (a policy, a caBundle)
  # once the new one runs.
  kc -n outrigger-system delete deployment outrigger-controller-manager --ignore-not-found --cascade=foreground \
    --wait=true --timeout=60s >/dev/null
  kc -n outrigger-system wait --for=delete pod -l control-plane=controller-manager --timeout=60s >/dev/null 2>&1 || true
  rm -f "$RUN/outrigger.sha256" "$RUN/outrigger.digest"
  if [ "$ADMISSION" = webhook ]; then
    # A manager in webhook mode deletes them too, but only once it runs: until then they would inject.
    kc delete mutatingadmissionpolicybindings,mutatingadmissionpolicies -l app.kubernetes.io/managed-by=outrigger \
      --ignore-not-found >/dev/null
  fi
fi
echo "$MODE" >"$RUN/outrigger.mode"
echo "$ADMISSION" >"$RUN/outrigger.admission"

if [ "$MODE" = pod ]; then
  # The image first, so that the Deployment's pod finds it (imagePullPolicy Never: nothing is ever pulled).
  image_sum=$(sha256sum "$IMAGES/outrigger.tar" | cut -d' ' -f1)
  image_changed=
  if [ "$(cat "$RUN/outrigger.digest" 2>/dev/null)" != "$image_sum" ]; then
    ctrk images import "$IMAGES/outrigger.tar" >/dev/null
    image_changed=1
  fi
  had_deployment=$(kc -n outrigger-system get deployment outrigger-controller-manager -o name 2>/dev/null || true)
  # Pods reach the apiserver on the bridge: socat forwards 10.244.0.1:6443 to the apiserver on 127.0.0.1 (there
  # is no kube-proxy to route the kubernetes Service, and the apiserver listens on loopback only).
  if ! running socat; then
    start socat "$(command -v socat)" "TCP-LISTEN:6443,bind=$POD_GATEWAY,reuseaddr,fork" TCP:127.0.0.1:6443
    sleep 0.2
    running socat || die "socat could not listen on $POD_GATEWAY:6443 (see $LOGS/socat.log)"
  fi
fi

log "applying config/default ($MODE, $ADMISSION admission)"
kc apply --server-side --force-conflicts --field-manager=hack-e2e -f "$WORK/outrigger.yaml" >/dev/null
# Applying does not delete: the webhook configuration that webhook mode applied goes here.
[ "$ADMISSION" = webhook ] || kc delete "$MWC" --ignore-not-found >/dev/null
kc wait --for=condition=Established --timeout=60s crd/sidecarprofiles.sidecars.outrigger.dev \
  crd/clustersidecarprofiles.sidecars.outrigger.dev >/dev/null

if [ "$MODE" = process ]; then
  [ -x "$ROOT/bin/manager" ] || die "bin/manager is missing: run make build (make e2e-up does)"
  sum=$(sha256sum "$ROOT/bin/manager" | cut -d' ' -f1)
  if running outrigger && [ "$(cat "$RUN/outrigger.sha256" 2>/dev/null)" = "$sum" ]; then
    log "Outrigger already running (bin/manager unchanged)"
  else
    stop outrigger
    port_free "$MANAGER_WEBHOOK_PORT" && port_free "${MANAGER_HEALTH#*:}" ||
      die "port $MANAGER_WEBHOOK_PORT or ${MANAGER_HEALTH#*:} is taken by a process hack/e2e did not start"
    # Outrigger runs with the permissions users give it: the ServiceAccount and RBAC of config/default.
    mkdir -p "$E2E/outrigger"
    token=$(kc -n outrigger-system create token outrigger-controller-manager --duration=8760h)
    cat >"$E2E/outrigger/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: outrigger-e2e
  cluster: {server: $API, certificate-authority: $PKI/ca.crt}
users:
- name: outrigger-controller-manager
  user: {token: $token}
contexts:
- name: outrigger-e2e
  context: {cluster: outrigger-e2e, user: outrigger-controller-manager, namespace: outrigger-system}
current-context: outrigger-e2e
KC
    chmod 600 "$E2E/outrigger/kubeconfig"
    log "starting Outrigger (bin/manager, log $LOGS/outrigger.log)"
    POD_NAMESPACE=outrigger-system KUBECONFIG="$E2E/outrigger/kubeconfig" start outrigger "$ROOT/bin/manager" \
      --webhook-cert-mode=self-managed --webhook-cert-extra-dns=localhost --webhook-host=127.0.0.1 \
      --webhook-port="$MANAGER_WEBHOOK_PORT" --webhook-cert-dir="$E2E/outrigger/certs" \
      --health-probe-bind-address="$MANAGER_HEALTH" --metrics-bind-address=0 --admission="$ADMISSION"
    echo "$sum" >"$RUN/outrigger.sha256"
  fi
  wait_for 60 "Outrigger readyz (see $LOGS/outrigger.log)" curl -sf --max-time 2 "http://$MANAGER_HEALTH/readyz"
else
  if [ -n "$image_changed" ] && [ -n "$had_deployment" ]; then
    log "restarting Outrigger's pod on the new image"
    kc -n outrigger-system rollout restart deployment outrigger-controller-manager >/dev/null
  fi
  echo "$image_sum" >"$RUN/outrigger.digest"
  log "waiting for Outrigger's pod"
  kc -n outrigger-system rollout status deployment outrigger-controller-manager --timeout=120s >/dev/null ||
    die "Outrigger's Deployment did not become available: kubectl -n outrigger-system describe pods"
fi
# Self-managed certificates: the manager sets the caBundle of both webhook configurations (policy mode has only
# the validating one).
for w in $([ "$ADMISSION" = webhook ] && echo "$MWC") "$VWC"; do
  wait_for 60 "caBundle of $w" sh -c "[ -n \"\$($BIN/kubectl --kubeconfig $KUBECONFIG_ADMIN get $w -o jsonpath='{.webhooks[0].clientConfig.caBundle}')\" ]"
done
log "up in $(($(date +%s) - T0))s ($MODE, $ADMISSION admission): export KUBECONFIG=$KUBECONFIG_ADMIN (logs in $LOGS)"
