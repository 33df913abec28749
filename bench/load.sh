#!/usr/bin/env bash
# Load and footprint of a real atdeskd (Release build, SQLite, encrypted spool) printing to a
# real ippeveprinter: jobs accepted per second, p50/p99 submit->stored, ->decision, ->printer,
# and resident memory idle (with R recipients in the table) and at the peak under load.
#   bench/load.sh [JOBS] [RECIPIENTS] [THREADS]     (long run: bench/load.sh 10000 10000 4)
#   ATDESK_SOAK_ROUNDS=10 bench/load.sh 1000        (soak: memory after each of 10 rounds)
#   ATDESK_STORE=postgresql bench/load.sh 1000      (the same on PostgreSQL 15 with fsync on,
#                                                    started by scripts/test-postgres)
#   ATDESK_STORE=postgresql ATDESK_NODES=3 bench/load.sh 1000
#                                                   (three atdeskd on that database, the load
#                                                    spread over them, one printer)
#   ATDESK_STORE=compare bench/load.sh 1000         (one run of each: SQLite, PostgreSQL with
#                                                    one node, with three nodes; a table of
#                                                    accepted jobs/s, submit p99, decision p99)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib/common.sh"
jobs=${1:-1000}
recipients=${2:-10000}
threads=${3:-4}
if [ "${ATDESK_STORE:-}" = compare ]; then
  out=$(mktemp -d /tmp/atdesk-load-compare.XXXXXX)
  ATDESK_STORE=sqlite "$0" "$@" >"$out/sqlite.json"
  ATDESK_STORE=postgresql ATDESK_NODES=1 "$0" "$@" >"$out/pg1.json"
  ATDESK_STORE=postgresql ATDESK_NODES=3 "$0" "$@" >"$out/pg3.json"
  echo "| store | accepted jobs/s | submit p99 ms | decision p99 ms | all printed after s |"
  echo "|---|---|---|---|---|"
  for run in "sqlite:SQLite + spool" "pg1:PostgreSQL, 1 node" "pg3:PostgreSQL, 3 nodes"; do
    jq -r --arg name "${run#*:}" '"| \($name) | \(.accepted_per_second | floor) | \(.submit_to_stored_ms.p99 | . * 10 | round / 10) | \(.stored_to_decision_ms.p99 | . * 10 | round / 10) | \(.all_printed_after_seconds | . * 10 | round / 10) |"' \
      "$out/${run%%:*}.json"
  done
  rm -rf "$out"
  exit 0
fi
nodes=${ATDESK_NODES:-1}
"$root/scripts/install-deps" >/dev/null
# ATDESK_BUILD_DIR: use an existing build (with the targets below) instead of build-release.
build=$(release_build "$root" atdeskd atdesk-load)
work=$(mktemp -d /tmp/atdesk-load.XXXXXX)
chmod 700 "$work"
pid=""
more_pids=()
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  for p in "${more_pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
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
  if [ "$nodes" -gt 1 ]; then printf '[cluster]\nlease_s = 3\n' >>"$work/atdesk.toml"; fi
fi
"$build/src/app/daemon/atdeskd" --config "$work/atdesk.toml" >"$work/atdeskd.log" 2>&1 &
pid=$!
until curl -fsS "http://127.0.0.1:$aport/healthz" >/dev/null 2>&1; do sleep 0.05; done
# More nodes on the same database: their own state folder and port, the first node's key and
# token; a short lease tick so that they read the recipient table the load tool sets up quickly.
urls=(--url "http://127.0.0.1:$aport")
settle_ms=0
if [ "$nodes" -gt 1 ]; then
  for ((n = 2; n <= nodes; n++)); do
    nport=$(free_port)
    sed -e "s|^listen = .*|listen = \"127.0.0.1:$nport\"|" \
      -e "s|^state_dir = .*|state_dir = \"$work/state$n\"\nkey_file = \"$work/state/spool.key\"\nadmin_token_file = \"$work/state/admin.token\"|" \
      "$work/atdesk.toml" >"$work/atdesk$n.toml"
    "$build/src/app/daemon/atdeskd" --config "$work/atdesk$n.toml" >"$work/atdeskd$n.log" 2>&1 &
    more_pids+=($!)
    until curl -fsS "http://127.0.0.1:$nport/healthz" >/dev/null 2>&1; do sleep 0.05; done
    urls+=(--url "http://127.0.0.1:$nport")
  done
  settle_ms=2000
fi
rss() { awk "/^$1:/ {print \$2}" "/proc/$pid/status"; }
idle_empty=$(rss VmRSS)
"$root/scripts/sample-fax" "$work/fax.tif" 1 >/dev/null
# Soak: ATDESK_SOAK_ROUNDS=R runs the load R times against the same daemon and records the
# resident memory after each round (the report is the last round's); growth from round 2 on
# would be a leak or an unbounded cache.
rounds=${ATDESK_SOAK_ROUNDS:-1}
per_round=()
for _ in $(seq 1 "$rounds"); do
  "$build/bench/atdesk-load" "${urls[@]}" --wait-after-setup-ms "$settle_ms" \
    --token-file "$work/state/admin.token" \
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
