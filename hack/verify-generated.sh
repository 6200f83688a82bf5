#!/usr/bin/env bash
# Fails when the committed generated files (deepcopy, CRDs, RBAC) are stale: regenerates them and compares
# checksums before and after. The files are left regenerated, so committing them is the fix.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
sums() { find api config/crd config/rbac -type f \( -name 'zz_generated*.go' -o -name '*.yaml' \) 2>/dev/null | sort | xargs -r sha256sum; }
before=$(sums)
make --no-print-directory generate manifests >/dev/null
after=$(sums)
if [ "$before" != "$after" ]; then
  echo "Generated files were stale; they are regenerated now. Review and commit them:" >&2
  diff <(echo "$before") <(echo "$after") >&2 || true
  exit 1
fi
echo "generated files are up to date"
