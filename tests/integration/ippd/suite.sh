#!/usr/bin/env bash
# atdesk as an IPP Everywhere printer, end to end on real parts and loopback only: atdeskd starts
# atdesk-ippd (PAPPL) from [ipp_server]; CUPS' ipptool prints PDF and PWG raster to it as a
# driverless client does; atdeskd holds or prints each job on a real ippeveprinter by the
# recipient's presence (the local chat service); atdeskd and atdesk-ippd are each killed with
# SIGKILL after a job was acknowledged and nothing is lost or printed twice. CUPS'
# ipp-everywhere.test is run as far as it runs (its result is logged, see docs/printing.md).
#
# usage: suite.sh <repo root> <build dir> <make_pwg> [scenario ...]
set -euo pipefail

root=$1
. "$root/scripts/lib/common.sh"
build=$2
make_pwg=$3
shift 3
atdeskd="$build/src/app/daemon/atdeskd"
cli="$build/src/app/cli/atdesk"
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/atdesk-ippd.XXXXXX)
chmod 700 "$work"
failures=0

cleanup() {
  # Scenarios run in subshells: the CUPS folder is recorded in a file.
  local cups_dir
  cups_dir=$(cat "$work/cups_dir" 2>/dev/null || true)
  if [ -n "$cups_dir" ]; then
    "$root/scripts/test-cups" stop "$cups_dir" >/dev/null 2>&1 || true
    rm -rf "$cups_dir"
  fi
  stop_daemon
  "$root/scripts/test-printer" stop "$work/printer" >/dev/null 2>&1 || true
  if [ "$failures" -ne 0 ]; then
    log "---- atdeskd log (last 80 lines) ----"
    tail -n 80 "$work/atdeskd.log" >&2 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

printer_port=$(free_port)
api_port=$(free_port)
ipp_port=$(free_port)
"$root/scripts/test-printer" start "$work/printer" "$printer_port" atdesk-ippd-it >/dev/null
printer_spool="$work/printer/spool"
ipp_spool="$work/state/ipp-spool"

# write_config plain|auth: "auth" adds TLS, sign-in against atdesk's accounts and personal
# queue URLs (the scenarios of those restart atdeskd with it, and go back to "plain" after).
write_config() {
  {
    base_config "$api_port" "$work/state" demo "$printer_port"
    cat <<TOML
[ipp_server]
listen = "127.0.0.1"
port = $ipp_port
queues = ["office", "alice-desk"]
owners = { "alice-desk" = "alice" }
unknown_owner = "channel:local:front-desk"
restart_delay_ms = 200
TOML
    if [ "$1" = auth ]; then
      printf 'tls = true\nsign_in = true\npersonal_tokens = true\n'
    fi
  } >"$work/atdesk.toml"
  echo "$1" >"$work/config.kind"
}
write_config plain
# [policy] unknown_sender is left at its default (print): a print job whose owner cannot be
# established is held for [ipp_server] unknown_owner all the same, whatever the presence.

export ATDESK_URL="http://127.0.0.1:$api_port"
export ATDESK_TOKEN_FILE="$work/state/admin.token"

start_daemon() {
  "$atdeskd" --config "$work/atdesk.toml" >>"$work/atdeskd.log" 2>&1 &
  echo $! >"$work/daemon.pid"
  local deadline=$((SECONDS + 60))
  while [ $SECONDS -lt $deadline ]; do
    if curl -fsS "$ATDESK_URL/healthz" >/dev/null 2>&1 && ipp_ready; then return 0; fi
    sleep 0.1
  done
  log "atdeskd or atdesk-ippd did not start"
  return 1
}

stop_daemon() {
  local pid
  pid=$(cat "$work/daemon.pid" 2>/dev/null || true)
  rm -f "$work/daemon.pid"
  local deadline=$((SECONDS + 20))
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    # A scenario (a subshell) cannot wait for atdeskd: it waits until the process is gone.
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
  fi
  # atdesk-ippd ends with atdeskd (SIGTERM from atdeskd, or its parent-death signal).
  while ippd_pid >/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
}

kill_daemon() {
  local pid
  pid=$(cat "$work/daemon.pid")
  rm -f "$work/daemon.pid"
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 20))
  while ippd_pid >/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
  if ippd_pid >/dev/null; then log "atdesk-ippd outlived atdeskd"; return 1; fi
}

