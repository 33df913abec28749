#!/usr/bin/env bash
# Faults on real processes, each with a clear expected outcome and no lost job:
#   printer_never_answers   a printer that accepts connections and never answers: held, retried,
#                           printed once a real printer answers on that address
#   spool_file_corrupted    a held job's encrypted file damaged: its release fails naming the job
#                           and the file; other held jobs still print
#   spool_key_missing       the key file gone: atdeskd refuses to start naming it (no new key);
#                           with the key back every held job is intact
#   spool_disk_full         the spool's file system full: uploads refused with a named error
#                           (507), acknowledged jobs intact, uploads accepted again once there is
#                           room
#   clock_jump              the wall clock set 2 days forward (past the 1-day retention), then
#                           back: held jobs are not expired, each jump is in the audit log, jobs
#                           received after it are held, and all print once on release
#                           (atdeskd runs under libfaketime; elapsed time is not faked)
#
# usage: faults.sh <repo root> <build dir> [fault ...]
set -euo pipefail
root=$1
. "$root/scripts/lib/common.sh"
build=$2
shift 2
atdeskd="$build/src/app/daemon/atdeskd"
cli="$build/src/app/cli/atdesk"
work=$(mktemp -d /tmp/atdesk-faults.XXXXXX)
chmod 700 "$work"
daemon_pid="" hole_pid="" failures=0


cleanup() {
  stop_daemon
  [ -n "$hole_pid" ] && kill "$hole_pid" 2>/dev/null || true
  "$root/scripts/test-printer" stop "$work/printer" >/dev/null 2>&1 || true
  # The faults run in subshells: look for their mounts rather than trust a variable.
  local m
  for m in $(grep -o " $work/[^ ]*" /proc/mounts || true); do umount "$m" 2>/dev/null || true; done
  if [ "$failures" -ne 0 ]; then
    log "---- atdeskd log (last 40 lines) ----"
    tail -n 40 "$work/atdeskd.log" >&2 || true
  fi
  [ -n "${KEEP_WORK:-}" ] && { log "kept $work"; return; }
  rm -rf "$work"
}
trap cleanup EXIT

printer_port=$(free_port)
api_port=$(free_port)
export ATDESK_URL="http://127.0.0.1:$api_port"
export ATDESK_TOKEN_FILE="$work/state/admin.token"

write_config() {  # write_config [spool_dir]
  cat >"$work/atdesk.toml" <<TOML
[server]
listen = "127.0.0.1:$api_port"
[storage]
state_dir = "$work/state"
spool_dir = "${1:-$work/state/spool}"
[numbers]
country_code = "81"
[retention]
held_days = 1
check_interval_s = 1
[[printer]]
name = "front"
uri = "ipp://127.0.0.1:$printer_port/ipp/print"
default = true
timeout_ms = 1500
TOML
}

