#!/usr/bin/env bash
# How soon after the printer finishes a job atdesk records it `printed` (and so tells the
# person), on real processes: atdeskd (local chat service, the recipient available at the office,
# so every job prints at once) printing to a real ippeveprinter whose print command sleeps
# PRINT_SECONDS and then writes the time it finished (ippeveprinter marks the job completed when
# the command exits). For each of N jobs, one at a time: the job's `printed` transition in its
# history (the daemon's clock, millisecond resolution) minus the time the print command finished
# (same machine, same clock). Also counts the status requests (Get-Job-Attributes) the printer
# received per job and per second of printing.
#   bench/printed_latency.sh [JOBS=50] [PRINT_SECONDS=0.5]
# Prints one JSON object (latencies in ms: min, p50, p99, max).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib/common.sh"
jobs=${1:-50}
print_seconds=${2:-0.5}
# ATDESK_BUILD_DIR: use an existing build (with atdeskd) instead of build-release.
build=$(release_build "$root" atdeskd)
work=$(mktemp -d /tmp/atdesk-printed.XXXXXX)
chmod 755 "$work"
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  "$root/scripts/test-printer" stop "$work/printer" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/done"
cat >"$work/print-command" <<SH
#!/bin/sh
sleep $print_seconds
date +%s%3N >"$work/done/\$(basename "\$1").done"
SH
chmod 755 "$work/print-command"
pport=$(free_port)
aport=$(free_port)
TEST_PRINTER_COMMAND="$work/print-command" \
  "$root/scripts/test-printer" start "$work/printer" "$pport" atdesk-printed >/dev/null
base_config "$aport" "$work/state" printed "$pport" >"$work/atdesk.toml"
"$build/src/app/daemon/atdeskd" --config "$work/atdesk.toml" >"$work/atdeskd.log" 2>&1 &
pid=$!
until curl -fsS "http://127.0.0.1:$aport/healthz" >/dev/null 2>&1; do
  kill -0 "$pid" 2>/dev/null || { cat "$work/atdeskd.log" >&2; exit 1; }
  sleep 0.05
done
token=$(cat "$work/state/admin.token")
api() {
  curl -fsS -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -X "$1" "http://127.0.0.1:$aport/api/v1$2" ${3:+--data "$3"}
}
api PUT /recipients '{"rules":[{"pattern":"0312345678","recipient":"user:local:u1"}]}' >/dev/null
api PUT /presence/local/u1 '{"availability":"available","location":"office"}' >/dev/null
"$root/scripts/sample-fax" "$work/fax.tif" 1 >/dev/null

# ms since the epoch of an API time ("2026-11-24T09:30:00.123Z")
epoch_ms() { date -u -d "$1" +%s%3N; }
latencies=()
polls_before=$(grep -c 'Get-Job-Attributes successful-ok' "$work/printer/log" || true)
started=$(date +%s.%N)
for i in $(seq 1 "$jobs"); do
  id=$(curl -fsS -H "Authorization: Bearer $token" -F sender=0312345678 \
    -F "document=@$work/fax.tif;type=image/tiff" "http://127.0.0.1:$aport/api/v1/jobs" | jq -r .id)
  deadline=$((SECONDS + 60))
  until [ "$(api GET "/jobs/$id" | jq -r .state)" = printed ]; do
    [ $SECONDS -lt $deadline ] || { log "job $id not printed within 60 s"; exit 1; }
    sleep 0.05
  done
  at=$(api GET "/jobs/$id/history" | jq -r '[.history[] | select(.to == "printed")][0].at')
  done_file=$(find "$work/done" -iname "*atdesk-$id*.done" | head -n 1)
  [ -n "$done_file" ] || { log "job $id: the printer has no finished document"; exit 1; }
  finished_ms=$(cat "$done_file")
  latencies+=("$(($(epoch_ms "$at") - finished_ms))")
done
elapsed=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN {printf "%.3f", e - s}')
polls=$(($(grep -c 'Get-Job-Attributes successful-ok' "$work/printer/log" || true) - polls_before))
printf '%s\n' "${latencies[@]}" | jq -s --argjson jobs "$jobs" --argjson print "$print_seconds" \
  --argjson polls "$polls" --argjson elapsed "$elapsed" '
  sort as $v | {
    jobs: $jobs, print_seconds: $print,
    completed_to_printed_ms: {min: $v[0], p50: $v[(($v | length) - 1) * 0.5 | round],
      p99: $v[(($v | length) - 1) * 0.99 | round], max: $v[-1]},
    status_requests_per_job: ($polls / $jobs),
    status_requests_per_second: ($polls / $elapsed)}'
