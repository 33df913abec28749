#!/usr/bin/env bash
# The seed's scenarios end to end on real parts: atdeskd as a process on SQLite with the local
# chat service, a real IPP Everywhere printer (ippeveprinter), driven through the REST API and
# the atdesk CLI. Outcomes are checked at the printer: the documents it received and their pages.
#
# usage: scenarios.sh <repo root> <build dir> [scenario ...]
set -euo pipefail

root=$1
. "$root/scripts/lib/common.sh"
build=$2
shift 2
atdeskd="$build/src/app/daemon/atdeskd"
cli="$build/src/app/cli/atdesk"
work=$(mktemp -d /tmp/atdesk-it.XXXXXX)
chmod 700 "$work"
failures=0
daemon_pid=""



cleanup() {
  stop_daemon
  "$root/scripts/test-printer" stop "$work/printer" >/dev/null 2>&1 || true
  if [ "$failures" -ne 0 ]; then
    log "---- atdeskd log (last 60 lines) ----"
    tail -n 60 "$work/atdeskd.log" >&2 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

printer_port=$(free_port)
api_port=$(free_port)
"$root/scripts/test-printer" start "$work/printer" "$printer_port" atdesk-it >/dev/null
printer_spool="$work/printer/spool"

{
  base_config "$api_port" "$work/state" demo "$printer_port"
  printf '[inbox]\ndir = "%s"\npoll_ms = 200\n' "$work/inbox"
} >"$work/atdesk.toml"

export ATDESK_URL="http://127.0.0.1:$api_port"
export ATDESK_TOKEN_FILE="$work/state/admin.token"

start_daemon() {
  "$atdeskd" --config "$work/atdesk.toml" >>"$work/atdeskd.log" 2>&1 &
  daemon_pid=$!
  echo "$daemon_pid" >"$work/daemon.pid"  # scenarios run in subshells: the file is the truth
  wait_healthy "$ATDESK_URL" "$daemon_pid" atdeskd
}

stop_daemon() {
  daemon_pid=$(cat "$work/daemon.pid" 2>/dev/null || true)
  rm -f "$work/daemon.pid"
  if [ -n "$daemon_pid" ]; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
    while kill -0 "$daemon_pid" 2>/dev/null; do sleep 0.05; done
    daemon_pid=""
  fi
}

kill_daemon() {
  daemon_pid=$(cat "$work/daemon.pid" 2>/dev/null || true)
  rm -f "$work/daemon.pid"
  kill -KILL "$daemon_pid" 2>/dev/null || true
  wait "$daemon_pid" 2>/dev/null || true
  while kill -0 "$daemon_pid" 2>/dev/null; do sleep 0.05; done
  daemon_pid=""
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

submit() {  # submit SENDER [PAGES] -> job id
  local out
  out=$("$cli" --json submit "$(fax "${2:-1}")" --sender "$1")
  jq -r .id <<<"$out"
}

state_of() { "$cli" --json show "$1" | jq -r '.job.state // .state'; }

wait_state() {  # wait_state ID STATE [seconds]
  local id=$1 want=$2 deadline=$((SECONDS + ${3:-30})) s=""
  while [ $SECONDS -lt $deadline ]; do
    s=$(state_of "$id" 2>/dev/null || true)
    [ "$s" = "$want" ] && return 0
    sleep 0.1
  done
  log "job $id is '$s', expected '$want'"
  return 1
}


messages_to() { "$cli" --json messages --to "$1" | jq -r '.messages[].text'; }

presence() { "$cli" presence set "$@" >/dev/null; }

# ------------------------------------------------------------------------------------------
scenario_unknown_sender_prints() {
  local id
  id=$(submit "+1 212 555 0100" 2)
  wait_state "$id" printed
  expect_eq "documents at the printer" "$(printed_count "$id")" 1
  expect_eq "pages printed" "$(printed_pages "$id")" 2
}

scenario_available_at_office_prints() {
  "$cli" recipients add 0311110000 user:local:kate >/dev/null
  presence kate available office
  local id
  id=$(submit "+81 3-1111-0000" 3)
  wait_state "$id" printed
  expect_eq "documents at the printer" "$(printed_count "$id")" 1
  expect_eq "pages printed" "$(printed_pages "$id")" 3
  sleep 0.2
  messages_to user:local:kate | grep -q "^Printed:"
}

scenario_busy_holds_then_presence_prints() {
  "$cli" recipients add prefix:0322 user:local:alice >/dev/null
  presence alice busy remote
  local id
  id=$(submit "0322223333" 2)
  wait_state "$id" held
  expect_eq "documents at the printer while held" "$(printed_count "$id")" 0
  messages_to user:local:alice | grep -q "is held"
  "$cli" --json show "$id" | jq -e '(.job.reason // .reason) | contains("busy")' >/dev/null
  # The page-1 preview exists and is a PNG.
  api GET "/api/v1/jobs/$id/preview.png" -o "$work/preview.png"
  head -c 8 "$work/preview.png" | od -An -c | grep -q "P   N   G"
  presence alice available office
  wait_state "$id" printed
  expect_eq "documents at the printer" "$(printed_count "$id")" 1
  sleep 0.2
  messages_to user:local:alice | grep -q "^Printed:"
}

scenario_released_by_hand_prints_once() {
  "$cli" recipients add 0333334444 user:local:bob >/dev/null
  presence bob do_not_disturb office
  local id
  id=$(submit "0333334444")
  wait_state "$id" held
  "$cli" release "$id" >/dev/null
  wait_state "$id" printed
  presence bob available office
  sleep 1
  expect_eq "documents at the printer" "$(printed_count "$id")" 1
  # A second release is refused with exit code 5 (conflict).
  local rc=0
  "$cli" release "$id" >/dev/null 2>&1 || rc=$?
  expect_eq "exit code of a second release" "$rc" 5
}

scenario_channel_prints_when_any_member_available() {
  "$cli" channel members front-desk carol dave >/dev/null
  "$cli" recipients add 0344445555 channel:local:front-desk >/dev/null
  presence carol busy office
  presence dave offline
  local id
  id=$(submit "0344445555")
  wait_state "$id" held
  messages_to channel:local:front-desk | grep -q "is held"
  presence dave available office
  wait_state "$id" printed
  expect_eq "documents at the printer" "$(printed_count "$id")" 1
}

scenario_chat_commands() {
  "$cli" recipients add 0355556666 user:local:erin >/dev/null
  presence erin busy remote
  local id
  id=$(submit "0355556666")
  wait_state "$id" held
  "$cli" command --from mallory "print ${id:0:8}" >/dev/null
  sleep 0.5
  expect_eq "state after a stranger's print" "$(state_of "$id")" held
  "$cli" --json audit | jq -e '[.entries[] | select(.action == "command.refused")] | length > 0' >/dev/null
  "$cli" command --from erin "print" >/dev/null
  wait_state "$id" printed
  expect_eq "documents at the printer" "$(printed_count "$id")" 1
}

scenario_inbox_folder() {
  mkdir -p "$work/inbox"
  cp "$(fax 2)" "$work/inbox/incoming-1.tif"
  echo '{"sender": "+1 415 555 0199", "called": "+81 3-5555-0000"}' >"$work/inbox/incoming-1.json"
  printf 'not a fax' >"$work/inbox/broken.tif"
  echo '{"sender": "+1 415 555 0198"}' >"$work/inbox/broken.json"
  local deadline=$((SECONDS + 20))
  until [ -f "$work/inbox/processed/incoming-1.json" ] && [ -f "$work/inbox/rejected/broken.reason.txt" ]; do
    [ $SECONDS -lt $deadline ] || { log "inbox did not process the files"; return 1; }
    sleep 0.1
  done
  grep -q "broken.tif" "$work/inbox/rejected/broken.reason.txt"
  [ -f "$work/inbox/rejected/broken.tif" ]
  local id
  id=$("$cli" --json jobs --sender 4155550199 | jq -r '.jobs[0].id')
  wait_state "$id" printed
}

scenario_hylafax_hook() {
  # HylaFAX runs bin/faxrcvd from its spool root: qfile devid commid error-msg callid-1 callid-2.
  local spool="$work/hylafax"
  mkdir -p "$spool/recvq"
  cp "$(fax 3)" "$spool/recvq/fax00042.tif"
  (cd "$spool" && ATDESK_INBOX="$work/inbox" ATDESK_CALLED="+81 3-5555-0001" \
    "$root/scripts/hylafax-faxrcvd" recvq/fax00042.tif ttyS0 000000123 "" "+1 917 555 0142" "ACME") >/dev/null
  [ -f "$spool/recvq/fax00042.tif" ]  # HylaFAX's copy is left alone
  local id="" deadline=$((SECONDS + 20))
  while [ -z "$id" ] || [ "$id" = null ]; do
    [ $SECONDS -lt $deadline ] || { log "the HylaFAX fax did not arrive"; return 1; }
    sleep 0.1
    id=$("$cli" --json jobs --sender 9175550142 | jq -r '.jobs[0].id')
  done
  "$cli" --json show "$id" | jq -e '(.job // .).sender.called == "+81355550001"' >/dev/null
  wait_state "$id" printed
  expect_eq "pages printed" "$(printed_pages "$id")" 3
}

# Every route the running atdeskd registered (GET /api/v1/routes) refuses a request without
# credentials, with 401 or a redirect to the sign-in page, unless it is one of the public ones.
scenario_routes_closed_by_default() {
  local routes method pattern target code open
  routes=$(api GET /api/v1/routes)
  expect_eq "public routes" \
    "$(jq -r '[.[] | select(.public) | .method + " " + .pattern] | sort | join(",")' <<<"$routes")" \
    "GET /api/v1/ui-messages,GET /favicon.ico,GET /healthz,GET /signin,GET /static/{file},POST /api/v1/session"
  while read -r method pattern; do
    target=$(sed -E 's/\{[^}]+\}/x/g' <<<"$pattern")
    code=$(curl -s -o /dev/null -w '%{http_code}' -X "$method" -H 'Content-Type: application/json' \
      --data '{}' "$ATDESK_URL$target")
    case "$code" in
      401 | 303) ;;
      *) expect_eq "$method $pattern without credentials" "$code" "401 or 303" ;;
    esac
  done < <(jq -r '.[] | select(.public | not) | .method + " " + .pattern' <<<"$routes")
  open=$(jq '[.[] | select(.public | not)] | length' <<<"$routes")
  [ "$open" -gt 40 ] || expect_eq "closed routes listed" "$open" "more than 40"
}

