#!/usr/bin/env bash
# `atdesk migrate --from sqlite:STATE --to postgresql://...` on a store a running atdeskd filled:
# faxes printed and held, rules, mode tables, audit entries, settings (presence). Checked:
#   - refused while atdeskd runs (the state folder's lock), and into a database that has jobs;
#   - every table's row count and every document equal on both sides (the command checks, the
#     suite counts again with sqlite3 and psql);
#   - atdeskd started on PostgreSQL with the same key file: the held jobs are there with their
#     history and preview, print once when released; nothing printed before is printed again.
#
# usage: pg_migrate.sh <repo root> <build dir>
set -euo pipefail

root=$1
. "$root/scripts/lib/common.sh"
build=$2
atdeskd="$build/src/app/daemon/atdeskd"
cli="$build/src/app/cli/atdesk"
work=$(mktemp -d /tmp/atdesk-pgm.XXXXXX)
chmod 700 "$work"
ok=0
daemon_pid=""

cleanup() {
  stop_daemon
  "$root/scripts/test-printer" stop "$work/printer" >/dev/null 2>&1 || true
  stop_test_database "$work/pg"
  if [ "$ok" -ne 1 ]; then
    log "---- atdeskd log (last 40 lines) ----"
    tail -n 40 "$work/atdeskd.log" >&2 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

url=$(start_test_database "$work/pg")
sql() { psql "$url" -qAtc "$1"; }
lite() { sqlite3 "$work/state/atdesk.db" "$1"; }

printer_port=$(free_port)
api_port=$(free_port)
"$root/scripts/test-printer" start "$work/printer" "$printer_port" atdesk-pgm >/dev/null
printer_spool="$work/printer/spool"
base_config "$api_port" "$work/state" demo "$printer_port" >"$work/sqlite.toml"
{
  cat "$work/sqlite.toml"
  printf '[store]\nurl = "%s"\n' "$url"
} >"$work/pg.toml"
export ATDESK_URL="http://127.0.0.1:$api_port"
export ATDESK_TOKEN_FILE="$work/state/admin.token"

start_daemon() {  # start_daemon CONFIG
  "$atdeskd" --config "$1" >>"$work/atdeskd.log" 2>&1 &
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
fax() {
  local f="$work/fax-$RANDOM$RANDOM.tif"
  "$root/scripts/sample-fax" "$f" "$1" >/dev/null
  echo "$f"
}
submit() { "$cli" --json submit "$(fax "${2:-1}")" --sender "$1" | jq -r .id; }
state_of() { "$cli" --json show "$1" | jq -r '.job.state // .state'; }
wait_state() {
  local id=$1 want=$2 deadline=$((SECONDS + ${3:-30})) s=""
  while [ $SECONDS -lt $deadline ]; do
    s=$(state_of "$id" 2>/dev/null || true)
    [ "$s" = "$want" ] && return 0
    sleep 0.1
  done
  log "  FAIL: job $id is '$s', expected '$want'"
  return 1
}

log "feeder: atdeskd on SQLite, faxes printed and held"
start_daemon "$work/sqlite.toml"
"$cli" recipients add prefix:0322 user:local:alice >/dev/null
"$cli" recipients add prefix:0333 user:local:bob >/dev/null
"$cli" presence set alice available office >/dev/null
"$cli" presence set bob busy remote >/dev/null
printed=()
held=()
for i in 1 2 3; do printed+=("$(submit "032200000$i" "$i")"); done
for i in 1 2 3 4; do held+=("$(submit "033300000$i" 2)"); done
for id in "${printed[@]}"; do wait_state "$id" printed; done
for id in "${held[@]}"; do wait_state "$id" held; done

code=0
"$cli" migrate --from "sqlite:$work/state" --to "$url" >"$work/refused.txt" 2>&1 || code=$?
expect_eq "migrate while atdeskd runs (exit code)" "$code" 5
grep -q "atdeskd" "$work/refused.txt"
stop_daemon

log "migrate"
"$cli" migrate --from "sqlite:$work/state" --to "$url" | tee "$work/migrate.txt" >&2
grep -q "moved 7 job(s)" "$work/migrate.txt"
for table in jobs job_recipients job_history queued_notices recipient_rules mode_tables schedule \
  audit_log settings; do
  expect_eq "rows of $table" "$(sql "SELECT count(*) FROM $table")" "$(lite "SELECT count(*) FROM $table")"
done
expect_eq "held jobs" "$(sql "SELECT count(*) FROM jobs WHERE state = 'held'")" 4
# Every original, printable and preview file of the spool is in the database (plus the key check).
expect_eq "documents" "$(sql "SELECT count(DISTINCT (job_id, kind)) FROM documents")" \
  "$(find "$work/state/spool" -type f ! -name '*.tmp' | wc -l)"
code=0
"$cli" migrate --from "sqlite:$work/state" --to "$url" >"$work/again.txt" 2>&1 || code=$?
expect_eq "a second migrate into the same database (exit code)" "$code" 5
grep -q "holds 7 job(s) already" "$work/again.txt"

log "atdeskd on PostgreSQL"
mv "$work/state/atdesk.db" "$work/state/atdesk.db.migrated"  # nothing reads SQLite any more
start_daemon "$work/pg.toml"
for id in "${held[@]}"; do expect_eq "state of $id" "$(state_of "$id")" held; done
"$cli" --json show "${held[0]}" | jq -e '.history | length >= 2' >/dev/null
curl -fsS -H "Authorization: Bearer $(cat "$ATDESK_TOKEN_FILE")" \
  "$ATDESK_URL/api/v1/jobs/${held[0]}/preview.png" -o "$work/preview.png"
head -c 8 "$work/preview.png" | od -An -c | grep -q "P   N   G"
"$cli" presence set bob available office >/dev/null
for id in "${held[@]}"; do wait_state "$id" printed; done
sleep 1
for id in "${held[@]}"; do expect_eq "documents of $id" "$(printed_count "$id")" 1; done
for id in "${printed[@]}"; do expect_eq "documents of $id (printed before)" "$(printed_count "$id")" 1; done
expect_eq "recipient rules" "$("$cli" --json recipients list | jq '.rules | length')" 2
ok=1
log "ok   pg_migrate"
