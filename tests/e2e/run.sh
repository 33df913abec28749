#!/usr/bin/env bash
# Browser tests of the web UI. Starts ippeveprinter (scripts/test-printer) and atdeskd with a
# generated atdesk.toml on free 127.0.0.1 ports, prepares accounts and held faxes through the
# REST API with the admin token, then runs ui.test.mjs (playwright-core + /usr/bin/chromium).
# Screenshots: $ATDESK_SCREENSHOTS (default <build>/e2e-screenshots; ATDESK_SCREENSHOTS=docs/screenshots
# refreshes the ones in the docs) and, on a failure, $ATDESK_E2E_ARTIFACTS
# (default <build>/e2e-artifacts).
#
# usage: run.sh <repo root> <build dir>
set -euo pipefail

root=$1
. "$root/scripts/lib/common.sh"
build=$2
here="$root/tests/e2e"
. "$here/lib.sh"
atdeskd="$build/src/app/daemon/atdeskd"
work=$(mktemp -d /tmp/atdesk-e2e.XXXXXX)
chmod 700 "$work"
daemon_pid=""
status=1



cleanup() {
  if [ -n "$daemon_pid" ]; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  "$root/scripts/test-printer" stop "$work/printer" >/dev/null 2>&1 || true
  if [ "$status" -ne 0 ]; then
    log "---- atdeskd log (last 40 lines) ----"
    tail -n 40 "$work/atdeskd.log" >&2 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

e2e_prerequisites "$here"

printer_port=$(free_port)
api_port=$(free_port)
"$root/scripts/test-printer" start "$work/printer" "$printer_port" atdesk-e2e >/dev/null

{
  base_config "$api_port" "$work/state" demo "$printer_port"
  printf '[web]\nsession_hours = 1\n'
} >"$work/atdesk.toml"

url="http://127.0.0.1:$api_port"
"$atdeskd" --config "$work/atdesk.toml" >>"$work/atdeskd.log" 2>&1 &
daemon_pid=$!
wait_http "$url/healthz" || { log "atdeskd did not start"; exit 1; }
grep -q "first web admin" "$work/atdeskd.log" || { log "no first admin announced"; exit 1; }
[ "$(stat -c %a "$work/state/web-admin.password")" = 600 ] || { log "password file not 0600"; exit 1; }

token=$(cat "$work/state/admin.token")
api() {  # api METHOD PATH [JSON]
  curl -fsS -X "$1" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    ${3:+--data "$3"} "$url$2"
}
fax() {  # fax SENDER PAGES -> job id
  local f="$work/fax-$RANDOM.tif"
  "$root/scripts/sample-fax" "$f" "$2" >/dev/null
  curl -fsS -H "Authorization: Bearer $token" -F "document=@$f;type=image/tiff" -F "sender=$1" \
    "$url/api/v1/jobs" | jq -r .id
}
wait_held() {
  for _ in $(seq 1 100); do
    [ "$(api GET "/api/v1/jobs/$1" | jq -r .state)" = held ] && return 0
    sleep 0.1
  done
  log "job $1 did not become held"
  return 1
}

# Alice is busy at the office (the seed table holds that), Bob is offline: their faxes are held.
api POST /api/v1/accounts \
  '{"name":"alice","password":"alice-password","role":"user","recipients":["user:local:alice"]}' >/dev/null
api POST /api/v1/accounts \
  '{"name":"bob","password":"bob-password","role":"user","recipients":["user:local:bob"]}' >/dev/null
api POST /api/v1/recipients '{"pattern":"prefix:0322","recipient":"user:local:alice"}' >/dev/null
api POST /api/v1/recipients '{"pattern":"prefix:0355","recipient":"user:local:bob"}' >/dev/null
api PUT /api/v1/presence/local/alice '{"availability":"busy","location":"office"}' >/dev/null
api PUT /api/v1/presence/local/bob '{"availability":"offline","location":"unknown"}' >/dev/null
job_release=$(fax 0322220001 2)
job_mode=$(fax 0322220002 1)
job_bob=$(fax 0355550001 1)
for id in "$job_release" "$job_mode" "$job_bob"; do wait_held "$id"; done

export ATDESK_URL="$url"
export ATDESK_ADMIN_PASSWORD
ATDESK_ADMIN_PASSWORD=$(cat "$work/state/web-admin.password")
export ATDESK_JOB_RELEASE="$job_release" ATDESK_JOB_MODE="$job_mode" ATDESK_JOB_BOB="$job_bob"
export ATDESK_PRINTER_SPOOL="$work/printer/spool"
export ATDESK_CHROMIUM="$chromium"
export ATDESK_SCREENSHOTS="${ATDESK_SCREENSHOTS:-$build/e2e-screenshots}"  # docs/screenshots to refresh the docs
export ATDESK_E2E_ARTIFACTS="${ATDESK_E2E_ARTIFACTS:-$build/e2e-artifacts}"
node "$here/ui.test.mjs"
status=0
