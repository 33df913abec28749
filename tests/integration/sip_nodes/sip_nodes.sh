#!/usr/bin/env bash
# Several atdeskd nodes and one SIP trunk account (docs/sip.md, "Several nodes"): two atdeskd on
# one PostgreSQL 15 (scripts/test-postgres) with [cluster] lease_s = 6, both configured to
# register the account "atdesk" at a real Kamailio on loopback (scripts/test-kamailio, the
# registrar and the proxy that routes a DID to the registered contacts).
#   one_binding       only the holder of the lease "sip-registration" registers: Kamailio's
#                     location table (kamcmd ul.lookup) has one contact, that node's
#   standby_answers   a fax sent straight to the other node's SIP address arrives (every node
#                     answers calls; only the registration is one node's)
#   takeover          the registered node is killed with SIGKILL: the other registers within
#                     lease_s + min(lease_s / 3, 5 s) (8 s) plus a margin for a loaded machine,
#                     and a fax to the DID through Kamailio arrives
#   restarted_standby the killed node started again stays a standby: it does not register
#   graceful_handover the registered node stopped with SIGTERM removes its binding
#                     (un-REGISTER) and gives the lease up; the restarted node registers
# usage: sip_nodes.sh <repo root> <build dir>
set -euo pipefail
root=$1
build=$2
. "$root/scripts/lib/common.sh"
atdeskd="$build/src/app/daemon/atdeskd"
cli="$build/src/app/cli/atdesk"
work=$(mktemp -d /tmp/atdesk-sipnodes.XXXXXX)
chmod 700 "$work"
lease_s=6
bound_s=$((lease_s + (lease_s / 3 < 5 ? lease_s / 3 : 5)))
margin_s=12 # CI's 2 cores are shared with builds: the lease thread and the REGISTER can be late
failures=0
declare -a pids ports sports

