#!/usr/bin/env bash
# Leak check of the whole daemon: atdeskd runs under valgrind memcheck while jobs are submitted
# (printed at once, and held then released by a presence change), listed, previewed, and the
# daemon is stopped with SIGTERM. Fails on any memory error and on any definitely or indirectly
# lost block (valgrind's exit code), naming the log. The unit tests run under ASan/LSan too
# (scripts/test --asan); this covers the real process with its libraries (libcups, poppler,
# libtiff, SQLite, Beast) and its threads.
#
# usage: leakcheck.sh <repo root> <build dir> [jobs]
set -euo pipefail
root=$1
build=$2
jobs=${3:-${ATDESK_LEAK_JOBS:-12}}
. "$root/scripts/lib/common.sh"
atdeskd="$build/src/app/daemon/atdeskd"
cli="$build/src/app/cli/atdesk"
command -v valgrind >/dev/null || { log "valgrind is not installed (scripts/install-deps)"; exit 1; }
work=$(mktemp -d /tmp/atdesk-leak.XXXXXX)
chmod 700 "$work"
vg_pid="" ok=0

cleanup() {
  [ -n "$vg_pid" ] && kill -KILL "$vg_pid" 2>/dev/null || true
  "$root/scripts/test-printer" stop "$work/printer" >/dev/null 2>&1 || true
  if [ "$ok" -eq 1 ]; then rm -rf "$work"; else log "kept $work (valgrind.log, atdeskd.log)"; fi
}
trap cleanup EXIT

printer_port=$(free_port)
api_port=$(free_port)
export ATDESK_URL="http://127.0.0.1:$api_port"
export ATDESK_TOKEN_FILE="$work/state/admin.token"
"$root/scripts/test-printer" start "$work/printer" "$printer_port" atdesk-leak >/dev/null
{
  base_config "$api_port" "$work/state" front "$printer_port"
  echo "timeout_ms = 20000"
} >"$work/atdesk.toml"

valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect \
  --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --num-callers=30 \
  --log-file="$work/valgrind.log" \
  "$atdeskd" --config "$work/atdesk.toml" >"$work/atdeskd.log" 2>&1 &
vg_pid=$!
for _ in $(seq 1 600); do
  curl -fsS "$ATDESK_URL/healthz" >/dev/null 2>&1 && break
  kill -0 "$vg_pid" 2>/dev/null || { log "atdeskd under valgrind exited early"; tail "$work/valgrind.log" >&2; exit 1; }
  sleep 0.1
done

"$root/scripts/sample-fax" "$work/fax.tif" 2 >/dev/null
"$cli" recipients add prefix:0399 user:local:alice >/dev/null
"$cli" presence set alice busy remote >/dev/null
ids=()
for i in $(seq 1 "$jobs"); do
  if [ $((i % 2)) -eq 0 ]; then sender="0399$(printf %06d "$i")"; else sender="+1 415 555 $(printf %04d "$i")"; fi
  ids+=("$("$cli" --json submit "$work/fax.tif" --sender "$sender" | jq -r .id)")
done
"$cli" --json jobs >/dev/null
curl -fsS -o /dev/null -H "Authorization: Bearer $(cat "$ATDESK_TOKEN_FILE")" \
  "$ATDESK_URL/api/v1/jobs/${ids[0]}/pages/1.png"
curl -fsS -o /dev/null "$ATDESK_URL/metrics" -H "Authorization: Bearer $(cat "$ATDESK_TOKEN_FILE")"
"$cli" presence set alice available office >/dev/null

deadline=$((SECONDS + 300))
for id in "${ids[@]}"; do
  while [ "$("$cli" --json show "$id" | jq -r '.job.state // .state')" != printed ]; do
    [ $SECONDS -lt $deadline ] || { log "job $id was not printed in time"; exit 1; }
    sleep 0.3
  done
done

kill -TERM "$vg_pid"
set +e
wait "$vg_pid"
rc=$?
set -e
vg_pid=""
summary=$(grep -E "ERROR SUMMARY|definitely lost|indirectly lost" "$work/valgrind.log" || true)
log "$summary"
if [ "$rc" -ne 0 ]; then
  log "FAIL: atdeskd under valgrind exited with $rc; see $work/valgrind.log"
  grep -B2 -A25 -E "definitely lost in|indirectly lost in|Invalid|uninitialised" "$work/valgrind.log" | head -80 >&2 || true
  exit 1
fi
echo "ok   leak check: ${#ids[@]} jobs printed, no memory errors, nothing lost"
ok=1
