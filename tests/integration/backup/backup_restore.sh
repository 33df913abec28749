#!/usr/bin/env bash
# `atdesk backup` of a busy node and `atdesk restore` into a fresh one, on real processes:
# atdeskd (SQLite store, encrypted spool, local chat service) printing on a real ippeveprinter,
# faxes arriving and jobs being deleted while the backup runs. Checks:
#   - restore refuses the state folder of the running atdeskd (exit 5, the lock's holder named);
#   - the restored store is one consistent moment of the original: for the append-only tables
#     (job history, audit log) the restored rows are exactly the original's rows up to the last
#     restored id; every job acknowledged before the backup began is there; every job's state is
#     the last state of its history; recipient rules, mode tables and schedule are equal;
#   - atdeskd starts on the restored folder, and every job's original document it serves has the
#     SHA-256 of the file that was submitted for it.
#
# usage: backup_restore.sh <repo root> <build dir>
set -euo pipefail

root=$1
. "$root/scripts/lib/common.sh"
build=$2
atdeskd="$build/src/app/daemon/atdeskd"
cli="$build/src/app/cli/atdesk"
work=$(mktemp -d /tmp/atdesk-backup-it.XXXXXX)
chmod 700 "$work"
pids=()

cleanup() {
  local rc=$?
  touch "$work/stop-feeding"
  for p in "${pids[@]}"; do
    kill -TERM "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  "$root/scripts/test-printer" stop "$work/printer" >/dev/null 2>&1 || true
  if [ "$rc" -ne 0 ]; then
    log "---- atdeskd logs (last 40 lines each) ----"
    tail -n 40 "$work"/atdeskd-*.log >&2 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() { log "FAIL: $*"; exit 1; }

printer_port=$(free_port)
"$root/scripts/test-printer" start "$work/printer" "$printer_port" atdesk-backup >/dev/null

start_daemon() {  # start_daemon NAME STATE_DIR -> sets url_NAME; the pid goes to pids
  local name=$1 state=$2 port
  port=$(free_port)
  base_config "$port" "$state" demo "$printer_port" >"$work/$name.toml"
  "$atdeskd" --config "$work/$name.toml" >>"$work/atdeskd-$name.log" 2>&1 &
  pids+=($!)
  echo "$!" >"$work/$name.pid"
  local deadline=$((SECONDS + 60))
  until curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || fail "atdeskd $name did not start"
    kill -0 "$(cat "$work/$name.pid")" 2>/dev/null || fail "atdeskd $name exited at start"
    sleep 0.05
  done
  echo "http://127.0.0.1:$port" >"$work/$name.url"
}

stop_daemon() {  # stop_daemon NAME
  local pid
  pid=$(cat "$work/$1.pid")
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
}

on() {  # on NAME atdesk-args...: the CLI against node NAME
  local name=$1
  shift
  ATDESK_URL=$(cat "$work/$name.url") ATDESK_TOKEN_FILE="$work/$name/admin.token" "$cli" "$@"
}

api() {  # api NAME PATH [curl args...]
  local name=$1 path=$2
  shift 2
  curl -fsS -H "Authorization: Bearer $(cat "$work/$name/admin.token")" "$@" \
    "$(cat "$work/$name.url")$path"
}

# Three documents of different lengths, reused by every job (each job's digest is checked).
for pages in 1 2 3; do
  "$root/scripts/sample-fax" "$work/fax-$pages.tif" "$pages" >/dev/null
  sha256sum "$work/fax-$pages.tif" | cut -d' ' -f1 >"$work/fax-$pages.sha256"
done

start_daemon original "$work/original"
on original recipients add prefix:0311 user:local:alice >/dev/null
on original recipients add prefix:0322 user:local:bob >/dev/null
on original presence set alice available office >/dev/null
on original presence set bob busy remote >/dev/null

# submit SENDER PAGES: one fax; appends "<job id> <pages>" to submitted.txt once acknowledged.
submit() {
  local out
  out=$(on original --json submit "$work/fax-$2.tif" --sender "$1") || return 1
  printf '%s %s\n' "$(jq -r .id <<<"$out")" "$2" >>"$work/submitted.txt"
}
: >"$work/submitted.txt"
for i in $(seq 1 12); do
  case $((i % 3)) in
    0) submit "0311110$((100 + i))" 1 ;;   # alice: printed
    1) submit "0322220$((100 + i))" 2 ;;   # bob: held
    2) submit "+1 212 555 0$((100 + i))" 3 ;;  # no rule: printed
  esac
