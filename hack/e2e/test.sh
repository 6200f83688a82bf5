#!/usr/bin/env bash
# Runs the end-to-end tests (test/e2e, build tag e2e) against the local cluster of hack/e2e/up.sh; `make test-e2e`
# brings the cluster up first. On failure, shows the end of Outrigger's log. Leaves the cluster up (the next run
# reuses it in seconds) unless E2E_DOWN=1, which stops it whatever the outcome.
# Extra `go test` flags: E2E_TESTFLAGS, e.g. E2E_TESTFLAGS='-run Proxy'. E2E_ADMISSION (webhook or policy) tells
# the tests which admission mode up.sh installed; they check that the cluster runs it.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
rc=0
export E2E_ADMISSION=${E2E_ADMISSION:-webhook}
log "running test/e2e (Outrigger's admission: $E2E_ADMISSION)"
# shellcheck disable=SC2086 # E2E_TESTFLAGS is a list of flags
go test -tags e2e ./test/e2e -count=1 -v -timeout 20m ${E2E_TESTFLAGS:-} || rc=$?
if [ $rc != 0 ]; then
  log "the e2e tests failed; the cluster's logs are in $LOGS"
  if [ "$(cat "$RUN/outrigger.mode" 2>/dev/null)" = pod ]; then
    kc -n outrigger-system logs deployment/outrigger-controller-manager --tail=10000 >"$LOGS/outrigger-pod.log" 2>&1
    log "Outrigger's pod log: $LOGS/outrigger-pod.log; its end:"
    tail -n 30 "$LOGS/outrigger-pod.log" >&2
  elif [ -f "$LOGS/outrigger.log" ]; then
    log "the end of Outrigger's log ($LOGS/outrigger.log):"
    tail -n 30 "$LOGS/outrigger.log" >&2
  fi
  if [ "$E2E_ADMISSION" = policy ]; then
    kc get mutatingadmissionpolicies,mutatingadmissionpolicybindings -l app.kubernetes.io/managed-by=outrigger -o yaml \
      >"$LOGS/admission-policies.yaml" 2>&1
    log "Outrigger's admission policies: $LOGS/admission-policies.yaml"
  fi
fi
if [ "${E2E_DOWN:-}" = 1 ]; then
  "$ROOT/hack/e2e/down.sh"
fi
exit $rc