# The atdesk-ippd serving this suite (found by its port on the command line).
ippd_pid() { pgrep -f -- "atdesk-ippd .*--port $ipp_port" | head -n 1 | grep .; }

ipp_ready() {
  ipptool -T 5 "ipp://127.0.0.1:$ipp_port/ipp/print/office" get-printer-attributes.test \
    >/dev/null 2>&1
}

api() {  # api METHOD PATH [curl args...]
  local method=$1 path=$2
  shift 2
  curl -sS -X "$method" -H "Authorization: Bearer $(cat "$ATDESK_TOKEN_FILE")" "$@" \
    "$ATDESK_URL$path"
}

# Prints FILE (FORMAT) on QUEUE as USER with JOBNAME; the IPP job must reach EXPECT (9 completed,
# 8 aborted).
ipp_print() {  # ipp_print QUEUE USER JOBNAME FORMAT FILE [EXPECT]
  ipptool -T 60 -t -d "requester=$2" -d "jobname=$3" -d "format=$4" -d "expect=${6:-9}" \
    -f "$5" "ipp://127.0.0.1:$ipp_port/ipp/print/$1" "$here/print.test" >"$work/ipptool.out" 2>&1 \
    || { cat "$work/ipptool.out" >&2; return 1; }
}

# atdesk's job for a document name: its id (the newest), empty when there is none.
job_for() { api GET "/api/v1/jobs?limit=200" | jq -r --arg n "$1" \
  '[.jobs[] | select(.document_name == $n)] | .[0].id // empty'; }
jobs_named() { api GET "/api/v1/jobs?limit=200" | jq --arg n "$1" \
  '[.jobs[] | select(.document_name == $n)] | length'; }
job_field() { api GET "/api/v1/jobs/$1" | jq -r "(.job // .) | $2"; }

wait_job() {  # wait_job NAME STATE [seconds] -> id
  local deadline=$((SECONDS + ${3:-30})) id="" s=""
  while [ $SECONDS -lt $deadline ]; do
    id=$(job_for "$1" || true)
    if [ -n "$id" ]; then
      s=$(job_field "$id" .state || true)
      if [ "$s" = "$2" ]; then echo "$id"; return 0; fi
    fi
    sleep 0.1
  done
  log "job '$1' is '${s:-missing}', expected '$2'"
  return 1
}


presence() { "$cli" presence set "$@" >/dev/null; }

pdf() {  # pdf PAGES -> a PDF of PAGES fax pages
  local t="$work/doc-$1.tif" p="$work/doc-$1.pdf"
  [ -f "$p" ] || { "$root/scripts/sample-fax" "$t" "$1" >/dev/null && tiff2pdf -o "$p" "$t"; }
  echo "$p"
}

pwg() {  # pwg PAGES -> a PWG raster document of PAGES pages
  local p="$work/doc-$1.pwg"
  [ -f "$p" ] || "$make_pwg" "$p" "$1"
  echo "$p"
}

# ------------------------------------------------------------------------------------------
scenario_private_files() {
  expect_eq "mode of the hand-off socket" "$(stat -c %a "$work/state/ippd.sock")" 600
  expect_eq "mode of atdesk-ippd's spool" "$(stat -c %a "$ipp_spool")" 700
  # Loopback only, nothing announced.
  if ss -ltnp | grep ":$ipp_port " | grep -vq "127.0.0.1:$ipp_port "; then
    log "  FAIL: atdesk-ippd listens beyond 127.0.0.1"; return 1
  fi
  ipptool -t "ipp://127.0.0.1:$ipp_port/ipp/print/office" get-printer-attributes.test \
    -d dummy=1 >/dev/null
}

