#!/usr/bin/env bash
# atdeskd SIGKILLed during SIP fax calls, then started again (issue 6: nothing received is lost):
#  - a call killed after page 1 of 3 was confirmed -> after the restart, a job with 1 page, marked
#    incomplete, with the sender's TSI, caller ID and called number;
#  - a call killed before any page -> a "fax.failed_reception" entry in the audit log;
#  - the SIP spool folder is 0700 and empty afterwards;
#  - during the calls, /metrics counts the media threads' 20 ms ticks.
# Usage: daemon_crash.sh ATDESKD ATDESK (ctest passes both). About 20 s, real time.
set -uo pipefail
atdeskd=$1
atdesk=$2
root=$(cd "$(dirname "$0")/../../.." && pwd)
. "$root/scripts/lib/common.sh"

work=$(mktemp -d /tmp/atdesk-sip-crash.XXXXXX)
daemon=
senders=()
cleanup() {
  [ -n "$daemon" ] && kill -9 "$daemon" 2>/dev/null
  for p in "${senders[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
failures=0
check() {  # check "what" command...
  local what=$1
  shift
  if "$@"; then log "ok: $what"; else log "FAILED: $what"; failures=$((failures + 1)); fi
}

api=$(free_port)
sip=$(free_port)
# No printer listens on the printer's port: the recovered job is stored and then waits for it.
base_config "$api" "$work/state" crashprinter "$(free_port)" >"$work/atdesk.toml"
cat >>"$work/atdesk.toml" <<TOML
[sip]
address = "127.0.0.1"
port = $sip
allowed_peers = ["127.0.0.1"]
TOML
bash "$root/scripts/sample-fax" "$work/three.tif" 3 >/dev/null
export ATDESK_URL="http://127.0.0.1:$api" ATDESK_TOKEN_FILE="$work/state/admin.token"

start_daemon() {
  "$atdeskd" --config "$work/atdesk.toml" >>"$work/atdeskd.log" 2>&1 &
  daemon=$!
  for _ in $(seq 1 100); do
    "$atdesk" --timeout 1 printers >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  log "atdeskd did not start:"
  tail -n 20 "$work/atdeskd.log" >&2
  exit 1
}

start_daemon
"$atdesk" fax send --to "sip:0312345678@127.0.0.1:$sip" --from "sip:0398765432@127.0.0.1" \
  --ident "+81 3 9876 5432" "$work/three.tif" >"$work/send1.log" 2>&1 &
senders+=($!)
sleep 8
"$atdesk" fax send --to "sip:0311112222@127.0.0.1:$sip" --from "sip:0355556666@127.0.0.1" \
  "$work/three.tif" >"$work/send2.log" 2>&1 &
senders+=($!)
for _ in $(seq 1 300); do
  grep -q "page 1 confirmed" "$work/send1.log" && break
  sleep 0.1
done
# The calls' media timing is counted live (docs/sip.md): every 20 ms tick of a media thread.
metrics=$(curl -fsS -H "Authorization: Bearer $(cat "$work/state/admin.token")" "$ATDESK_URL/metrics")
check "the media threads' ticks are counted in /metrics during the calls" \
  awk '$1 == "atdesk_fax_media_wake_late_seconds_count" && $2 > 100 {f = 1} END {exit !f}' <<<"$metrics"
check "late RTP packets are a metric" \
  grep -q '^atdesk_fax_media_late_packets_total{media="rtp"} [0-9]' <<<"$metrics"
kill -9 "$daemon"
wait "$daemon" 2>/dev/null
daemon=
check "page 1 of call 1 was confirmed before the kill" grep -q "page 1 confirmed" "$work/send1.log"
check "call 2 had no page confirmed" bash -c "! grep -q 'page 1 confirmed' '$work/send2.log'"
check "call files were left in the spool folder" test -n "$(ls "$work/state/sip")"
check "the spool folder is 0700" test "$(stat -c %a "$work/state/sip")" = 700
# The callers would wait for their peer's silence timeout; they have done their part.
kill "${senders[@]}" 2>/dev/null
wait "${senders[@]}" 2>/dev/null
senders=()

start_daemon
jobs=$("$atdesk" --json jobs)
check "one job after the restart" test "$(grep -o '"id"' <<<"$jobs" | wc -l)" -eq 1
check "the job has 1 page" grep -q '"pages": 1' <<<"$jobs"
check "the job is incomplete" grep -q '"incomplete": true' <<<"$jobs"
check "the job has the TSI" grep -q '"tsi": "+81 3 9876 5432"' <<<"$jobs"
check "the job has the caller ID" grep -q '"caller_id": "0398765432"' <<<"$jobs"
check "the job has the called number" grep -Eq '"called": "[^"]*312345678"' <<<"$jobs"
audit=$("$atdesk" --json audit)
check "the call without a page is a failed reception in the audit log" \
  grep -q '"fax.failed_reception"' <<<"$audit"
check "the failed reception names the caller" grep -q 'caller 0355556666' <<<"$audit"
check "the spool folder is empty" test -z "$(ls "$work/state/sip")"

if [ "$failures" -gt 0 ]; then
  log "$failures check(s) failed; atdeskd's log:"
  grep -i sip "$work/atdeskd.log" | tail -n 20 >&2
  exit 1
fi
log "daemon crash recovery: all checks passed"
