#!/usr/bin/env bash
# Stops the local cluster of hack/e2e/up.sh and Outrigger, by the pids recorded in .e2e/run, and cleans up what
# they leave behind: pods' containers and network namespaces, mounts under .e2e, the pod bridge. `make e2e-down`.
# Safe to run twice, or on a cluster that crashed. Keeps what is slow to make (images, certificates, containerd's
# image store) for the next `make e2e-up`; `rm -rf .e2e` after this forgets everything.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[ "$(id -u)" = 0 ] || die "needs root, like hack/e2e/up.sh"
[ -d "$E2E" ] || exit 0

stop outrigger
stop socat
# Nothing new gets scheduled or created once the controller-manager and the scheduler are gone; then the kubelet,
# still running, stops the pods properly (their network namespaces, veths and volume mounts go with them).
stop kube-controller-manager
stop kube-scheduler
if running kube-apiserver && running kubelet && apiserver_ready; then
  log "deleting the pods"
  kc delete pods --all --all-namespaces --grace-period=1 --wait=true --timeout=60s >/dev/null 2>&1 ||
    log "some pods did not go in 60s; removing their containers"
fi
stop kubelet 20

# Whatever is left in containerd (a kubelet that crashed, pods that did not stop): tasks killed and deleted, then
# containers removed. The tasks' processes are children of containerd's shims, not of containerd.
if running containerd; then
  tasks=$(ctrk tasks ls -q 2>/dev/null)
  if [ -n "$tasks" ]; then
    for t in $tasks; do ctrk tasks kill --signal SIGKILL "$t" >/dev/null 2>&1; done
    sleep 1
    for t in $tasks; do ctrk tasks delete --force "$t" >/dev/null 2>&1; done
  fi
  for c in $(ctrk containers ls -q 2>/dev/null); do ctrk containers delete "$c" >/dev/null 2>&1; done
fi
stop kube-apiserver
stop etcd
stop containerd 20
rm -f "$CTRD_SOCK" "$CTRD_SOCK.ttrpc"

# Shims of our containerd that outlived it (containerd crashed): found by the socket they were started with, and
# stopped by pid after their children, the containers' processes.
for d in /proc/[0-9]*; do
  cmd=$({ tr '\0' ' ' <"$d/cmdline"; } 2>/dev/null) || continue
  case "$cmd" in
  *containerd-shim*" -address $CTRD_SOCK "*)
    shim=${d#/proc/}
    children=$(ps -o pid= --ppid "$shim" 2>/dev/null)
    log "stopping shim $shim and its containers' processes ${children//$'\n'/ }"
    for c in $children; do kill -KILL "$c" 2>/dev/null; done
    kill -KILL "$shim" 2>/dev/null
    ;;
  esac
done

# Network namespaces of pods the kubelet did not tear down: libcni's cache names them, per network.
for f in /var/lib/cni/results/"$CNI_NETWORK"-*; do
  [ -f "$f" ] || continue
  for ns in $(grep -o '"sandbox":"[^"]*"' "$f" | cut -d'"' -f4 | sort -u); do
    case "$ns" in /var/run/netns/* | /run/netns/*)
      umount "$ns" 2>/dev/null
      rm -f "$ns"
      ;;
    esac
  done
  rm -f "$f"
done

# Mounts under .e2e: the kubelet's volumes (tmpfs, bind mounts), containerd's overlays and shm. Deepest first.
awk -v root="$E2E/" 'index($5, root) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
  umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "could not unmount $m"
done

ip link show "$BRIDGE" >/dev/null 2>&1 && ip link delete "$BRIDGE"
rm -f "$RUN/outrigger.mode" "$RUN/outrigger.admission" "$RUN/outrigger.sha256" "$RUN/outrigger.digest"
left=$(ls "$RUN"/*.pid 2>/dev/null)
[ -z "$left" ] || log "pid files left: $left"
log "stopped"
