#!/usr/bin/env bash
# atdeskd registered with a SIP trunk: a real Kamailio on loopback (scripts/test-kamailio) is the
# registrar (digest authentication) and the proxy that routes a DID to the registered account.
#   registers            atdeskd registers with the right password (Kamailio logs the binding)
#   fax_through_trunk    `atdesk fax send` dials the DID at the trunk; the fax arrives at atdeskd
#                        through Kamailio: a job from the SIP source with 1 page, the caller's
#                        number and the DID (from To) as the called number
#   wrong_password       atdeskd stopped (it un-REGISTERs) and started with a wrong password: it is
#                        refused and says so naming the account and the setting, and a fax to
#                        the DID is refused by the trunk (nobody registered)
# usage: sip_trunk.sh <repo root> <build dir>
set -euo pipefail
root=$1
build=$2
. "$root/scripts/lib/common.sh"
atdeskd="$build/src/app/daemon/atdeskd"
cli="$build/src/app/cli/atdesk"
work=$(mktemp -d /tmp/atdesk-trunk.XXXXXX)
chmod 700 "$work"
pid="" failures=0

cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  "$root/scripts/test-kamailio" stop "$work/kamailio" >/dev/null 2>&1 || true
  "$root/scripts/test-printer" stop "$work/printer" >/dev/null 2>&1 || true
  if [ "$failures" -ne 0 ]; then
    log "---- atdeskd log (last 30 lines) ----"; tail -n 30 "$work/atdeskd.log" >&2 || true
    log "---- kamailio log (last 15 lines) ----"; tail -n 15 "$work/kamailio/kamailio.log" >&2 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

kport=$(free_port)
sport=$(free_port)
pport=$(free_port)
aport=$(free_port)
export ATDESK_URL="http://127.0.0.1:$aport"
export ATDESK_TOKEN_FILE="$work/state/admin.token"
"$root/scripts/test-kamailio" start "$work/kamailio" "$kport" atdesk "trunk-secret-1" >/dev/null
"$root/scripts/test-printer" start "$work/printer" "$pport" atdesk-trunk >/dev/null
"$root/scripts/sample-fax" "$work/fax.tif" 1 >/dev/null

start_daemon() {  # start_daemon <password>
  printf '%s\n' "$1" >"$work/sip-password"
  chmod 600 "$work/sip-password"
  {
    base_config "$aport" "$work/state" demo "$pport"
    cat <<TOML
[sip]
address = "127.0.0.1"
port = $sport
allowed_peers = ["127.0.0.1"]
local_id = "atdesk trunk test"
registrar = "sip:127.0.0.1:$kport"
register_user = "atdesk"
register_password_file = "$work/sip-password"
TOML
  } >"$work/atdesk.toml"
  "$atdeskd" --config "$work/atdesk.toml" >>"$work/atdeskd.log" 2>&1 &
  pid=$!
  wait_healthy "$ATDESK_URL" "$pid" atdeskd && return 0
  log "  FAIL: atdeskd did not answer on $ATDESK_URL; its log:"
  tail -n 20 "$work/atdeskd.log" >&2
  return 1
}
stop_daemon() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""; }
wait_log() {  # wait_log <file> <pattern> [seconds]
  local deadline=$((SECONDS + ${3:-15}))
  while [ $SECONDS -lt $deadline ]; do
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  log "  FAIL: '$2' never appeared in $1"
  return 1
}
check() {  # check <name> <command...>
  local name=$1
  shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; failures=$((failures + 1)); fi
}

registers() {
  wait_log "$work/atdeskd.log" "registered sip:atdesk@127.0.0.1:$kport" &&
    wait_log "$work/kamailio/kamailio.log" "registered sip:atdesk@127.0.0.1"
}

fax_through_trunk() {
  "$cli" fax send --to "sip:0312345678@127.0.0.1:$kport" --from "sip:+81398765432@127.0.0.1" \
    --ident "+81 3 9876 5432" "$work/fax.tif" >"$work/send.log" 2>&1 || {
    log "  FAIL: the fax was not delivered: $(tail -3 "$work/send.log")"
    return 1
  }
  local job="" deadline=$((SECONDS + 20))
  while [ $SECONDS -lt $deadline ]; do
    job=$("$cli" --json jobs | jq -c '[.jobs[] | select(.source == "sip")][0] // empty')
    [ -n "$job" ] && break
    sleep 0.2
  done
  [ -n "$job" ] || { log "  FAIL: no job from the SIP source"; return 1; }
  local pages called fax
  pages=$(jq -r .pages <<<"$job")
  called=$(jq -r '.sender.called // empty' <<<"$job")
  fax=$(jq -r '.sender.fax // empty' <<<"$job")
  [ "$pages" = 1 ] || { log "  FAIL: pages $pages, expected 1: $job"; return 1; }
  [ "$called" = "+81312345678" ] ||
    { log "  FAIL: called number '$called', expected the DID 0312345678: $job"; return 1; }
  [ "$fax" = "+81398765432" ] || { log "  FAIL: sender '$fax', expected +81398765432: $job"; return 1; }
}