scenario_bad_input_and_auth() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' "$ATDESK_URL/api/v1/jobs")
  expect_eq "status without a token" "$code" 401
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer nope" "$ATDESK_URL/api/v1/jobs")
  expect_eq "status with a wrong token" "$code" 401
  printf 'II*\0 this is not a tiff' >"$work/bad.tif"
  code=$(api POST /api/v1/jobs -o "$work/bad.json" -w '%{http_code}' \
    -F "document=@$work/bad.tif" -F "sender=0312345678")
  expect_eq "status for a malformed TIFF" "$code" 400
  jq -e '.error.message | contains("bad.tif")' "$work/bad.json" >/dev/null
  code=$(api POST /api/v1/jobs -o /dev/null -w '%{http_code}' \
    -F "document=@$(fax 1)" -F "sender=not a number!")
  expect_eq "status for a bad sender" "$code" 400
}

scenario_printer_down_then_back() {
  "$root/scripts/test-printer" stop "$work/printer" >/dev/null
  local id
  id=$(submit "+1 646 555 0123")
  wait_state "$id" held
  "$cli" --json show "$id" | jq -e '(.job.reason // .reason) | contains("will retry")' >/dev/null
  "$root/scripts/test-printer" start "$work/printer" "$printer_port" atdesk-it >/dev/null
  wait_state "$id" printed 60
  expect_eq "documents at the printer" "$(printed_count "$id")" 1
}

