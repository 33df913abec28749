#!/usr/bin/env bash
# atdeskd printing through a CUPS 2.4 queue (scripts/test-cups: a private cupsd on loopback, a
# driverless queue in front of ippeveprinter) whose device is down, then whose queue is stopped
# by an administrator (cupsdisable). CUPS 2.4.2 then keeps the job `pending` with the printer
# `stopped`. atdesk must not take that for progress or failure: the job stays `printing`, one
# row in its history says the printer holds it stopped, nothing is sent again, and when the
# device is back and the queue enabled (cupsenable) it prints once.
#
# usage: cups_stopped.sh <repo root> <build dir>
set -euo pipefail
root=$1
build=$2
. "$root/scripts/lib/common.sh"
# Outside a private folder: cupsd runs its filters as user lp, which must reach it.
dir=$(mktemp -d /tmp/atdesk-cups-stopped.XXXXXX)
chmod 755 "$dir"
daemon_pid="" keep=0
cleanup() {
  [ -n "$daemon_pid" ] && kill -KILL "$daemon_pid" 2>/dev/null || true
  "$root/scripts/test-cups" stop "$dir/cups" >/dev/null 2>&1 || true
  if [ "$keep" = 1 ]; then log "work folder kept: $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
fail() {
  log "FAIL: $*"
  keep=1
  tail -n 30 "$dir/atdeskd.log" >&2 || true
  exit 1
}
wait_for() {  # wait_for SECONDS COMMAND...
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}

printer_uri=$("$root/scripts/test-cups" start "$dir/cups" "" atdesk)
device_port=$(cat "$dir/cups/device/port")
sock="$dir/cups/cups.sock"
api_port=$(free_port)
base_config "$api_port" "$dir/state" office 1 |
  sed "s|^uri = .*|uri = \"$printer_uri\"|" >"$dir/atdesk.toml"
url="http://127.0.0.1:$api_port"
"$build/src/app/daemon/atdeskd" --config "$dir/atdesk.toml" >>"$dir/atdeskd.log" 2>&1 &
daemon_pid=$!
wait_for 60 curl -fsS "$url/healthz" -o /dev/null 2>/dev/null || fail "atdeskd did not start"
api() {
  local method=$1 path=$2
  shift 2
  curl -sS --max-time 10 -X "$method" -H "Authorization: Bearer $(cat "$dir/state/admin.token")" \
    "$@" "$url$path"
}
state_is() { [ "$(api GET "/api/v1/jobs/$1" | jq -r .state)" = "$2" ]; }
history_has() { api GET "/api/v1/jobs/$1/history" | jq -r '.history[].reason' | grep -q "$2"; }
notes() {
  api GET "/api/v1/jobs/$1/history" |
    jq '[.history[] | select(.from == "printing" and .to == "printing")] | length'
}
printed() { "$root/scripts/test-printer" count "$dir/cups/device"; }

# The device behind the queue is off: CUPS takes the job and keeps trying its backend.
"$root/scripts/test-printer" stop "$dir/cups/device" >/dev/null
"$root/scripts/sample-fax" "$dir/fax.tif" 1 >/dev/null
out=$(api POST /api/v1/jobs -F "document=@$dir/fax.tif" -F "sender=+1 212 555 0100" -w '\n%{http_code}')
[ "${out##*$'\n'}" = 201 ] || fail "the fax was not acknowledged: $out"
id=$(sed '$d' <<<"$out" | jq -r .id)
wait_for 60 bash -c "lpstat -h '$sock' -o atdesk 2>/dev/null | grep -q ." ||
  fail "the job never reached the CUPS queue"
# The administrator stops the queue.
cupsdisable -h "$sock" -r "device out of order" atdesk
wait_for 60 history_has "$id" "is stopped with its job" ||
  fail "atdesk did not note the stopped queue: $(api GET "/api/v1/jobs/$id" | jq -r .reason)"
state_is "$id" printing || fail "job $id left printing while the queue was stopped"
reason=$(api GET "/api/v1/jobs/$id" | jq -r .reason)
# RFC 8011 5.4.12: a stopped printer says "paused" in printer-state-reasons.
grep -q 'paused' <<<"$reason" || fail "the reason does not carry the printer's state reasons: $reason"
sleep 3  # more polls: still one note, nothing sent again
[ "$(notes "$id")" = 1 ] || fail "the stop was noted $(notes "$id") times"
[ "$(lpstat -h "$sock" -W all -o atdesk 2>/dev/null | wc -l)" = 1 ] ||
  fail "CUPS has $(lpstat -h "$sock" -W all -o atdesk | wc -l) jobs: atdesk sent the job again"

# The device is back and the queue enabled: printed once.
"$root/scripts/test-printer" start "$dir/cups/device" "$device_port" atdesk-device >/dev/null
cupsenable -h "$sock" atdesk
wait_for 120 state_is "$id" printed || fail "job $id is not printed after the queue was enabled"
[ "$(printed)" = 1 ] || fail "the printer behind the queue received $(printed) documents, expected 1"
echo "cups_stopped: job $id noted once while the queue was stopped ($reason); printed once after cupsenable"