# Each fault runs in a subshell, so the daemon's pid lives in a file, not a variable.
start_daemon() {
  local preload=()
  if [ -f "$work/faketime" ]; then  # the wall clock is whatever offset that file holds
    preload=(env LD_PRELOAD=/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1
      FAKETIME_TIMESTAMP_FILE="$work/faketime" FAKETIME_CACHE_DURATION=1
      FAKETIME_DONT_FAKE_MONOTONIC=1)
  fi
  "${preload[@]}" "$atdeskd" --config "$work/atdesk.toml" >>"$work/atdeskd.log" 2>&1 &
  daemon_pid=$!
  echo "$daemon_pid" >"$work/daemon.pid"
  wait_healthy "$ATDESK_URL" "$daemon_pid" atdeskd || { daemon_pid=""; return 1; }
}
stop_daemon() {
  daemon_pid=$(cat "$work/daemon.pid" 2>/dev/null || true)
  rm -f "$work/daemon.pid"
  if [ -n "$daemon_pid" ]; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true  # returns at once when started by another subshell
    while kill -0 "$daemon_pid" 2>/dev/null; do sleep 0.05; done
    daemon_pid=""
  fi
}
api() {
  local method=$1 path=$2
  shift 2
  curl -sS -X "$method" -H "Authorization: Bearer $(cat "$ATDESK_TOKEN_FILE")" "$@" "$ATDESK_URL$path"
}
state_of() { "$cli" --json show "$1" | jq -r '.job.state // .state'; }
reason_of() { "$cli" --json show "$1" | jq -r '.job.reason // .reason'; }
wait_state() {
  local id=$1 want=$2 deadline=$((SECONDS + ${3:-30})) s=""
  while [ $SECONDS -lt $deadline ]; do
    s=$(state_of "$id" 2>/dev/null || true)
    [ "$s" = "$want" ] && return 0
    sleep 0.1
  done
  log "  job $id is '$s', expected '$want'"
  return 1
}
fax() { local f="$work/fax-$RANDOM$RANDOM.tif"; "$root/scripts/sample-fax" "$f" "${1:-1}" >/dev/null; echo "$f"; }
submit() { "$cli" --json submit "$(fax "${2:-1}")" --sender "$1" | jq -r .id; }
printed_count() { find "$work/printer/spool" -type f -iname "*atdesk-$1*.pdf" 2>/dev/null | wc -l; }
ensure_printer() {  # faults after the first one find it running; run alone, they start it
  nc -z 127.0.0.1 "$printer_port" 2>/dev/null ||
    "$root/scripts/test-printer" start "$work/printer" "$printer_port" atdesk-faults >/dev/null
}
hold_for_alice() {
  ensure_printer
  "$cli" recipients add prefix:0399 user:local:alice >/dev/null 2>&1 || true
  "$cli" presence set alice busy remote >/dev/null
}

# ------------------------------------------------------------------------------------------
fault_printer_never_answers() {
  # A peer that accepts the connection and never says a word.
  nc -lk 127.0.0.1 "$printer_port" >/dev/null 2>&1 &
  hole_pid=$!
  sleep 0.3
  local id
  id=$(submit "+1 415 555 0101")
  wait_state "$id" held 30
  reason_of "$id" | grep -q "will retry"
  kill "$hole_pid" 2>/dev/null || true
  wait "$hole_pid" 2>/dev/null || true
  hole_pid=""
  "$root/scripts/test-printer" start "$work/printer" "$printer_port" atdesk-faults >/dev/null
  wait_state "$id" printed 60
  expect_eq "documents at the printer" "$(printed_count "$id")" 1
}

fault_spool_file_corrupted() {
  hold_for_alice
  local bad good file
  bad=$(submit "0399001111")
  good=$(submit "0399002222")
  wait_state "$bad" held
  wait_state "$good" held
  # The preview and the printable PDF are made after the decision: wait until the bad job
  # has all three files, so that every one of them is damaged.
  local deadline=$((SECONDS + 30))
  until [ "$(find "$work/state/spool" -type f -name "$bad.*" ! -name '*.tmp' | wc -l)" -ge 3 ]; do
    [ $SECONDS -lt $deadline ] || { log "  job $bad: no printable PDF and preview in the spool"; return 1; }
    sleep 0.1
  done
  # Flip one byte in the middle of every stored file of the bad job.
  for file in $(find "$work/state/spool" -type f -name "$bad.*"); do
    local size
    size=$(stat -c %s "$file")
    printf '\xff' | dd of="$file" bs=1 seek=$((size / 2)) conv=notrunc status=none
  done
  "$cli" release "$bad" >/dev/null 2>&1 || true
  wait_state "$bad" failed 30
  reason_of "$bad" | grep -q "$bad"
  expect_eq "documents printed for the damaged job" "$(printed_count "$bad")" 0
  "$cli" release "$good" >/dev/null
  wait_state "$good" printed 30
  expect_eq "documents printed for the intact job" "$(printed_count "$good")" 1
}

fault_spool_key_missing() {
  hold_for_alice
  local id
  id=$(submit "0399003333" 2)
  wait_state "$id" held
  stop_daemon
  mv "$work/state/spool.key" "$work/spool.key.saved"
  if start_daemon; then
    log "  FAIL: atdeskd started without its spool key"
    return 1
  fi
  grep -q "spool.key" "$work/atdeskd.log"
  [ ! -f "$work/state/spool.key" ] || { log "  FAIL: a new key was made"; return 1; }
  mv "$work/spool.key.saved" "$work/state/spool.key"
  start_daemon
  expect_eq "state after the key is back" "$(state_of "$id")" held
  "$cli" release "$id" >/dev/null
  wait_state "$id" printed 30
}

