#!/usr/bin/env bash
# Several atdeskd nodes on one database (docs/postgresql.md, "Several nodes"): three atdeskd on
# loopback ports share a PostgreSQL 15 and the key file, and print on ONE ippeveprinter, which
# keeps every document it receives (counted by the job name atdesk-<id> in its file names).
#   1. Faxes uploaded to all three nodes are held (alice is busy); her presence set through ONE
#      node releases all of them, wherever they were received; each prints once.
#   2. Nodes are killed with SIGKILL at random instants while faxes are uploaded to all three,
#      presence changes and releases come in, and are started again (a new node each time). The
#      jobs a dead node was working on are taken over when its lease (lease_s = 3) expires.
#      Afterwards every acknowledged job (HTTP 201) is printed exactly once at the printer, no
#      document is printed twice, and nothing stays in a working state past the lease time.
#
# usage: pg_nodes.sh <repo root> <build dir> [cycles]
#   cycles: ATDESK_NODES_CYCLES overrides (default 8); ATDESK_NODES_SEED replays the instants.
set -euo pipefail

root=$1
. "$root/scripts/lib/common.sh"
build=$2
cycles=${ATDESK_NODES_CYCLES:-${3:-8}}
seed=${ATDESK_NODES_SEED:-$(($(date +%s) % 100000))}
RANDOM=$seed
atdeskd="$build/src/app/daemon/atdeskd"
work=$(mktemp -d /tmp/atdesk-nodes.XXXXXX)
chmod 700 "$work"
lease_s=3
ok=0
declare -a pids ports

cleanup() {
  stop_nodes
  "$root/scripts/test-printer" stop "$work/printer" >/dev/null 2>&1 || true
  stop_test_database "$work/pg"
  if [ "$ok" -ne 1 ]; then
    log "seed $seed"
    node_logs 30
  fi
  rm -rf "$work"
}
trap cleanup EXIT

url=$(start_test_database "$work/pg")
sql() { psql "$url" -qAtc "$1"; }

# Printing takes a while (0.2 s a document, one at a time at the printer), so that a node killed
# at a random instant is likely to leave jobs in `printing` for another node to take over.
printf '#!/bin/sh\nsleep 0.2\n' >"$work/slow-print"
chmod 755 "$work/slow-print"
printer_port=$(free_port)
TEST_PRINTER_COMMAND="$work/slow-print" \
  "$root/scripts/test-printer" start "$work/printer" "$printer_port" atdesk-nodes >/dev/null
printer_spool="$work/printer/spool"

token_file="$work/admin.token"
for i in 1 2 3; do
  ports[$i]=$(free_port)
  node_config "$i" nodes "$printer_port" "$url" "$lease_s" >"$work/node$i.toml"
done