scenario_pdf_available_prints() {
  presence alice available office
  ipp_print office alice "report-alice" application/pdf "$(pdf 3)"
  local id
  id=$(wait_job report-alice printed)
  expect_eq "source" "$(job_field "$id" .source)" ipp
  expect_eq "sender" "$(job_field "$id" .sender.ipp_user)" alice
  expect_eq "pages" "$(job_field "$id" .pages)" 3
  expect_eq "documents at the printer" "$(printed_count "$id")" 1
  expect_eq "pages printed" "$(printed_pages "$id")" 3
  # PAPPL keeps no document once atdeskd has it.
  expect_eq "documents left in atdesk-ippd's spool" \
    "$(find "$ipp_spool" -type f ! -name '*.log' | wc -l)" 0
}

scenario_pwg_raster_busy_holds_then_prints() {
  presence bob busy remote
  ipp_print office bob "scan-bob" image/pwg-raster "$(pwg 2)"
  local id
  id=$(wait_job scan-bob held)
  expect_eq "format" "$(job_field "$id" .format)" tiff
  expect_eq "pages" "$(job_field "$id" .pages)" 2
  expect_eq "documents at the printer while held" "$(printed_count "$id")" 0
  # The notice names the print job and its owner, with the page count.
  "$cli" --json messages --to user:local:bob | jq -r '.messages[].text' |
    grep -q '^Print job "scan-bob" from bob (2 pages, raster) received .* is held'
  "$cli" --json messages --to user:local:bob |
    jq -e '[.messages[] | select(.text | startswith("Print job \"scan-bob\"")) | .has_preview]
           | length > 0 and all' >/dev/null  # with the page-1 preview
  presence bob available office
  wait_job scan-bob printed >/dev/null
  expect_eq "documents at the printer" "$(printed_count "$id")" 1
  expect_eq "pages printed" "$(printed_pages "$id")" 2
}

scenario_personal_queue_and_unknown_user() {
  presence alice busy office
  # Whatever the client claims, a job on alice's personal queue is hers.
  ipp_print alice-desk "PC-17\$" "desk-job" application/pdf "$(pdf 1)"
  local id
  id=$(wait_job desk-job held)
  expect_eq "owner from the personal queue" "$(job_field "$id" .sender.ipp_user)" alice
  # A user nobody mapped: held for the front desk (unknown_owner), not printed.
  ipp_print office "guest" "guest-job" application/pdf "$(pdf 1)"
  id=$(wait_job guest-job held)
  expect_eq "documents at the printer" "$(printed_count "$id")" 0
}

# A job whose owner cannot be established (no sign-in, no personal queue, a user name in no ipp:
# rule) is held for [ipp_server] unknown_owner and never printed unattended: not while the front
# desk is available, not when presence changes, not after a restart. The notice says why; a
# person's release prints it once.
scenario_unknown_owner_is_held_whatever_the_presence() {
  presence frank available office
  ipp_print office "PC-17\$" "nobodys-job" application/pdf "$(pdf 2)"
  local id
  id=$(wait_job nobodys-job held)
  expect_eq "recipients" "$(job_field "$id" '.recipients | join(",")')" channel:local:front-desk
  job_field "$id" .reason | grep -q 'owner unknown: .*"PC-17\$") is in no ipp: rule'
  local deadline=$((SECONDS + 30))
  until "$cli" --json messages --to channel:local:front-desk | jq -r '.messages[].text' |
    grep -q '^Print job "nobodys-job" from PC-17\$ (2 pages, PDF) .* is held'; do
    [ $SECONDS -lt $deadline ] || { log "  FAIL: no notice to the front desk"; return 1; }
    sleep 0.1
  done
  # The notice says why: the owner is unknown, and what was missing.
  "$cli" --json messages --to channel:local:front-desk | jq -e '[.messages[].text |
    select(contains("Why: held: owner unknown: nobody signed in or used a personal queue")
      and contains("PC-17"))] | length == 1' >/dev/null
  # Presence changes of the front desk do not print it, nor does a restart.
  presence frank busy office
  presence frank available office
  stop_daemon
  start_daemon
  presence frank available office
  # A job that would print (alice, available) goes through meanwhile: the engine is not stuck.
  presence alice available office
  ipp_print office alice "alice-after-nobody" application/pdf "$(pdf 1)"
  wait_job alice-after-nobody printed >/dev/null
  expect_eq "state of the unowned job" "$(job_field "$id" .state)" held
  expect_eq "documents at the printer" "$(printed_count "$id")" 0
  "$cli" release "$id" >/dev/null
  wait_job nobodys-job printed >/dev/null
  expect_eq "documents at the printer after the release" "$(printed_count "$id")" 1
}