fault_spool_disk_full() {
  stop_daemon
  mkdir -p "$work/small"
  mount -t tmpfs -o size=400k,mode=0700 tmpfs "$work/small"

  write_config "$work/small/spool"
  start_daemon
  hold_for_alice
  local big accepted=() code out
  big=$(fax 8)
  for _ in $(seq 1 40); do
    code=$(api POST /api/v1/jobs -o "$work/out.json" -w '%{http_code}' \
      -F "document=@$big" -F "sender=0399004444")
    if [ "$code" = 201 ]; then
      accepted+=("$(jq -r .id "$work/out.json")")
    else
      break
    fi
  done
  expect_eq "status when the spool is full" "$code" 507
  jq -e '.error.message | test("space|full")' "$work/out.json" >/dev/null || {
    log "  FAIL: the error does not say the disk is full: $(cat "$work/out.json")"
    return 1
  }
  [ ${#accepted[@]} -gt 0 ] || { log "  FAIL: nothing was accepted before the spool was full"; return 1; }
  # Every acknowledged job is intact.
  local id
  for id in "${accepted[@]}"; do
    code=$(api GET "/api/v1/jobs/$id/document" -o /dev/null -w '%{http_code}')
    expect_eq "document of acknowledged job $id" "$code" 200
  done
  # Room again: delete two held jobs, the next upload is accepted.
  "$cli" delete "${accepted[0]}" >/dev/null
  [ ${#accepted[@]} -gt 1 ] && "$cli" delete "${accepted[1]}" >/dev/null
  code=$(api POST /api/v1/jobs -o /dev/null -w '%{http_code}' -F "document=@$(fax 1)" -F "sender=0399004444")
  expect_eq "status once there is room" "$code" 201
  stop_daemon
  umount "$work/small"
  write_config
}

jumps_in_audit() { api GET "/api/v1/audit?limit=200" | jq '[.entries[] | select(.action == "clock.jump")] | length'; }
wait_jumps() {
  local want=$1 deadline=$((SECONDS + 20)) n=0
  while [ $SECONDS -lt $deadline ]; do
    n=$(jumps_in_audit)
    [ "$n" -ge "$want" ] && return 0
    sleep 0.2
  done
  log "  FAIL: $n clock jumps in the audit log, expected $want"
  return 1
}

fault_clock_jump() {
  stop_daemon
  echo "+0" >"$work/faketime"
  start_daemon
  hold_for_alice
  local first second
  first=$(submit "0399005555")
  wait_state "$first" held
  echo "+2d" >"$work/faketime"  # forward past the 1-day retention
  wait_jumps 1
  sleep 2  # two more retention checks at the new time
  expect_eq "state two days 'later'" "$(state_of "$first")" held
  echo "-3h" >"$work/faketime"  # and back, behind the time the first job came in
  wait_jumps 2
  second=$(submit "0399006666")
  wait_state "$second" held
  sleep 2
  expect_eq "state of the first job after the jump back" "$(state_of "$first")" held
  "$cli" presence set alice available office >/dev/null
  wait_state "$first" printed 30
  wait_state "$second" printed 30
  expect_eq "documents printed for the first job" "$(printed_count "$first")" 1
  expect_eq "documents printed for the second job" "$(printed_count "$second")" 1
  stop_daemon
  rm -f "$work/faketime"
}

all=(printer_never_answers spool_file_corrupted spool_key_missing spool_disk_full clock_jump)
selected=("$@")
[ ${#selected[@]} -gt 0 ] || selected=("${all[@]}")
write_config
start_daemon
for f in "${selected[@]}"; do
  [ -f "$work/daemon.pid" ] || start_daemon
  set +e
  (set -e; "fault_$f")
  rc=$?
  set -e
  if [ "$rc" -eq 0 ]; then echo "ok   $f"; else echo "FAIL $f"; failures=$((failures + 1)); fi
done
[ "$failures" -eq 0 ]
