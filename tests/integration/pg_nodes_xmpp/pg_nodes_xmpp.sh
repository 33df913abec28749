#!/usr/bin/env bash
# Two atdeskd nodes on one database sharing one XMPP bot account (docs/xmpp.md, "Several nodes";
# docs/postgresql.md, "Several nodes"): PostgreSQL 15 (scripts/test-postgres), Prosody
# (scripts/test-prosody) or ejabberd (scripts/test-ejabberd) as ATDESK_XMPP_SERVER says (prosody
# when unset), one ippeveprinter, and alice played by xmpp_person.
#   1. The node holding the lease "chat:xmpp" is primary: it binds atdesk@localhost/atdesk with a
#      positive priority, the other atdesk@localhost/atdesk-<random> with a negative one. alice's
#      `list` to the bare address is answered exactly once, by the primary.
#   2. The primary is killed with SIGKILL. alice's next `list` (on Prosody sent once the server
#      dropped the dead session: it waits in offline storage while no resource is non-negative;
#      ejabberd keeps the dead session for XEP-0198 resumption and queues it there until the new
#      primary's session replaces that one) is answered
#      exactly once, by the other node, within lease_s + min(lease_s / 3, 5 s) + a margin of the
#      kill (the lease expires, the other node takes it at its next try, reconnects as primary).
#   3. The killed node comes back (standby now). A fax held for alice (dnd) is released by her
#      presence change, which both nodes see, and printed once.
#
# usage: pg_nodes_xmpp.sh <repo root> <build dir> <xmpp_person>
set -euo pipefail

root=$1
. "$root/scripts/lib/common.sh"
build=$2
person_bin=$3
atdeskd="$build/src/app/daemon/atdeskd"
work=$(mktemp -d /tmp/atdesk-nodes-xmpp.XXXXXX)
chmod 700 "$work"
lease_s=6
margin_s=10  # reconnection, offline delivery and the reply, on a loaded 2-core machine
bot=atdesk@localhost
server=${ATDESK_XMPP_SERVER:-prosody}
xmpp_server="$root/scripts/test-$server"
[ -x "$xmpp_server" ] || { log "ATDESK_XMPP_SERVER: expected prosody or ejabberd, got '$server'"; exit 1; }
ok=0
declare -a pids ports

