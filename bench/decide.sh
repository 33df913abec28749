#!/usr/bin/env bash
# Decisions of a burst: N one-page faxes stored at once (SQLite, encrypted spool, local chat
# service, the document code; a printer that completes every job at once), then decided by the
# engine's workers; prints the JSON of bench/tools/atdesk_decide.cpp (decided jobs/s, p50/p99
# from the start of the workers to each decision, when the held jobs' previews were done, RSS).
# The engine's log (each transition, as atdeskd logs it) is left out of the output.
#   bench/decide.sh [JOBS=10000] [RECIPIENTS=10000] [THREADS=4]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib/common.sh"
jobs=${1:-10000}
recipients=${2:-10000}
threads=${3:-4}
# ATDESK_BUILD_DIR: use an existing build (with atdesk-decide) instead of build-release.
build=$(release_build "$root" atdesk-decide)
work=$(mktemp -d /tmp/atdesk-decide.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/state"
"$root/scripts/sample-fax" "$work/fax.tif" 1 >/dev/null
"$build/bench/atdesk-decide" --state "$work/state" --fax "$work/fax.tif" --jobs "$jobs" \
  --recipients "$recipients" --threads "$threads" >"$work/out"
sed -n '/^{"jobs"/,$p' "$work/out"
