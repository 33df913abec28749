#!/usr/bin/env bash
# atdeskd on PostgreSQL ([store] url) as a process, with the local chat service and a real IPP
# Everywhere printer (ippeveprinter). Outcomes are checked at the printer (documents received)
# and in the database (rows, sealed documents):
#   - a fax held by presence prints once when the presence changes;
#   - atdeskd restarted: the held job is still there, prints once; nothing printed again;
#   - PostgreSQL stopped under the running atdeskd: uploads are refused with 503 (nothing is
#     acknowledged), /healthz still answers; PostgreSQL started again: uploads are taken and
#     every job acknowledged before is there and prints.
#
# usage: pg_daemon.sh <repo root> <build dir>
set -euo pipefail

root=$1
. "$root/scripts/lib/common.sh"
build=$2
atdeskd="$build/src/app/daemon/atdeskd"
cli="$build/src/app/cli/atdesk"
work=$(mktemp -d /tmp/atdesk-pg.XXXXXX)
chmod 700 "$work"
ok=0

cleanup() {
  stop_daemon
  "$root/scripts/test-printer" stop "$work/printer" >/dev/null 2>&1 || true
  stop_test_database "$work/pg"
  if [ "$ok" -ne 1 ]; then
    log "---- atdeskd log (last 60 lines) ----"
    tail -n 60 "$work/atdeskd.log" >&2 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

url=$(start_test_database "$work/pg")
sql() { psql "$url" -qAtc "$1"; }

printer_port=$(free_port)
api_port=$(free_port)
"$root/scripts/test-printer" start "$work/printer" "$printer_port" atdesk-pg >/dev/null
printer_spool="$work/printer/spool"
{
  base_config "$api_port" "$work/state" demo "$printer_port"
  printf '[store]\nurl = "%s"\n' "$url"
} >"$work/atdesk.toml"

export ATDESK_URL="http://127.0.0.1:$api_port"
export ATDESK_TOKEN_FILE="$work/state/admin.token"
daemon_pid=""

start_daemon() {
  "$atdeskd" --config "$work/atdesk.toml" >>"$work/atdeskd.log" 2>&1 &
  daemon_pid=$!
  wait_healthy "$ATDESK_URL" "$daemon_pid" atdeskd
}
stop_daemon() {
  if [ -n "$daemon_pid" ]; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
    daemon_pid=""
  fi
}
api() {  # api METHOD PATH [curl args...]
  local method=$1 path=$2
  shift 2
  curl -sS -X "$method" -H "Authorization: Bearer $(cat "$ATDESK_TOKEN_FILE")" "$@" \
    "$ATDESK_URL$path"
}
fax() {  # fax PAGES -> path of a fresh sample fax
  local f="$work/fax-$RANDOM$RANDOM.tif"
  "$root/scripts/sample-fax" "$f" "$1" >/dev/null
  echo "$f"
}
submit() { "$cli" --json submit "$(fax "${2:-1}")" --sender "$1" | jq -r .id; }
state_of() { "$cli" --json show "$1" | jq -r '.job.state // .state'; }
wait_state() {  # wait_state ID STATE [seconds]
  local id=$1 want=$2 deadline=$((SECONDS + ${3:-30})) s=""
  while [ $SECONDS -lt $deadline ]; do
    s=$(state_of "$id" 2>/dev/null || true)
    [ "$s" = "$want" ] && return 0
    sleep 0.1
  done
  log "  FAIL: job $id is '$s', expected '$want'"
  return 1
}
presence() { "$cli" presence set "$@" >/dev/null; }

start_daemon
grep -q "store: *PostgreSQL" "$work/atdeskd.log"
expect_eq "schema version" "$(sql 'SELECT max(version) FROM schema_migrations')" 2

log "held by presence, printed once when the presence changes"
"$cli" recipients add prefix:0322 user:local:alice >/dev/null
presence alice busy remote
first=$(submit "0322223333" 2)
wait_state "$first" held
expect_eq "documents at the printer while held" "$(printed_count "$first")" 0
expect_eq "job row" "$(sql "SELECT state FROM jobs WHERE id = '$first'")" held
[ "$(sql "SELECT count(*) FROM documents WHERE job_id = '$first'")" -ge 2 ]  # original + preview
# Sealed: the TIFF's magic number is not at the start of any row; no spool files were written.
expect_eq "plain TIFF rows" \
  "$(sql "SELECT count(*) FROM documents WHERE job_id = '$first' AND substring(data from 1 for 4) = '\\x49492a00'::bytea")" 0
expect_eq "spool files" "$(find "$work/state" -path "$work/state/spool/*" -type f | wc -l)" 0
presence alice available office
wait_state "$first" printed
expect_eq "documents at the printer" "$(printed_count "$first")" 1
expect_eq "pages printed" "$(printed_pages "$first")" 2

log "restart: the held job is still there and prints once"
presence alice busy remote
second=$(submit "0322224444" 1)
wait_state "$second" held
stop_daemon
start_daemon
expect_eq "state after the restart" "$(state_of "$second")" held
presence alice available office
wait_state "$second" printed
sleep 1
expect_eq "documents of the second job" "$(printed_count "$second")" 1
expect_eq "documents of the first job after the restart" "$(printed_count "$first")" 1

log "PostgreSQL down: uploads refused with 503, nothing acknowledged lost; back: uploads taken"
presence alice busy remote
third=$(submit "0322225555" 1)
wait_state "$third" held
acknowledged=$(sql "SELECT count(*) FROM jobs")
"$root/scripts/test-postgres" stop "$work/pg"
code=$(api POST /api/v1/jobs -F "document=@$(fax 1)" -F "sender=0322226666" -o "$work/refused.json" \
  -w '%{http_code}')
expect_eq "upload while the database is down" "$code" 503
jq -e '.error.code == "unavailable"' "$work/refused.json" >/dev/null
expect_eq "healthz while the database is down" \
  "$(curl -s -o /dev/null -w '%{http_code}' "$ATDESK_URL/healthz")" 200
"$root/scripts/test-postgres" start "$work/pg" >/dev/null
deadline=$((SECONDS + 30))
until code=$(api POST /api/v1/jobs -F "document=@$(fax 1)" -F "sender=0322227777" \
  -o "$work/taken.json" -w '%{http_code}') && [ "$code" = 201 ]; do
  [ $SECONDS -lt $deadline ] || { log "  FAIL: uploads still refused ($code) after PostgreSQL is back"; exit 1; }
  sleep 0.2
done
fourth=$(jq -r .id "$work/taken.json")
expect_eq "jobs after the outage" "$(sql "SELECT count(*) FROM jobs")" $((acknowledged + 1))
expect_eq "refused upload not stored" "$(sql "SELECT count(*) FROM jobs WHERE sender LIKE '%322226666%'")" 0
presence alice available office
wait_state "$third" printed
wait_state "$fourth" printed
expect_eq "documents of the job held through the outage" "$(printed_count "$third")" 1
expect_eq "documents of the job taken after the outage" "$(printed_count "$fourth")" 1
ok=1
log "ok   pg_daemon"
