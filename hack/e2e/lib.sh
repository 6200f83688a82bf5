# Common settings and helpers of the hack/e2e scripts; sourced, never run.
#
# Everything the local cluster writes lives under .e2e/ in the repository (git-ignored), except what the kernel
# and the CNI plugins insist on: the pod bridge (outrigger0) and its veths, the pods' network namespaces in
# /var/run/netns, libcni's cache in /var/lib/cni, containerd's shim sockets in /run/containerd/s and the kubelet's
# cgroups. hack/e2e/down.sh removes all of it but the cgroups and /run/containerd/s (both left empty).
#
# Network: every component listens on 127.0.0.1 only, and pods live on the bridge (10.244.0.0/24). The node is
# called "localhost" so that the apiserver reaches the kubelet (logs, exec) on 127.0.0.1: the kubelet refuses a
# loopback node IP, so the apiserver dials the node's Hostname address instead of its InternalIP.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# No version default here: K8S_VERSION is the Makefile's (exported), else read from the one line that holds it;
# ETCD_VERSION comes from the Makefile, and hack/build-k8s-binaries.sh says so if it is needed and missing.
K8S_VERSION=${K8S_VERSION:-$(sed -n 's/^const KubernetesVersion = "\(.*\)"/\1/p' "$ROOT/internal/controlplane/version.go")}
[ -n "$K8S_VERSION" ] || { echo "K8S_VERSION is not set and internal/controlplane/version.go has no KubernetesVersion line" >&2; exit 1; }
ETCD_VERSION=${ETCD_VERSION:-}
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
export PATH=/usr/local/go/bin:$PATH

BIN=$ROOT/bin/k8s/$K8S_VERSION      # shared with `make test` (KUBEBUILDER_ASSETS)
E2E=$ROOT/.e2e
PKI=$E2E/pki
LOGS=$E2E/logs
RUN=$E2E/run                         # pid files
IMAGES=$E2E/images
CTRD=$E2E/containerd
CTRD_SOCK=$RUN/containerd.sock
KUBECONFIG_ADMIN=$E2E/kubeconfig     # cluster-admin; what test/e2e and you use
NODE=localhost
BRIDGE=outrigger0
CNI_NETWORK=outrigger-e2e
POD_CIDR=10.244.0.0/24
POD_GATEWAY=10.244.0.1
SERVICE_CIDR=10.96.0.0/24
API=https://127.0.0.1:6443
MANAGER_HEALTH=127.0.0.1:8081
MANAGER_WEBHOOK_PORT=9443

log() { printf '[e2e %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
kc() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }
ctrk() { ctr --address "$CTRD_SOCK" --namespace k8s.io "$@"; }

# pid_of NAME: the pid recorded for NAME if that process is still alive and still runs the binary it was started
# with (a recycled pid is not ours); nothing otherwise.
pid_of() {
  local f=$RUN/$1.pid pid exe
  [ -f "$f" ] || return 0
  read -r pid exe <"$f" || return 0
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 0
  [ "$(readlink "/proc/$pid/exe" 2>/dev/null | sed 's/ (deleted)$//')" = "$exe" ] && echo "$pid"
  return 0
}
running() { [ -n "$(pid_of "$1")" ]; }

# start NAME BINARY ARGS...: starts BINARY in a session of its own (so Ctrl-C on make does not reach it), output
# to $LOGS/NAME.log, and records its pid and binary in $RUN/NAME.pid.
start() {
  local name=$1 exe; shift
  exe=$(readlink -f "$(command -v "$1")")
  mkdir -p "$LOGS" "$RUN"
  setsid "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
  echo "$! $exe" >"$RUN/$name.pid"
}

# alive PID: the process exists and has not exited (an exited one may wait as a zombie for init to reap it).
alive() { [ -r "/proc/$1/stat" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]; }

# stop NAME [SECONDS]: SIGTERM to the recorded pid, SIGKILL after SECONDS (default 10).
stop() {
  local name=$1 wait=${2:-10} pid i
  pid=$(pid_of "$name")
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < wait * 20; i++)); do alive "$pid" || break; sleep 0.05; done
    if alive "$pid"; then log "$name ($pid) did not stop in ${wait}s: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
    for ((i = 0; i < 100; i++)); do alive "$pid" || break; sleep 0.05; done
  fi
  rm -f "$RUN/$name.pid"
}

# wait_for SECONDS WHAT COMMAND...: runs COMMAND every 0.2 s until it succeeds; dies after SECONDS.
wait_for() {
  local secs=$1 what=$2 i; shift 2
  for ((i = 0; i < secs * 5; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  die "$what: not after ${secs}s"
}

# port_free PORT: nothing listens on 127.0.0.1:PORT (or on all addresses).
port_free() { ! ss -Hltn "sport = :$1" | grep -q .; }

apiserver_ready() { curl -sf --max-time 2 --cacert "$PKI/ca.crt" "$API/readyz" | grep -qx ok; }
node_ready() { [ "$(kc get node "$NODE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; }

# missing_packages: the Debian packages the cluster needs that are not installed, one per line. up.sh installs
# them with apt-get; `make demo` reads them to tell whether this machine can run the cluster.
missing_packages() {
  local c
  declare -A pkg=([containerd]=containerd [containerd-shim-runc-v2]=containerd [ctr]=containerd [runc]=runc
    [iptables]=iptables [conntrack]=conntrack [socat]=socat [openssl]=openssl [ss]=iproute2 [curl]=curl)
  {
    for c in "${!pkg[@]}"; do command -v "$c" >/dev/null || echo "${pkg[$c]}"; done
    # The busybox image is Debian's static busybox (the plain busybox package is dynamically linked).
    [ -x /bin/busybox ] && dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' ||
      echo busybox-static
    [ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] && [ -x /usr/lib/cni/loopback ] ||
      echo containernetworking-plugins
  } | sort -u
}

# The control-plane processes, in start order.
CLUSTER_PROCESSES=(containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet)