cleanup() {
  exec 7>&- 2>/dev/null || true
  [ -n "${person_pid:-}" ] && { kill "$person_pid" 2>/dev/null || true; wait "$person_pid" 2>/dev/null || true; }
  stop_nodes
  "$root/scripts/test-printer" stop "$work/printer" >/dev/null 2>&1 || true
  "$xmpp_server" stop "$work/xmpp" >/dev/null 2>&1 || true
  stop_test_database "$work/pg"
  if [ "$ok" -ne 1 ]; then
    node_logs 40
    log "---- alice (last 20 lines) ----"
    tail -n 20 "$work/alice.out" >&2 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

url=$(start_test_database "$work/pg")
sql() { psql "$url" -qAtc "$1"; }

c2s_port=$(free_port)
# ejabberd takes 5-30 s to start, depending on load.
"$xmpp_server" start "$work/xmpp" "$c2s_port" "$(free_port)" atdesk botpw alice alicepw >/dev/null
printer_port=$(free_port)
"$root/scripts/test-printer" start "$work/printer" "$printer_port" atdesk-nodes-xmpp >/dev/null
printer_spool="$work/printer/spool"
install -m 600 /dev/null "$work/xmpp-password"
echo botpw >"$work/xmpp-password"

token_file="$work/admin.token"
for i in 1 2; do
  ports[$i]=$(free_port)
  {
    node_config "$i" nodes "$printer_port" "$url" "$lease_s"
    cat <<TOML
[chat.xmpp]
type = "xmpp"
jid = "$bot"
password_file = "$work/xmpp-password"
server = "127.0.0.1"
port = $c2s_port
ca_file = "$work/xmpp/ca.pem"
[chat.xmpp.location_keywords]
office = ["office"]
TOML
  } >"$work/node$i.toml"
done

xmpp_connected() {  # xmpp_connected NODE
  [ "$(node_api "$1" GET /api/v1/chat-services | jq -r '.services[] | select(.name == "xmpp") | .state')" = connected ]
}
role_of() {  # role_of NODE: the role of the node's last XMPP session, from its log
  grep -o 'chat xmpp: \(re\)\?connected to .* (\(primary\|standby\))' "$work/node$1.log" |
    tail -n 1 | grep -o '(\(primary\|standby\))' | tr -d '()'
}
is_role() { [ "$(role_of "$1")" = "$2" ] && xmpp_connected "$1"; }

# alice: orders on FD 7, what she receives in alice.out.
mkfifo "$work/alice.in"
"$person_bin" alice@localhost alicepw "$c2s_port" "$work/xmpp/ca.pem" <"$work/alice.in" \
  >"$work/alice.out" 2>"$work/alice.err" &
person_pid=$!
exec 7>"$work/alice.in"
say() { printf '%s\n' "$*" >&7; }
alice_has() { grep -q "$1" "$work/alice.out"; }
wait_until 30 "alice did not connect: $(cat "$work/alice.err")" alice_has '^connected$'
say "raw <presence to='$bot' type='subscribed'/>"  # pre-approves the bot (RFC 6121 3.4)
say "presence dnd busy"
# Replies to commands, counted after a mark (a line number of alice.out).
mark() { wc -l <"$work/alice.out"; }
replies_since() {  # replies_since MARK TEXT: lines from the bot with TEXT after MARK
  tail -n +"$(($1 + 1))" "$work/alice.out" | grep -F "$(printf 'message\t%s/' "$bot")" |
    grep -cF "$2" || true
}
reply_count_is() { [ "$(replies_since "$1" "$2")" = "$3" ]; }

"$root/scripts/sample-fax" "$work/fax.tif" 1 >/dev/null
start_node 1
wait_until 60 "node 1 did not connect to Prosody as primary" is_role 1 primary
start_node 2
wait_until 60 "node 2 did not connect to Prosody as standby" is_role 2 standby
node_api 1 POST /api/v1/recipients -H 'Content-Type: application/json' \
  -d '{"pattern":"prefix:03","recipient":"user:xmpp:alice@localhost"}' >/dev/null
# alice follows the bot's presence (the nodes accept her: she is a recipient), to see the
# server drop the killed primary's session.
say "raw <presence to='$bot' type='subscribe'/>"
wait_until 30 "alice did not see the primary's presence" \
  alice_has "$(printf 'presence\t%s/atdesk\tavailable' "$bot")"

log "a command to the bare address is answered once, by the primary"
m=$(mark)
say "send $bot list"
wait_until 30 "no answer to 'list'" reply_count_is "$m" "Nothing is held for you." 1
# A second answer, from the standby, would come as fast as the first: give it 3 s to show.
sleep 3
expect_eq "answers to 'list' from $bot" "$(replies_since "$m" "Nothing is held for you.")" 1
tail -n +"$((m + 1))" "$work/alice.out" | grep -qF "$(printf 'message\t%s/atdesk\t' "$bot")" ||
  { log "  FAIL: the answer did not come from $bot/atdesk (the primary)"; exit 1; }

log "the primary killed with SIGKILL: the other node answers within the bound"
killed_at=$SECONDS
stop_node 1 KILL
if [ "$server" = prosody ]; then
  # Prosody (without stream management) ends the session at once; a message routed to it before
  # then would be written to a dead socket, as for any client that vanishes.
  wait_until 30 "Prosody did not drop the killed primary's session" \
    alice_has "$(printf 'presence\t%s/atdesk\tunavailable' "$bot")"
fi
m=$(mark)
say "send $bot list"  # no primary now: offline storage, or the dead session's queue
bound=$((lease_s + (lease_s / 3 < 5 ? lease_s / 3 : 5) + margin_s))
wait_until "$bound" "no answer within $bound s of the kill" \
  reply_count_is "$m" "Nothing is held for you." 1
took=$((SECONDS - killed_at))
sleep 3
expect_eq "answers to 'list' after the kill" "$(replies_since "$m" "Nothing is held for you.")" 1
expect_eq "node 2's role" "$(role_of 2)" primary
grep -q "chat xmpp: now primary" "$work/node2.log" ||
  { log "  FAIL: node 2 did not log its change to primary"; exit 1; }

log "the killed node back as standby; a held fax released by a presence change prints once"
start_node 1
wait_until 60 "node 1 did not come back as standby" is_role 1 standby
presence_is() {  # presence_is NODE AVAILABILITY
  [ "$(node_api "$1" GET /api/v1/presence | jq -r '.recipients[] | select(.recipient == "user:xmpp:alice@localhost") | .presence.availability')" = "$2" ]
}
say "presence dnd busy"
wait_until 30 "node 1 does not see alice dnd" presence_is 1 do_not_disturb
wait_until 30 "node 2 does not see alice dnd" presence_is 2 do_not_disturb
out=$(node_api 1 POST /api/v1/jobs -F "document=@$work/fax.tif" -F "sender=0312345678")
id=$(jq -r .id <<<"$out")
[ -n "$id" ] && [ "$id" != null ] || { log "  FAIL: upload refused: $out"; exit 1; }
state_is() { [ "$(sql "SELECT state FROM jobs WHERE id = '$id'")" = "$1" ]; }
wait_until 30 "job $id was not held" state_is held
say "presence - in the office"
wait_until 60 "job $id was not printed" state_is printed
printed_once() { [ "$(printed_count "$id")" = 1 ]; }
wait_until 20 "job $id is not at the printer" printed_once
sleep 2  # a second document would be at the printer by now
expect_eq "documents of job $id at the printer" "$(printed_count "$id")" 1
expect_eq "releases of job $id" \
  "$(sql "SELECT count(*) FROM job_history WHERE job_id = '$id' AND to_state = 'releasing'")" 1

echo "pg_nodes_xmpp ($server): the other node answered $took s after the primary was killed" \
  "(lease_s = $lease_s, bound $bound s)"
ok=1
log "ok   pg_nodes_xmpp ($server)"