presence() {  # presence NODE AVAILABILITY LOCATION
  node_api "$1" PUT /api/v1/presence/local/alice -H 'Content-Type: application/json' \
    -d "{\"availability\":\"$2\",\"location\":\"$3\"}" >/dev/null
}
upload() {  # upload NODE: prints the acknowledged job's id, or fails
  local out code
  out=$(node_api "$1" POST /api/v1/jobs -w '\n%{http_code}' -F "document=@$work/fax.tif" \
    -F "sender=03$((10000000 + RANDOM % 89999999))" 2>/dev/null) || return 1
  code=${out##*$'\n'}
  [ "$code" = 201 ] || return 1
  sed '$d' <<<"$out" | jq -r .id
}
count_in() { sql "SELECT count(*) FROM jobs WHERE state IN ($1)"; }
# No job stays in a working state past its lease: every node looks for expired leases every
# lease_s / 3 (1 s here), so a lease expired 10 s ago (by the database's clock) means a job
# nobody took over.
stale=0
check_no_stale() {
  local n
  n=$(sql "SELECT count(*) FROM jobs WHERE state IN ('stored', 'releasing', 'printing') AND lease_expires < now() - interval '10 seconds'")
  if [ "$n" != 0 ]; then
    log "  FAIL: $n job(s) in a working state whose lease expired more than 10 s ago:"
    sql "SELECT id, state, lease_owner, now() - lease_expires FROM jobs WHERE state IN ('stored', 'releasing', 'printing') AND lease_expires < now() - interval '10 seconds'" >&2
    stale=1
  fi
  return 0
}
"$root/scripts/sample-fax" "$work/fax.tif" 1 >/dev/null
start_node 1
node_api 1 POST /api/v1/recipients -H 'Content-Type: application/json' \
  -d '{"pattern":"prefix:03","recipient":"user:local:alice"}' >/dev/null
presence 1 busy remote
start_node 2
start_node 3
for i in 1 2 3; do
  grep -q "node .*leased for $lease_s s" "$work/node$i.log"
done

log "held on three nodes, released by a presence change seen by one"
: >"$work/held"
for i in 1 2 3 1 2 3; do upload "$i" >>"$work/held"; done
expect_eq "faxes acknowledged" "$(wc -l <"$work/held")" 6
none_received() { [ "$(count_in "'received', 'stored'")" = 0 ]; }
wait_until 60 "faxes still undecided" none_received
expect_eq "held" "$(count_in "'held'")" 6
presence 2 available office
all_printed() { [ "$(count_in "'printed'")" = "$1" ]; }
wait_until 90 "the held faxes did not all print" all_printed 6
while read -r id; do
  expect_eq "documents of held job $id" "$(printed_count "$id")" 1
done <"$work/held"
expect_eq "releases by node 2's presence" \
  "$(sql "SELECT count(DISTINCT job_id) FROM job_history WHERE to_state = 'releasing' AND actor = 'presence:local:alice'")" 6

log "nodes killed at random instants ($cycles cycles, seed $seed)"
: >"$work/acked"
worker() {  # worker NODE: uploads, presence changes and releases until the stop file appears
  local i=$1 id
  while [ ! -e "$work/stop" ]; do
    id=$(upload "$i") || { sleep 0.05; continue; }
    echo "$id" >>"$work/acked"
    case $((RANDOM % 8)) in
      0) presence "$i" available office 2>/dev/null || true ;;
      1) presence "$i" busy remote 2>/dev/null || true ;;
      2) node_api "$i" POST "/api/v1/jobs/$id/release" -H 'Content-Type: application/json' -d '{}' \
           >/dev/null 2>&1 || true ;;
    esac
  done
}
for ((c = 1; c <= cycles; c++)); do
  rm -f "$work/stop"
  workers=()
  for i in 1 2 3; do
    worker "$i" &
    workers+=($!)
  done
  victim=$((1 + RANDOM % 3))
  sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.3f", 0.3 + (r % 1500) / 1000 }')"
  stop_node "$victim" KILL
  touch "$work/stop"
  wait "${workers[@]}" 2>/dev/null || true
  check_no_stale
  start_node "$victim"
done

log "settling: every acknowledged job printed once, nothing left in a working state"
presence 3 busy remote
presence 1 available office
settle_started=$SECONDS
nothing_left() {
  check_no_stale
  [ "$(count_in "'received', 'stored', 'held', 'releasing', 'printing'")" = 0 ]
}
# The last node killed left its jobs leased for lease_s; one of the others takes them over at its
# next tick (lease_s / 3), looks them up at the printer (reconcile grace 3 s) and prints them.
wait_until $((60 + $(sort -u "$work/acked" | wc -l) / 2)) \
  "jobs still not final: $(sql "SELECT state || ' ' || count(*) FROM jobs WHERE state NOT IN ('printed') GROUP BY state" | tr '\n' ' ')" \
  nothing_left
settle=$((SECONDS - settle_started))

failures=0
acked=$(sort -u "$work/acked" | wc -l)
state_in_database() { sql "SELECT state FROM jobs WHERE id = '$1'"; }
expect_printed_once "$work/acked" state_in_database || failures=$((failures + 1))
expect_eq "jobs in the database and documents at the printer" \
  "$(find "$printer_spool" -type f -iname '*atdesk-*.pdf' | wc -l)" "$(count_in "'printed'")"
taken=$(cat "$work"/node?.log | grep -c "taken over in state" || true)
printed=$(count_in "'printed'")
echo "pg_nodes: $cycles SIGKILLs, $acked acknowledged jobs, $printed printed, $taken taken over" \
  "from a dead node, settled in $settle s, seed $seed"
[ "$failures" -eq 0 ]
[ "$stale" -eq 0 ]
[ "$taken" -gt 0 ] || { log "  FAIL: no job was taken over from a killed node"; exit 1; }
ok=1
log "ok   pg_nodes"