scenario_not_a_document_is_refused_nothing_stored() {
  printf 'this is not a PDF\n' >"$work/bad.pdf"
  # PAPPL takes the job; atdeskd refuses the document; the IPP job ends aborted (8).
  ipp_print office alice "bad-doc" application/pdf "$work/bad.pdf" 8
  expect_eq "jobs stored" "$(jobs_named bad-doc)" 0
}

scenario_malformed_requests_refused_nothing_stored() {
  local before
  before=$(api GET "/api/v1/jobs?limit=200" | jq '.jobs | length')
  ipptool -T 30 -t -d requester=alice -f "$(pdf 1)" "ipp://127.0.0.1:$ipp_port/ipp/print/office" \
    "$here/refuse.test" >"$work/refuse.out" 2>&1 || { cat "$work/refuse.out" >&2; return 1; }
  # Not IPP at all: PAPPL answers HTTP 400.
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/ipp' \
    --data-binary 'this is not an IPP request' "http://127.0.0.1:$ipp_port/ipp/print/office")
  expect_eq "HTTP status of a request that is not IPP" "$code" 400
  expect_eq "jobs stored" "$(api GET "/api/v1/jobs?limit=200" | jq '.jobs | length')" "$before"
}

scenario_atdeskd_killed_after_ack_loses_nothing() {
  presence carol busy remote
  ipp_print office carol "kill-atdeskd" application/pdf "$(pdf 2)"
  local id
  id=$(job_for kill-atdeskd)
  [ -n "$id" ] || { log "  FAIL: acknowledged job not stored"; return 1; }
  kill_daemon
  start_daemon
  wait_job kill-atdeskd held >/dev/null
  presence carol available office
  wait_job kill-atdeskd printed >/dev/null
  expect_eq "jobs" "$(jobs_named kill-atdeskd)" 1
  expect_eq "documents at the printer" "$(printed_count "$id")" 1
  # The printer works again after the restart.
  presence dave available office
  ipp_print office dave "after-restart" application/pdf "$(pdf 1)"
  wait_job after-restart printed >/dev/null
}

scenario_ippd_killed_after_ack_loses_nothing() {
  presence erin busy remote
  ipp_print office erin "kill-ippd" image/pwg-raster "$(pwg 1)"
  local before id
  id=$(job_for kill-ippd)
  [ -n "$id" ] || { log "  FAIL: acknowledged job not stored"; return 1; }
  before=$(ippd_pid)
  kill -KILL "$before"
  # atdeskd starts it again.
  local deadline=$((SECONDS + 30))
  while [ $SECONDS -lt $deadline ]; do
    local now
    now=$(ippd_pid || true)
    if [ -n "$now" ] && [ "$now" != "$before" ] && ipp_ready; then break; fi
    sleep 0.1
  done
  ipp_ready
  presence erin available office
  wait_job kill-ippd printed >/dev/null
  expect_eq "jobs" "$(jobs_named kill-ippd)" 1
  ipp_print office erin "after-ippd-restart" image/pwg-raster "$(pwg 1)"
  wait_job after-ippd-restart printed >/dev/null
}

