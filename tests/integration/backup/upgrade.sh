#!/usr/bin/env bash
# Upgrade from every schema fixture in tests/data/upgrade (made by scripts/make-upgrade-fixture
# with the atdesk of that schema): the current atdeskd starts on a copy, runs its migrations, and
# shows every job (all fields), every job's history, every document (original, printable PDF,
# preview; by SHA-256), the recipient rules, mode tables, schedule and audit log as they were.
# A store newer than the binary is refused at start, naming the file and both versions.
#
# usage: upgrade.sh <repo root> <build dir>
set -euo pipefail

root=$1
. "$root/scripts/lib/common.sh"
build=$2
atdeskd="$build/src/app/daemon/atdeskd"
work=$(mktemp -d /tmp/atdesk-upgrade-it.XXXXXX)
chmod 700 "$work"
daemon_pid=""
cleanup() {
  local rc=$?
  if [ -n "$daemon_pid" ]; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  [ "$rc" -eq 0 ] || tail -n 40 "$work/atdeskd.log" >&2 || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { log "FAIL: $*"; exit 1; }

fixtures=("$root"/tests/data/upgrade/v*)
[ -d "${fixtures[0]}" ] || fail "no fixture under tests/data/upgrade"
for fixture in "${fixtures[@]}"; do
  name=$(basename "$fixture")
  expected="$fixture/expected.json"
  state="$work/$name"
  mkdir -p "$state"
  chmod 700 "$state"
  cp "$fixture/atdesk.db" "$state/atdesk.db"
  cp -r "$fixture/spool" "$state/spool"
  cp "$fixture/spool.key" "$state/spool.key"
  chmod 600 "$state/spool.key"
  # No printer answers: nothing is printed again, held jobs stay held.
  api_port=$(free_port)
  base_config "$api_port" "$state" demo "$(free_port)" >"$work/$name.toml"
  "$atdeskd" --config "$work/$name.toml" >>"$work/atdeskd.log" 2>&1 &
  daemon_pid=$!
  url="http://127.0.0.1:$api_port"
  deadline=$((SECONDS + 60))
  until curl -fsS "$url/healthz" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || fail "$name: atdeskd did not start"
    kill -0 "$daemon_pid" 2>/dev/null || fail "$name: atdeskd exited at start"
    sleep 0.05
  done
  api() { curl -fsS -H "Authorization: Bearer $(cat "$state/admin.token")" "$url$1" "${@:2}"; }

  version=$(sqlite3 -readonly "$state/atdesk.db" "SELECT MAX(version) FROM schema_migrations")
  log "$name: made at schema $(jq .schema_version "$expected"), now schema $version"
  [ "$version" -ge "$(jq .schema_version "$expected")" ] || fail "$name: schema went down"

  # Every job with every field the API showed when the fixture was made (a newer atdesk may show
  # more fields; those it showed must be unchanged).
  only_fixture_keys() { jq -S --argjson k "$1" 'map(with_entries(select(.key as $x | $k | index($x))))'; }
  job_keys=$(jq '[.jobs[] | keys[]] | unique' "$expected")
  diff <(api "/api/v1/jobs?limit=1000" | jq '[.jobs[]] | sort_by(.id)' | only_fixture_keys "$job_keys") \
    <(jq -S '.jobs' "$expected") || fail "$name: jobs differ"
  history_keys=$(jq '[.history[][] | keys[]] | unique' "$expected")
  for id in $(jq -r '.jobs[].id' "$expected"); do
    diff <(api "/api/v1/jobs/$id/history" | jq '.history' | only_fixture_keys "$history_keys") \
      <(jq -S --arg id "$id" '.history[$id]' "$expected") || fail "$name: job $id: history differs"
    for kind in original printable preview; do
      want=$(jq -r --arg id "$id" --arg k "$kind" '.documents[$id][$k] // empty' "$expected")
      case $kind in
        original) path="/api/v1/jobs/$id/document" ;;
        printable) path="/api/v1/jobs/$id/document?kind=printable" ;;
        preview) path="/api/v1/jobs/$id/preview.png" ;;
      esac
      if [ -z "$want" ]; then
        ! api "$path" -o /dev/null 2>/dev/null || fail "$name: job $id: a $kind appeared"
        continue
      fi
      got=$(api "$path" | sha256sum | cut -d' ' -f1)
      [ "$got" = "$want" ] || fail "$name: job $id: $kind sha256 $got, expected $want"
    done
  done
  # The tables, row by row.
  for table in recipient_rules mode_tables schedule audit_log; do
    order=id
    [ $table != mode_tables ] || order=name
    diff <(sqlite3 -json -readonly "$state/atdesk.db" "SELECT * FROM $table ORDER BY $order" |
             jq -S --slurpfile e "$expected" --arg t "$table" \
               'if $t == "audit_log" then .[0:($e[0].audit_log | length)] else . end') \
      <(jq -S --arg t "$table" '.[$t]' "$expected") || fail "$name: $table differs"
  done
  kill -TERM "$daemon_pid"
  wait "$daemon_pid" || true
  daemon_pid=""

  # The same store one version ahead of this build: refused before any migration runs.
  highest=$version
  sqlite3 "$state/atdesk.db" "INSERT INTO schema_migrations (version, applied_at) VALUES ($((highest + 1)), 0)"
  rc=0
  "$atdeskd" --config "$work/$name.toml" >"$work/newer.log" 2>&1 || rc=$?
  [ "$rc" -eq 2 ] || fail "$name: atdeskd on a newer store exited $rc, expected 2"
  grep -q "$state/atdesk.db: the database has schema version $((highest + 1)), newer than the highest this atdesk knows ($highest)" \
    "$work/newer.log" || fail "$name: unclear refusal: $(cat "$work/newer.log")"
  log "PASS: upgrade from $name"
done