scenario_sigkill_mid_print_prints_once() {
  local ids=() id
  for i in 1 2 3 4 5; do
    ids+=("$(submit "+1 303 555 01$i$i" 1)")
    # Kill at a different instant each time: right after the receipt, or a little later.
    sleep "0.0$((i * 2))"
    kill_daemon
    start_daemon
  done
  for id in "${ids[@]}"; do
    wait_state "$id" printed 60
    expect_eq "documents at the printer for $id" "$(printed_count "$id")" 1
  done
}

scenario_numbers_as_typed_in_japan() {
  # A rule typed with full-width digits and dash (as Japanese input methods give them) and a fax
  # from the same number written as a tel: URI are one number; the CLI's route check answers for
  # the full-width form instead of refusing it.
  "$cli" recipients add "０３－５５５５－６６６６" user:local:hana >/dev/null
  "$cli" --json route --sender "０３－５５５５－６６６６" | jq -e '.recipients | index("user:local:hana")' >/dev/null
  presence hana busy remote
  local id
  id=$(submit "tel:+81-3-5555-6666" 1)
  wait_state "$id" held
  "$cli" --json show "$id" | jq -e '(.job.recipients // .recipients) | tostring | contains("user:local:hana")' >/dev/null
  # What is still not a number is refused with the character named.
  local out
  out=$("$cli" route --sender "03〒5555" 2>&1 || true)
  grep -q "U+3012" <<<"$out" || { log "  FAIL: the refused character is not named: $out"; return 1; }
}