# atdeskd killed while atdesk-ippd is handing a document over (atdeskd stopped with SIGSTOP so
# the hand-off is surely in flight): the IPP job never completes, nothing is stored, and the
# printer works again after the restart.
scenario_atdeskd_killed_during_handoff_acknowledges_nothing() {
  presence dave available office
  local pid
  pid=$(cat "$work/daemon.pid")
  kill -STOP "$pid"
  ipptool -T 60 -t -d requester=dave -d jobname=in-flight -d format=application/pdf -d expect=9 \
    -f "$(pdf 1)" "ipp://127.0.0.1:$ipp_port/ipp/print/office" "$here/print.test" \
    >"$work/in-flight.out" 2>&1 &
  local client=$!
  # Wait until atdesk-ippd's connection waits in the socket's queue: /proc/net/unix then lists
  # the path twice (the listening socket and the connection not yet accepted).
  local deadline=$((SECONDS + 30))
  until [ "$(grep -cF "$work/state/ippd.sock" /proc/net/unix)" -ge 2 ]; do
    if [ $SECONDS -ge $deadline ]; then kill -CONT "$pid"; log "  FAIL: no hand-off"; return 1; fi
    sleep 0.05
  done
  kill_daemon
  local rc=0
  wait "$client" || rc=$?
  if [ "$rc" -eq 0 ]; then log "  FAIL: the IPP job completed without atdeskd"; return 1; fi
  start_daemon
  expect_eq "jobs stored" "$(jobs_named in-flight)" 0
  ipp_print office dave "after-in-flight" application/pdf "$(pdf 1)"
  wait_job after-in-flight printed >/dev/null
}

# What a Linux office PC does: a CUPS queue made driverless from atdesk-ippd's own attributes
# (lpadmin -m everywhere, scripts/test-cups's private cupsd on loopback), then `lp` as a user.
# CUPS sends the job's owner as requesting-user-name.
scenario_lp_through_a_cups_queue() {
  local cups_dir
  cups_dir=$(mktemp -d /tmp/atdesk-ippd-cups.XXXXXX)
  echo "$cups_dir" >"$work/cups_dir"
  chmod 755 "$cups_dir"
  "$root/scripts/test-cups" start "$cups_dir" "$(free_port)" unused >/dev/null
  lpadmin -h "$cups_dir/cups.sock" -p to-atdesk -E \
    -v "ipp://127.0.0.1:$ipp_port/ipp/print/office" -m everywhere
  cupsenable -h "$cups_dir/cups.sock" to-atdesk
  cupsaccept -h "$cups_dir/cups.sock" to-atdesk
  presence dave busy remote
  lp -h "$cups_dir/cups.sock" -U dave -d to-atdesk -t lp-dave "$(pdf 2)" >/dev/null
  local id
  id=$(wait_job lp-dave held 60)
  expect_eq "owner sent by CUPS" "$(job_field "$id" .sender.ipp_user)" dave
  expect_eq "pages" "$(job_field "$id" .pages)" 2
  presence dave available office
  wait_job lp-dave printed >/dev/null
  expect_eq "documents at the printer" "$(printed_count "$id")" 1
  expect_eq "pages printed" "$(printed_pages "$id")" 2
}