done

# The feeder: faxes keep arriving, and some held jobs are deleted, during the backup.
feeder() {
  local n=0
  while [ ! -e "$work/stop-feeding" ]; do
    n=$((n + 1))
    submit "0322221$((1000 + n))" $((1 + n % 3)) || true
    if [ $((n % 3)) -eq 0 ]; then
      local victim
      victim=$(on original --json jobs --state held 2>/dev/null | jq -r '.jobs[-1].id // empty')
      [ -n "$victim" ] && on original delete "$victim" >/dev/null 2>&1 || true
    fi
  done
}
feeder &
feeder_pid=$!
pids+=("$feeder_pid")
# Let faxes flow, then back up while they keep flowing.
deadline=$((SECONDS + 60))
until [ "$(wc -l <"$work/submitted.txt")" -ge 20 ]; do
  [ $SECONDS -lt $deadline ] || fail "the feeder did not submit faxes"
  sleep 0.1
done
cp "$work/submitted.txt" "$work/acknowledged-before-backup.txt"
# The passphrase is never an argument: without a terminal and without --passphrase-file, a backup
# with the key is refused (setsid: no controlling terminal) and leaves no file.
rc=0
setsid --wait "$cli" backup "$work/no.backup" --state-dir "$work/original" --with-key </dev/null \
  >/dev/null 2>"$work/no-tty.err" || rc=$?
[ "$rc" -eq 7 ] || fail "backup --with-key without a terminal: exit $rc, expected 7"
grep -q -- "--passphrase-file" "$work/no-tty.err" || fail "unclear: $(cat "$work/no-tty.err")"
[ ! -e "$work/no.backup" ] || fail "a refused backup left a file"
printf 'a passphrase for the test\n' >"$work/passphrase"
chmod 600 "$work/passphrase"
started=$SECONDS
"$cli" backup "$work/node.backup" --state-dir "$work/original" --with-key \
  --passphrase-file "$work/passphrase" >"$work/backup.out"
log "backup: $(cat "$work/backup.out") in $((SECONDS - started)) s"
# More faxes after the backup, so the original has rows the backup must not have.
after=$(($(wc -l <"$work/submitted.txt") + 3))
deadline=$((SECONDS + 60))
until [ "$(wc -l <"$work/submitted.txt")" -ge "$after" ]; do
  [ $SECONDS -lt $deadline ] || fail "the feeder stopped"
  sleep 0.1
done
touch "$work/stop-feeding"
wait "$feeder_pid" || true
[ -f "$work/node.backup" ] || fail "no archive"
[ "$(stat -c %a "$work/node.backup")" = 600 ] || fail "the archive is not mode 0600"
tar tf "$work/node.backup" >"$work/entries.txt"  # a plain tar, readable by tar(1)
head -n 1 "$work/entries.txt" | grep -qx atdesk-backup.json || fail "first entry"
tail -n 1 "$work/entries.txt" | grep -qx manifest.json || fail "last entry"
grep -qx spool.key.sealed "$work/entries.txt" || fail "no sealed key"

# Restore refuses the folder the running atdeskd holds.
rc=0
"$cli" restore "$work/node.backup" --state-dir "$work/original" --force \
  --passphrase-file "$work/passphrase" >/dev/null 2>"$work/refused.err" || rc=$?
[ "$rc" -eq 5 ] || fail "restore on a running node: exit $rc, expected 5"
grep -q "atdeskd" "$work/refused.err" || fail "refusal does not name atdeskd: $(cat "$work/refused.err")"
grep -q "$(cat "$work/original.pid")" "$work/refused.err" || fail "refusal does not name the pid"

# A second atdeskd on the same state folder is refused at start, naming the lock and the holder.
rc=0
"$atdeskd" --config "$work/original.toml" >"$work/second.log" 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "a second atdeskd on the folder: exit $rc, expected 2"
grep -q "atdeskd.lock.*$(cat "$work/original.pid") atdeskd" "$work/second.log" ||
  fail "unclear refusal of a second atdeskd: $(cat "$work/second.log")"

# What the original looks like through its API (its tables do not change after the feeder).
api original /api/v1/recipients | jq -S . >"$work/recipients.original"
api original /api/v1/modes | jq -S . >"$work/modes.original"
api original /api/v1/schedule | jq -S . >"$work/schedule.original"
stop_daemon original

"$cli" restore "$work/node.backup" --state-dir "$work/restored" \
  --passphrase-file "$work/passphrase" >"$work/restore.out"
