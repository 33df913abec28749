#!/usr/bin/env bash
# Load and footprint of a real atdeskd (Release build, SQLite, encrypted spool) printing to a
# real ippeveprinter: jobs accepted per second, p50/p99 submit->stored, ->decision, ->printer,
# and resident memory idle (with R recipients in the table) and at the peak under load.
#   bench/load.sh [JOBS] [RECIPIENTS] [THREADS]     (long run: bench/load.sh 10000 10000 4)
#   ATDESK_SOAK_ROUNDS=10 bench/load.sh 1000        (soak: memory after each of 10 rounds)
#   ATDESK_STORE=postgresql bench/load.sh 1000      (the same on PostgreSQL 15 with fsync on,
#                                                    started by scripts/test-postgres)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib/common.sh"
jobs=${1:-1000}
recipients=${2:-10000}
threads=${3:-4}
"$root/scripts/install-deps" >/dev/null
# ATDESK_BUILD_DIR: use an existing build (with the targets below) instead of build-release.
build=$(release_build "$root" atdeskd atdesk-load)
work=$(mktemp -d /tmp/atdesk-load.XXXXXX)
chmod 700 "$work"
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  "$root/scripts/test-printer" stop "$work/printer" >/dev/null 2>&1 || true
  "$root/scripts/test-postgres" stop "$work/pg" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
pport=$(free_port)
aport=$(free_port)
"$root/scripts/test-printer" start "$work/printer" "$pport" atdesk-load >/dev/null
base_config "$aport" "$work/state" load "$pport" >"$work/atdesk.toml"
if [ "${ATDESK_STORE:-sqlite}" = postgresql ]; then
  "$root/scripts/test-postgres" start "$work/pg" durable >/dev/null
  psql "$("$root/scripts/test-postgres" url "$work/pg" postgres)" -qAtc "CREATE DATABASE atdesk"
  printf '[store]\nurl = "%s"\n' "$("$root/scripts/test-postgres" url "$work/pg" atdesk)" \
    >>"$work/atdesk.toml"
fi
"$build/src/app/daemon/atdeskd" --config "$work/atdesk.toml" >"$work/atdeskd.log" 2>&1 &
pid=$!
until curl -fsS "http://127.0.0.1:$aport/healthz" >/dev/null 2>&1; do sleep 0.05; done
rss() { awk "/^$1:/ {print \$2}" "/proc/$pid/status"; }
idle_empty=$(rss VmRSS)
"$root/scripts/sample-fax" "$work/fax.tif" 1 >/dev/null
# Soak: ATDESK_SOAK_ROUNDS=R runs the load R times against the same daemon and records the
# resident memory after each round (the report is the last round's); growth from round 2 on
# would be a leak or an unbounded cache.
rounds=${ATDESK_SOAK_ROUNDS:-1}
per_round=()
for _ in $(seq 1 "$rounds"); do
  "$build/bench/atdesk-load" --url "http://127.0.0.1:$aport" --token-file "$work/state/admin.token" \
    --fax "$work/fax.tif" --jobs "$jobs" --threads "$threads" --recipients "$recipients" \
    >"$work/report.json"
  per_round+=("$(rss VmRSS)")
done
after=$(rss VmRSS)
peak=$(rss VmHWM)
jq --argjson e "$idle_empty" --argjson a "$after" --argjson p "$peak" \
  --argjson r "[$(IFS=,; echo "${per_round[*]}")]" \
  '. + {rss_idle_empty_kib: $e, rss_after_kib: $a, rss_peak_kib: $p, rss_after_round_kib: $r,
        documents_at_printer: '"$(find "$work/printer/spool" -name '*.pdf' | wc -l)"'}' "$work/report.json"