# CUPS' IPP Everywhere self-certification script as far as it runs here: its attribute checks
# and the print tests of ipp-2.0.test with a PDF. The outcome is logged, not asserted (see
# docs/printing.md for what passes).
scenario_ipp_everywhere_test() {
  presence "$(id -un)" available office
  ipptool -T 30 -t -f "$(pdf 1)" "ipp://127.0.0.1:$ipp_port/ipp/print/office" \
    ipp-everywhere.test >"$work/ipp-everywhere.out" 2>&1 || true
  log "  ipp-everywhere.test: $(grep -c '\[PASS\]' "$work/ipp-everywhere.out") passed," \
    "$(grep -c '\[FAIL\]' "$work/ipp-everywhere.out") failed," \
    "$(grep -c '\[SKIP\]' "$work/ipp-everywhere.out") skipped"
  grep -A4 '\[FAIL\]' "$work/ipp-everywhere.out" | sed 's/^/    /' >&2 || true
  grep -E '\[(PASS|SKIP)\]' "$work/ipp-everywhere.out" | sed 's/^/    /' >&2 || true
  grep -q '\[PASS\]' "$work/ipp-everywhere.out"
}

# Restarts atdeskd with the other configuration when it runs with another one.
use_config() {
  [ "$(cat "$work/config.kind")" = "$1" ] && return 0
  stop_daemon
  write_config "$1"
  start_daemon
}

# ipptool's own state (the TLS certificates it trusts on first use) stays in the suite's folder.
ipptool_home() { mkdir -p "$work/home"; HOME="$work/home" ipptool "$@"; }

# Print-Job over ipps:// with ipptool; URI is the whole printer URI (with user:password@ for a
# sign-in). The output is in $work/ipptool.out; fails when the IPP job does not complete.
ipps_print() {  # ipps_print URI USER JOBNAME FILE
  ipptool_home -T 60 -t -d "requester=$2" -d "jobname=$3" -d format=application/pdf -d expect=9 \
    -f "$4" "$1" "$here/print.test" >"$work/ipptool.out" 2>&1
}

# A Print-Job request as bytes (RFC 8010 section 3.1: version 2.0, operation 0x0002, request-id
# 1, the operation attributes group 0x01 with charset 0x47, naturalLanguage 0x48, uri 0x45, name
# 0x42, mimeMediaType 0x49 values, end-of-attributes 0x03, then the document).
ipp_print_job_body() {  # ipp_print_job_body URI USER FILE
  attr() {
    printf "\\x$1"
    printf '%04x' "${#2}" | xxd -r -p
    printf '%s' "$2"
    printf '%04x' "${#3}" | xxd -r -p
    printf '%s' "$3"
  }
  printf '\x02\x00\x00\x02\x00\x00\x00\x01\x01'
  attr 47 attributes-charset utf-8
  attr 48 attributes-natural-language en
  attr 45 printer-uri "$1"
  attr 42 requesting-user-name "$2"
  attr 49 document-format application/pdf
  printf '\x03'
  cat "$3"
}

