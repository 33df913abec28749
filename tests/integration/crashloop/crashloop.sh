#!/usr/bin/env bash
# Crash loop: atdeskd is killed with SIGKILL at random instants while jobs are submitted, held,
# released and printed, then restarted. Afterwards every acknowledged job (HTTP 201 received)
# must be printed exactly once at the device, and no job may be printed twice.
#
# usage: crashloop.sh <repo root> <build dir> [cycles] [printer kind]
#   cycles: ATDESK_CRASH_CYCLES overrides; CI: 20
#   printer kind: ipp (default): straight to ippeveprinter (scripts/test-printer);
#                 cups: a queue of a private cupsd in front of ippeveprinter (scripts/test-cups)
# ATDESK_CRASH_SEED makes the instants repeatable.
set -euo pipefail
root=$1
. "$root/scripts/lib/common.sh"
build=$2
cycles=${ATDESK_CRASH_CYCLES:-${3:-20}}
kind=${4:-ipp}
seed=${ATDESK_CRASH_SEED:-$(( $(date +%s) % 100000 ))}
RANDOM=$seed
atdeskd="$build/src/app/daemon/atdeskd"
work=$(mktemp -d /tmp/atdesk-crash.XXXXXX)
chmod 700 "$work"
daemon_pid=""
printer_dir=""


cleanup() {
  [ -n "$daemon_pid" ] && kill -KILL "$daemon_pid" 2>/dev/null || true
  if [ "$kind" = cups ]; then
    "$root/scripts/test-cups" stop "$work/printer" >/dev/null 2>&1 || true
    if [ -n "${printer_dir:-}" ] && [ "${keep:-0}" != 1 ]; then rm -rf "$printer_dir"; fi
  else
    "$root/scripts/test-printer" stop "$work/printer" >/dev/null 2>&1 || true
  fi
  if [ "${keep:-0}" = 1 ]; then log "work folder kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

printer_port=$(free_port)
api_port=$(free_port)
case $kind in
  ipp)
    printer_uri=$("$root/scripts/test-printer" start "$work/printer" "$printer_port" atdesk-crash)
    spool="$work/printer/spool"
    ;;
  cups)
    # Outside the private work folder: cupsd runs its filters as user lp, which must reach it.
    printer_dir=$(mktemp -d /tmp/atdesk-crash-cups.XXXXXX)
    chmod 755 "$printer_dir"
    ln -s "$printer_dir" "$work/printer"
    printer_uri=$("$root/scripts/test-cups" start "$printer_dir" "$printer_port" atdesk-crash)
    spool="$printer_dir/device/spool"
    ;;
  *) log "unknown printer kind '$kind' (expected ipp or cups)"; exit 2 ;;
esac
base_config "$api_port" "$work/state" crash "$printer_port" |
  sed "s|^uri = .*|uri = \"$printer_uri\"|" >"$work/atdesk.toml"
url="http://127.0.0.1:$api_port"
token_file="$work/state/admin.token"

start_daemon() {
  "$atdeskd" --config "$work/atdesk.toml" >>"$work/atdeskd.log" 2>&1 &
  daemon_pid=$!
  for _ in $(seq 1 400); do
    curl -fsS "$url/healthz" >/dev/null 2>&1 && return 0
    sleep 0.025
  done
  log "atdeskd did not start"
  keep=1
  exit 1
}
kill_daemon() {
  kill -KILL "$daemon_pid" 2>/dev/null || true
  wait "$daemon_pid" 2>/dev/null || true
  daemon_pid=""
}
api() {  # api METHOD PATH [curl args...]
  local method=$1 path=$2
  shift 2
  curl -sS --max-time 5 -X "$method" -H "Authorization: Bearer $(cat "$token_file")" "$@" "$url$path"
}

"$root/scripts/sample-fax" "$work/fax1.tif" 1 >/dev/null
"$root/scripts/sample-fax" "$work/fax2.tif" 2 >/dev/null

start_daemon
api POST /api/v1/recipients -H 'Content-Type: application/json' \
  -d '{"pattern":"prefix:03","recipient":"user:local:alice"}' >/dev/null
api PUT /api/v1/presence/local/alice -H 'Content-Type: application/json' \
  -d '{"availability":"busy","location":"office"}' >/dev/null
: >"$work/acked"

# One worker: submits faxes (half for alice, who may hold them; half from unknown senders, who
# print), switches alice's presence and releases held jobs by hand, until the daemon dies.
worker() {
  local n=0 out code id
  while :; do
    n=$((n + 1))
    local sender="+1 212 555 $((1000 + RANDOM % 9000))"
    [ $((RANDOM % 2)) -eq 0 ] && sender="03$((10000000 + RANDOM % 89999999))"
    out=$(api POST /api/v1/jobs -w '\n%{http_code}' -F "document=@$work/fax$((1 + RANDOM % 2)).tif" \
      -F "sender=$sender" 2>/dev/null) || return 0
    code=${out##*$'\n'}
    [ "$code" = 201 ] || return 0
    id=$(sed '$d' <<<"$out" | jq -r .id)
    echo "$id" >>"$work/acked"
    case $((RANDOM % 6)) in
      0) api PUT /api/v1/presence/local/alice -H 'Content-Type: application/json' \
           -d '{"availability":"available","location":"office"}' >/dev/null 2>&1 || return 0 ;;
      1) api PUT /api/v1/presence/local/alice -H 'Content-Type: application/json' \
           -d '{"availability":"busy","location":"remote"}' >/dev/null 2>&1 || return 0 ;;
      2) api POST "/api/v1/jobs/$id/release" -H 'Content-Type: application/json' -d '{}' \
           >/dev/null 2>&1 || return 0 ;;
    esac
  done
}

for ((c = 1; c <= cycles; c++)); do
  [ -n "$daemon_pid" ] || start_daemon
  worker &
  w=$!
  # Kill at a random instant: 50 ms to 1.5 s into the cycle.
  sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.3f", 0.05 + (r % 1450) / 1000 }')"
  kill_daemon
  wait "$w" 2>/dev/null || true
done

# Settle: restart, let alice's jobs print, wait until nothing is in flight.
start_daemon
api PUT /api/v1/presence/local/alice -H 'Content-Type: application/json' \
  -d '{"availability":"available","location":"office"}' >/dev/null
acked=$(sort -u "$work/acked" | wc -l)
deadline=$((SECONDS + 120 + acked))
while :; do
  pending=$(api GET "/api/v1/jobs?state=received,stored,held,releasing,printing&limit=1000" |
    jq '.jobs | length')
  [ "$pending" = 0 ] && break
  if [ $SECONDS -ge $deadline ]; then
    log "FAIL: $pending jobs still not printed after the crash loop (seed $seed)"
    keep=1
    exit 1
  fi
  sleep 0.5
done

failures=0
state_in_api() { api GET "/api/v1/jobs/$1" | jq -r .state; }
printer_spool=$spool
expect_printed_once "$work/acked" state_in_api || failures=$((failures + 1))
printed=$(find "$spool" -type f -iname '*atdesk-*.pdf' | wc -l)
echo "crash loop ($kind): $cycles SIGKILLs, $acked acknowledged jobs, $printed documents printed, seed $seed"
if [ "$failures" -ne 0 ]; then
  keep=1
  log "---- atdeskd log (last 40 lines) ----"
  tail -n 40 "$work/atdeskd.log" >&2
  exit 1
fi