cleanup() {
  stop_nodes
  "$root/scripts/test-kamailio" stop "$work/kamailio" >/dev/null 2>&1 || true
  "$root/scripts/test-printer" stop "$work/printer" >/dev/null 2>&1 || true
  stop_test_database "$work/pg"
  if [ "$failures" -ne 0 ]; then
    node_logs 30
    log "---- kamailio log (last 15 lines) ----"
    tail -n 15 "$work/kamailio/kamailio.log" >&2 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

url=$(start_test_database "$work/pg")
kport=$(free_port)
pport=$(free_port)
"$root/scripts/test-kamailio" start "$work/kamailio" "$kport" atdesk "trunk-secret-1" >/dev/null
"$root/scripts/test-printer" start "$work/printer" "$pport" atdesk-sipnodes >/dev/null
"$root/scripts/sample-fax" "$work/fax.tif" 1 >/dev/null
printf 'trunk-secret-1\n' >"$work/sip-password"
chmod 600 "$work/sip-password"
token_file="$work/admin.token"

for i in 1 2; do
  ports[$i]=$(free_port)
  sports[$i]=$(free_port)
  {
    # One key file and admin token for both nodes; each its own state folder and SIP port.
    node_config "$i" demo "$pport" "$url" "$lease_s"
    cat <<TOML
[sip]
address = "127.0.0.1"
port = ${sports[$i]}
allowed_peers = ["127.0.0.1"]
local_id = "atdesk node $i"
registrar = "sip:127.0.0.1:$kport"
register_user = "atdesk"
register_password_file = "$work/sip-password"
TOML
  } >"$work/node$i.toml"
done

check() {  # check <name> <command...>
  local name=$1
  shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; failures=$((failures + 1)); fi
}
bindings() { "$root/scripts/test-kamailio" bindings "$work/kamailio" atdesk; }
registered_in() { grep -c "registered sip:atdesk@127.0.0.1:$kport" "$work/node$1.log" 2>/dev/null || true; }
sip_jobs() {  # the number of jobs from the SIP source (the database is shared: any node)
  ATDESK_URL="http://127.0.0.1:${ports[$1]}" ATDESK_TOKEN_FILE="$token_file" "$cli" --json jobs |
    jq '[.jobs[] | select(.source == "sip")] | length'
}
wait_sip_jobs() {  # wait_sip_jobs NODE COUNT
  local deadline=$((SECONDS + 30)) n=0
  while [ $SECONDS -lt $deadline ]; do
    n=$(sip_jobs "$1")
    [ "$n" -ge "$2" ] && return 0
    sleep 0.2
  done
  log "  FAIL: $n job(s) from the SIP source, expected $2"
  return 1
}
send_fax() {  # send_fax SIP-URI LOG
  "$cli" fax send --to "$1" --from "sip:+81398765432@127.0.0.1" --ident "+81 3 9876 5432" \
    "$work/fax.tif" >"$2" 2>&1 || {
    log "  FAIL: the fax to $1 was not delivered: $(tail -3 "$2")"
    return 1
  }
}

start_node 1
start_node 2
primary="" standby=""
one_binding() {
  wait_until 20 "a node registered" bash -c "grep -q 'registered sip:atdesk@127.0.0.1:$kport' '$work/node1.log' '$work/node2.log'" || return 1
  if [ "$(registered_in 1)" -gt 0 ]; then primary=1 standby=2; else primary=2 standby=1; fi
  wait_until 10 "the binding at Kamailio" bash -c "[ -n \"\$('$root/scripts/test-kamailio' bindings '$work/kamailio' atdesk)\" ]" || return 1
  local b
  b=$(bindings)
  [ "$(wc -l <<<"$b")" = 1 ] || { log "  FAIL: bindings at Kamailio: $b (expected one)"; return 1; }
  grep -q ":${sports[$primary]}" <<<"$b" || { log "  FAIL: binding $b is not node $primary's (port ${sports[$primary]})"; return 1; }
  [ "$(registered_in "$standby")" = 0 ] || { log "  FAIL: node $standby registered too"; return 1; }
}

standby_answers() {
  send_fax "sip:0312345678@127.0.0.1:${sports[$standby]}" "$work/send-direct.log" || return 1
  wait_sip_jobs "$standby" 1 || return 1
  # Still one binding, the primary's: the standby took the call without registering.
  local b
  b=$(bindings)
  [ "$(wc -l <<<"$b")" = 1 ] && grep -q ":${sports[$primary]}" <<<"$b" ||
    { log "  FAIL: bindings at Kamailio: $b (expected node $primary's only)"; return 1; }
  [ "$(registered_in "$standby")" = 0 ] || { log "  FAIL: node $standby registered"; return 1; }
}

registered_more() { [ "$(registered_in "$1")" -gt "$2" ]; }
takeover() {
  local t0 t1 elapsed before
  before=$(registered_in "$standby")
  t0=$(date +%s%N)
  stop_node "$primary" KILL
  wait_until $((bound_s + margin_s)) "node $standby registered after node $primary was killed" \
    registered_more "$standby" "$before" || return 1
  t1=$(date +%s%N)
  elapsed=$(((t1 - t0) / 1000000))
  echo "     node $standby registered $((elapsed / 1000)).$(printf '%03d' $((elapsed % 1000))) s after node $primary was killed (bound ${bound_s} s)"
  bindings | grep -q ":${sports[$standby]}" ||
    { log "  FAIL: node $standby's contact is not at Kamailio: $(bindings)"; return 1; }
  # Through the trunk: Kamailio rings the account's contacts (the dead node's binding stays until
  # it expires; its branch is not answered), node $standby takes the call.
  send_fax "sip:0312345678@127.0.0.1:$kport" "$work/send-trunk.log" || return 1
  wait_sip_jobs "$standby" 2
}

restarted_standby() {
  local before
  before=$(registered_in "$primary")
  start_node "$primary" || return 1
  # The lease is node $standby's: the restarted node does not register. Observed for one lease
  # period (the lease thread of a node that wrongly thought it held the lease would have
  # registered by then).
  local deadline=$((SECONDS + lease_s))
  while [ $SECONDS -lt $deadline ]; do
    [ "$(registered_in "$primary")" = "$before" ] || { log "  FAIL: the restarted node $primary registered"; return 1; }
    sleep 0.2
  done
  bindings | grep -q ":${sports[$standby]}" ||
    { log "  FAIL: node $standby's contact is gone from Kamailio: $(bindings)"; return 1; }
}

graceful_handover() {
  # The registered node stops (SIGTERM): it removes its binding (un-REGISTER) and lets the lease
  # go, so the other registers at its next tick instead of after the lease expired.
  local before t0 elapsed
  before=$(registered_in "$primary")
  t0=$SECONDS
  stop_node "$standby"
  wait_until $((lease_s + margin_s)) "node $primary registered after node $standby stopped" \
    registered_more "$primary" "$before" || return 1
  echo "     node $primary registered $((SECONDS - t0)) s after node $standby was stopped"
  local b
  b=$(bindings)
  grep -q ":${sports[$standby]}" <<<"$b" &&
    { log "  FAIL: node $standby's binding is still at Kamailio after its stop: $b"; return 1; }
  grep -q ":${sports[$primary]}" <<<"$b" ||
    { log "  FAIL: node $primary's contact is not at Kamailio: $b"; return 1; }
}

check one_binding one_binding
check standby_answers standby_answers
check takeover takeover
check restarted_standby restarted_standby
check graceful_handover graceful_handover
for i in 1 2; do
  grep -q "trunk-secret-1" "$work/node$i.log" && { echo "FAIL the SIP password is in node $i's log"; failures=$((failures + 1)); }
done
[ "$failures" -eq 0 ]