# HTTP Basic over TLS against atdesk's accounts (sign_in = true): the right password makes the
# account the job's trusted owner whatever user name the client sends; a wrong one is refused
# with HTTP 401 (client-error-not-authenticated to ipptool); credentials on a plain connection
# are refused (403), and a plain request without them is sent to TLS (426). Nothing refused is
# stored.
scenario_sign_in_over_tls() {
  use_config auth
  api POST /api/v1/accounts -H 'Content-Type: application/json' \
    --data '{"name":"gina","password":"correct horse 7","role":"user","recipients":["user:local:gina"]}' \
    -o /dev/null
  "$cli" recipients add ipp:gina user:local:gina >/dev/null
  presence gina busy remote
  local before
  before=$(api GET "/api/v1/jobs?limit=200" | jq '.jobs | length')
  ipps_print "ipps://gina:correct%20horse%207@127.0.0.1:$ipp_port/ipp/print/office" "PC-9" \
    signed-in-job "$(pdf 1)" || { cat "$work/ipptool.out" >&2; return 1; }
  local id
  id=$(wait_job signed-in-job held)
  expect_eq "owner from the sign-in" "$(job_field "$id" .sender.ipp_user)" gina
  # The computer's address, which only the authentication callback sees, reaches the notice.
  expect_eq "the computer's address" "$(job_field "$id" .sender.ip)" 127.0.0.1
  local deadline=$((SECONDS + 30))
  until "$cli" --json messages --to user:local:gina | jq -r '.messages[].text' |
    grep -q '^Print job "signed-in-job" from gina at 127.0.0.1 (1 page, PDF) received .* is held'; do
    [ $SECONDS -lt $deadline ] || { log "  FAIL: no notice to gina"; return 1; }
    sleep 0.1
  done
  expect_eq "recipients" "$(job_field "$id" '.recipients | join(",")')" user:local:gina
  api GET "/api/v1/jobs/$id/history" | jq -r '.history[0].reason' |
    grep -q 'from user "gina" (signed in)'
  # A wrong password: refused before PAPPL takes the job.
  if ipps_print "ipps://gina:wrong-password@127.0.0.1:$ipp_port/ipp/print/office" gina \
    wrong-password-job "$(pdf 1)"; then
    log "  FAIL: a wrong password was accepted"; return 1
  fi
  grep -Eq 'not-authenticated|not-authorized|Unauthorized' "$work/ipptool.out" ||
    { cat "$work/ipptool.out" >&2; return 1; }
  # Plain HTTP: with credentials refused (403), without them sent to TLS (426).
  ipp_print_job_body "ipp://127.0.0.1:$ipp_port/ipp/print/office" gina "$(pdf 1)" \
    >"$work/print-job.ipp"
  expect_eq "HTTP status of credentials without TLS" "$(curl -s -o /dev/null -w '%{http_code}' \
    -u 'gina:correct horse 7' -H 'Content-Type: application/ipp' \
    --data-binary @"$work/print-job.ipp" "http://127.0.0.1:$ipp_port/ipp/print/office")" 403
  expect_eq "HTTP status of a plain request" "$(curl -s -o /dev/null -w '%{http_code}' \
    -H 'Content-Type: application/ipp' --data-binary @"$work/print-job.ipp" \
    "http://127.0.0.1:$ipp_port/ipp/print/office")" 426
  # Five wrong passwords lock the account name: then even the right one is refused (401) for a
  # while, without atdeskd being asked.
  api POST /api/v1/accounts -H 'Content-Type: application/json' \
    --data '{"name":"ivan","password":"ivan right 7","role":"user","recipients":["user:local:ivan"]}' \
    -o /dev/null
  https_print() {  # https_print USER:PASSWORD -> HTTP status
    curl -sk -o /dev/null -w '%{http_code}' -u "$1" -H 'Content-Type: application/ipp' \
      --data-binary @"$work/print-job.ipp" "https://127.0.0.1:$ipp_port/ipp/print/office"
  }
  expect_eq "a right password with curl" "$(https_print 'gina:correct horse 7')" 200
  local i
  for i in 1 2 3 4 5; do expect_eq "wrong password $i" "$(https_print 'ivan:wrong')" 401; done
  expect_eq "the right password while locked" "$(https_print 'ivan:ivan right 7')" 401
  wait_stored() {  # the job curl's 200 acknowledged is stored before the count
    local deadline=$((SECONDS + 30))
    until [ "$(api GET "/api/v1/jobs?limit=200" | jq '.jobs | length')" -ge "$1" ]; do
      [ $SECONDS -lt $deadline ] || return 1
      sleep 0.1
    done
  }
  wait_stored $((before + 2))
  expect_eq "jobs stored" "$(api GET "/api/v1/jobs?limit=200" | jq '.jobs | length')" \
    $((before + 2))
  use_config plain
}

