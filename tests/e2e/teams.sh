#!/usr/bin/env bash
# The Teams service account's browser sign-in (authorization code with PKCE) in headless Chromium.
# Starts the identity platform and Graph stand-in (graph_standin) and atdeskd with a [chat.teams]
# service pointed at it, both on free 127.0.0.1 ports; holds a fax for alice (Busy in the stand-in)
# before the service account is signed in, so its notice waits; then runs teams.test.mjs.
# On a failure: screenshots in $ATDESK_E2E_ARTIFACTS (default <build>/e2e-artifacts), the end of
# atdeskd's log and what the stand-in received.
#
# usage: teams.sh <repo root> <build dir> <graph_standin>
set -euo pipefail

root=$1
. "$root/scripts/lib/common.sh"
build=$2
standin=$3
here="$root/tests/e2e"
. "$here/lib.sh"
atdeskd="$build/src/app/daemon/atdeskd"
work=$(mktemp -d /tmp/atdesk-e2e-teams.XXXXXX)
chmod 700 "$work"
daemon_pid=""
standin_pid=""
status=1

cleanup() {
  if [ -n "$daemon_pid" ]; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ]; then
    log "---- atdeskd log (last 40 lines) ----"
    tail -n 40 "$work/atdeskd.log" >&2 || true
    if [ -s "$work/standin.url" ]; then
      log "---- what the stand-in received ----"
      curl -fsS "$(cat "$work/standin.url")/_standin/received" |
        jq -r '.[] | "\(.method) \(.target | .[0:150]) -> \(.status)"' >&2 || true
    fi
  fi
  if [ -n "$standin_pid" ]; then
    kill -TERM "$standin_pid" 2>/dev/null || true
    wait "$standin_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

e2e_prerequisites "$here"
command -v sqlite3 >/dev/null || { log "e2e: sqlite3 is missing (scripts/install-deps)"; exit 1; }

api_port=$(free_port)
url="http://127.0.0.1:$api_port"
"$standin" "$url" "$work/standin.url" >>"$work/standin.log" 2>&1 &
standin_pid=$!
for _ in $(seq 1 200); do
  [ -s "$work/standin.url" ] && break
  sleep 0.05
done
[ -s "$work/standin.url" ] || { log "the stand-in did not start"; cat "$work/standin.log" >&2; exit 1; }
graph=$(cat "$work/standin.url")
# "presence resource type": alice is in a call at the office, which the seeded mode table holds.
curl -fsS -X POST --data '{"id":"alice-id","availability":"Busy","activity":"InACall","location":"office"}' \
  "$graph/_standin/presence"

install -m 600 /dev/null "$work/teams.secret"
echo secret-1 >"$work/teams.secret"
# No printer is needed: nothing is printed here (the job stays held). The port is one nothing
# listens on.
{
  base_config "$api_port" "$work/state" demo "$(free_port)"
  printf '[web]\nsession_hours = 1\n'
  # Waiting notices are sent again every second (the housekeeping round).
  printf '[retention]\ncheck_interval_s = 1\n'
  cat <<TOML
[chat.teams]
type = "teams"
tenant = "tenant-1"
client_id = "client-1"
client_secret_file = "$work/teams.secret"
graph_url = "$graph/v1.0"
login_url = "$graph"
public_url = "$url"
poll_seconds = 5
timeout_ms = 3000
TOML
} >"$work/atdesk.toml"

"$atdeskd" --config "$work/atdesk.toml" >>"$work/atdeskd.log" 2>&1 &
daemon_pid=$!
wait_http "$url/healthz" || { log "atdeskd did not start"; exit 1; }
token=$(cat "$work/state/admin.token")
api() {  # api METHOD PATH [JSON]
  curl -fsS -X "$1" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    ${3:+--data "$3"} "$url$2"
}

api POST /api/v1/recipients '{"pattern":"prefix:0322","recipient":"user:teams:alice@contoso.com"}' >/dev/null
fax="$work/fax.tif"
"$root/scripts/sample-fax" "$fax" 1 >/dev/null
job=$(curl -fsS -H "Authorization: Bearer $token" -F "document=@$fax;type=image/tiff" \
  -F "sender=0322220001" "$url/api/v1/jobs" | jq -r .id)
for _ in $(seq 1 100); do
  [ "$(api GET "/api/v1/jobs/$job" | jq -r .state)" = held ] && break
  sleep 0.1
done
[ "$(api GET "/api/v1/jobs/$job" | jq -r .state)" = held ] || { log "job $job was not held"; exit 1; }

export ATDESK_URL="$url" ATDESK_GRAPH="$graph" ATDESK_JOB="$job" ATDESK_STATE_DIR="$work/state"
export ATDESK_ADMIN_PASSWORD
ATDESK_ADMIN_PASSWORD=$(cat "$work/state/web-admin.password")
export ATDESK_CHROMIUM="$chromium"
export ATDESK_E2E_ARTIFACTS="${ATDESK_E2E_ARTIFACTS:-$build/e2e-artifacts}"
node "$here/teams.test.mjs"
status=0