wrong_password() {
  stop_daemon
  start_daemon "not-the-password"
  wait_log "$work/atdeskd.log" "refused the credentials of 'atdesk'" 20 || return 1
  local rc=0
  "$cli" fax send --to "sip:0312345678@127.0.0.1:$kport" "$work/fax.tif" >"$work/send2.log" 2>&1 || rc=$?
  # The first run removed its binding when it stopped (un-REGISTER), and this one could not
  # register: the trunk has nobody to ring and refuses the call (exit 3).
  [ "$rc" = 3 ] || { log "  FAIL: fax send exited $rc, expected 3 (refused by the trunk)"; return 1; }
}

config_errors() {  # each bad [sip] registration setting is refused naming the key
  local out
  base_config "$aport" "$work/state" demo "$pport" >"$work/bad.toml"
  printf '[sip]\naddress = "127.0.0.1"\nallowed_peers = ["127.0.0.1"]\nregistrar = "sip:127.0.0.1"\nregister_password_file = "%s"\n' \
    "$work/sip-password" >>"$work/bad.toml"
  out=$("$atdeskd" --config "$work/bad.toml" --check-config 2>&1) && { log "  FAIL: --check-config accepted a bad setting"; return 1; }
  grep -q "\[sip\].*register_user.*required with a registrar" <<<"$out" || { log "  FAIL: $out"; return 1; }
  chmod 644 "$work/sip-password"
  sed -i 's/^register_password_file/register_user = "atdesk"\nregister_password_file/' "$work/bad.toml"
  out=$("$atdeskd" --config "$work/bad.toml" --check-config 2>&1) && { log "  FAIL: --check-config accepted a bad setting"; return 1; }
  chmod 600 "$work/sip-password"
  grep -q "register_password_file.*chmod 600" <<<"$out" || { log "  FAIL: $out"; return 1; }
  # allowed_peers takes CIDR ranges; NAT settings; a bad range and half a port range are refused
  base_config "$aport" "$work/state" demo "$pport" >"$work/nat.toml"
  printf '[sip]\naddress = "127.0.0.1"\nallowed_peers = ["127.0.0.0/8", "::1"]\nadvertised_address = "192.0.2.1"\nmedia_port_min = 40000\nmedia_port_max = 40100\nt38_reinvite_delay_ms = 2500\nsession_expires_s = 600\n' \
    >>"$work/nat.toml"
  out=$("$atdeskd" --config "$work/nat.toml" --check-config 2>&1) || { log "  FAIL: $out"; return 1; }
  sed 's#"127.0.0.0/8"#"127.0.0.0/33"#' "$work/nat.toml" >"$work/bad-cidr.toml"
  out=$("$atdeskd" --config "$work/bad-cidr.toml" --check-config 2>&1) && { log "  FAIL: --check-config accepted a bad setting"; return 1; }
  grep -q "allowed_peers.*CIDR" <<<"$out" || { log "  FAIL: $out"; return 1; }
  grep -v '^media_port_max' "$work/nat.toml" >"$work/bad-ports.toml"
  out=$("$atdeskd" --config "$work/bad-ports.toml" --check-config 2>&1) && { log "  FAIL: --check-config accepted a bad setting"; return 1; }
  grep -q "media_port_max.*go together" <<<"$out" || { log "  FAIL: $out"; return 1; }
  # RFC 4028's smallest session interval is 90 s; a keepalive over 25 s lets NAT bindings expire
  sed 's#^session_expires_s = 600#session_expires_s = 60#' "$work/nat.toml" >"$work/bad-session.toml"
  out=$("$atdeskd" --config "$work/bad-session.toml" --check-config 2>&1) && { log "  FAIL: --check-config accepted a bad setting"; return 1; }
  grep -q "session_expires_s" <<<"$out" || { log "  FAIL: $out"; return 1; }
  sed -i 's/^register_password_file/register_keepalive_s = 30\nregister_password_file/' "$work/bad.toml"
  out=$("$atdeskd" --config "$work/bad.toml" --check-config 2>&1) && { log "  FAIL: --check-config accepted a bad setting"; return 1; }
  grep -q "register_keepalive_s" <<<"$out" || { log "  FAIL: $out"; return 1; }
}

start_daemon "trunk-secret-1"
check config_errors config_errors
check registers registers
check fax_through_trunk fax_through_trunk
check wrong_password wrong_password
grep -q "trunk-secret-1" "$work/atdeskd.log" && { echo "FAIL the SIP password is in the log"; failures=$((failures + 1)); }
[ "$failures" -eq 0 ]