# A personal queue URL (personal_tokens = true): the admin makes a token for henry with the CLI;
# a job to /ipp/print/u/<token> is henry's whatever user name the client sends; a wrong token and
# a revoked one are refused (403, client-error-forbidden to ipptool) with nothing stored; the
# token is shown once and only its hash is kept.
scenario_personal_token_queue() {
  use_config auth
  "$cli" recipients add ipp:henry user:local:henry >/dev/null
  presence henry busy remote
  local made token id path before
  made=$("$cli" --json ipp-token add henry)
  token=$(jq -r .token <<<"$made")
  id=$(jq -r .id <<<"$made")
  path=$(jq -r .path <<<"$made")
  expect_eq "queue path" "$path" "/ipp/print/u/$token"
  # Listed by id and person only; the store has the hash, not the token.
  expect_eq "listed" "$("$cli" --json ipp-token list | jq -r '.tokens[] | "\(.id) \(.user)"')" \
    "$id henry"
  if "$cli" --json ipp-token list | grep -q "$token"; then
    log "  FAIL: the token is listed"; return 1
  fi
  if sqlite3 "$work/state/atdesk.db" .dump 2>/dev/null | grep -q "$token"; then
    log "  FAIL: the token is in the store"; return 1
  fi
  before=$(api GET "/api/v1/jobs?limit=200" | jq '.jobs | length')
  ipps_print "ipps://127.0.0.1:$ipp_port$path" "PC-42" token-job "$(pdf 2)" ||
    { cat "$work/ipptool.out" >&2; return 1; }
  local job
  job=$(wait_job token-job held)
  expect_eq "owner from the token" "$(job_field "$job" .sender.ipp_user)" henry
  expect_eq "recipients" "$(job_field "$job" '.recipients | join(",")')" user:local:henry
  presence henry available office
  wait_job token-job printed >/dev/null
  expect_eq "pages printed" "$(printed_pages "$job")" 2
  # A wrong token, no token, then the revoked one: refused, nothing stored.
  local wrong=${token%?????}00000
  if ipps_print "ipps://127.0.0.1:$ipp_port/ipp/print/u/$wrong" henry wrong-token "$(pdf 1)"; then
    log "  FAIL: a wrong token was accepted"; return 1
  fi
  grep -Eq 'forbidden|Forbidden' "$work/ipptool.out" || { cat "$work/ipptool.out" >&2; return 1; }
  if ipps_print "ipps://127.0.0.1:$ipp_port/ipp/print/u" henry no-token "$(pdf 1)"; then
    log "  FAIL: the token queue took a job without a token"; return 1
  fi
  "$cli" ipp-token revoke "$id" >/dev/null
  if ipps_print "ipps://127.0.0.1:$ipp_port$path" henry revoked-token "$(pdf 1)"; then
    log "  FAIL: a revoked token was accepted"; return 1
  fi
  expect_eq "jobs stored" "$(api GET "/api/v1/jobs?limit=200" | jq '.jobs | length')" \
    $((before + 1))
  # Secrets are never logged: not by atdeskd, not by atdesk-ippd (PAPPL logs request paths).
  if grep -qF "${token:0:12}" "$work/atdeskd.log"; then
    log "  FAIL: the token is in the log"; grep -F "${token:0:12}" "$work/atdeskd.log" | head -3 >&2
    return 1
  fi
  use_config plain
}

all=(private_files pdf_available_prints pwg_raster_busy_holds_then_prints
  personal_queue_and_unknown_user unknown_owner_is_held_whatever_the_presence
  not_a_document_is_refused_nothing_stored
  malformed_requests_refused_nothing_stored
  atdeskd_killed_after_ack_loses_nothing ippd_killed_after_ack_loses_nothing
  atdeskd_killed_during_handoff_acknowledges_nothing lp_through_a_cups_queue ipp_everywhere_test
  sign_in_over_tls personal_token_queue)
selected=("$@")
[ ${#selected[@]} -gt 0 ] || selected=("${all[@]}")

start_daemon
for u in alice bob carol dave erin; do
  "$cli" recipients add "ipp:$u" "user:local:$u" >/dev/null
done
"$cli" channel members front-desk frank >/dev/null
"$cli" recipients add others channel:local:front-desk >/dev/null
presence frank busy remote
for s in "${selected[@]}"; do
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