scenario_secrets_not_logged() {
  # After everything above: neither the admin token nor the first web admin's password, nor the
  # spool key, appears in the daemon's log (the access log masks query secrets, and header
  # fields are never logged).
  local secret
  for secret in "$(cat "$ATDESK_TOKEN_FILE")" "$(cat "$work/state/web-admin.password")"; do
    [ -n "$secret" ] || { log "  FAIL: a secret file is empty"; return 1; }
    if grep -qF -- "$secret" "$work/atdeskd.log"; then
      log "  FAIL: a secret appears in the log"
      return 1
    fi
  done
  local key_hex
  key_hex=$(od -An -tx1 "$work/state/spool.key" | tr -d ' \n')
  if grep -qiF -- "$key_hex" "$work/atdeskd.log"; then log "  FAIL: the spool key is in the log"; return 1; fi
  # The check itself works: a request with the token in the query string is logged masked.
  curl -s -o /dev/null "$ATDESK_URL/api/v1/jobs?token=$(cat "$ATDESK_TOKEN_FILE")" || true
  sleep 0.2
  # (`! cmd` would never fail under set -e: spelled out.)
  if grep -qF -- "$(cat "$ATDESK_TOKEN_FILE")" "$work/atdeskd.log"; then
    log "  FAIL: a token sent in the query string was logged"
    return 1
  fi
  grep -q "token=\*\*\*" "$work/atdeskd.log"
  # ... and only secrets are masked: the job filter stays readable.
  api GET "/api/v1/jobs?state=held" >/dev/null
  sleep 0.2
  grep -q "/api/v1/jobs?state=held " "$work/atdeskd.log"
}

all=(unknown_sender_prints available_at_office_prints busy_holds_then_presence_prints
  released_by_hand_prints_once channel_prints_when_any_member_available chat_commands
  inbox_folder hylafax_hook bad_input_and_auth routes_closed_by_default printer_down_then_back
  sigkill_mid_print_prints_once numbers_as_typed_in_japan
  secrets_not_logged)
selected=("$@")
[ ${#selected[@]} -gt 0 ] || selected=("${all[@]}")

start_daemon
for s in "${selected[@]}"; do
  # Not in an `if`: bash ignores set -e inside a condition, and each step must count.
  set +e
  (set -e; "scenario_$s")
  rc=$?
  set -e
  if [ "$rc" -eq 0 ]; then
    log "ok   $s"
  else
    log "FAIL $s"
    failures=$((failures + 1))
  fi
done
[ "$failures" -eq 0 ]