log "restore: $(head -n 1 "$work/restore.out")"
cmp -s "$work/original/spool.key" "$work/restored/spool.key" || fail "the spool key differs"

q() { sqlite3 -readonly "$1" "$2"; }
o="$work/original/atdesk.db"
r="$work/restored/atdesk.db"
# Append-only tables: the restored rows are the original's rows up to the last restored id.
for table in job_history audit_log; do
  last=$(q "$r" "SELECT COALESCE(MAX(id), 0) FROM $table")
  [ "$last" -gt 0 ] || fail "$table is empty in the restore"
  diff <(q "$r" "SELECT * FROM $table ORDER BY id") \
    <(q "$o" "SELECT * FROM $table WHERE id <= $last ORDER BY id") >/dev/null ||
    fail "$table: the restored rows are not the original's first $last rows"
done
# Jobs: each restored job's state is where its history ends, and every job acknowledged before
# the backup began is there.
bad=$(q "$r" "SELECT j.id FROM jobs j WHERE j.state != (SELECT h.to_state FROM job_history h
              WHERE h.job_id = j.id ORDER BY h.id DESC LIMIT 1)")
[ -z "$bad" ] || fail "jobs whose state is not their history's last: $bad"
while read -r id pages; do
  [ -n "$(q "$r" "SELECT 1 FROM jobs WHERE id = '$id'")" ] || fail "job $id acknowledged before the backup is missing"
done <"$work/acknowledged-before-backup.txt"
restored_jobs=$(q "$r" "SELECT COUNT(*) FROM jobs")
original_jobs=$(q "$o" "SELECT COUNT(*) FROM jobs")
log "jobs: $restored_jobs restored, $original_jobs in the original at its stop"
[ "$restored_jobs" -lt "$original_jobs" ] || fail "the faxes after the backup are in it"
# The tables nobody changed during the backup are equal; each restored job has its recipients.
both() { sqlite3 -readonly "$r" "ATTACH '$o' AS o; $1"; }
for table in recipient_rules mode_tables schedule settings; do
  [ -z "$(both "SELECT * FROM main.$table EXCEPT SELECT * FROM o.$table")" ] &&
    [ -z "$(both "SELECT * FROM o.$table EXCEPT SELECT * FROM main.$table")" ] ||
    fail "$table differs"
done
# (A job the feeder deleted after the backup has lost its recipients in the original; only jobs
# still alive there are compared that way. A job still `stored` in the backup had not been
# decided yet, so it has no recipients there, while the original decided it afterwards: the
# restored node decides it again at start. Only jobs decided in the backup are compared that
# way.)
[ -z "$(both "SELECT * FROM main.job_recipients WHERE job_id IN
                (SELECT id FROM o.jobs WHERE state NOT IN ('deleted', 'expired'))
              EXCEPT SELECT * FROM o.job_recipients")" ] &&
  [ -z "$(both "SELECT * FROM o.job_recipients WHERE job_id IN
                  (SELECT id FROM main.jobs WHERE state != 'stored')
                EXCEPT SELECT * FROM main.job_recipients")" ] || fail "job_recipients differ"

# atdeskd on the restored folder: it serves every job's original with the submitted digest.
start_daemon restored "$work/restored"
api restored /api/v1/recipients | jq -S . | diff - "$work/recipients.original" >/dev/null ||
  fail "recipients differ"
api restored /api/v1/modes | jq -S 'del(.active)' | diff - <(jq -S 'del(.active)' "$work/modes.original") >/dev/null ||
  fail "mode tables differ"
api restored /api/v1/schedule | jq -S . | diff - "$work/schedule.original" >/dev/null ||
  fail "schedule differs"
checked=0
while IFS='|' read -r id state; do
  case $state in deleted | expired) continue ;; esac
  pages=$(awk -v id="$id" '$1 == id {print $2}' "$work/submitted.txt")
  [ -n "$pages" ] || fail "job $id was never submitted"
  got=$(api restored "/api/v1/jobs/$id/document" | sha256sum | cut -d' ' -f1)
  [ "$got" = "$(cat "$work/fax-$pages.sha256")" ] || fail "job $id: document sha256 $got, expected $(cat "$work/fax-$pages.sha256")"
  checked=$((checked + 1))
done < <(q "$r" "SELECT id, state FROM jobs")
[ "$checked" -ge 10 ] || fail "only $checked documents checked"
api restored "/api/v1/audit?limit=1" >/dev/null
stop_daemon restored
log "PASS: backup_restore ($checked documents checked)"
