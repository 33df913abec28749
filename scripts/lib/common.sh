# Shell helpers shared by the integration suites and the whole-process benchmarks.
# Source it: . "$root/scripts/lib/common.sh"

# A message for people, on stderr.
log() { printf '%s\n' "$*" >&2; }

# A TCP port on 127.0.0.1 that nothing listens on now: 20000-32767, below Linux's ephemeral range
# (32768-60999), where the local end of any outgoing connection may hold a port that a listener
# then cannot bind ("Address already in use") although nothing listens on it. SRANDOM: a suite
# that seeds RANDOM for its own replayable choices must not replay its ports too.
free_port() {
  local port
  while :; do
    port=$((20000 + SRANDOM % 12768))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
}

# The atdesk.toml the suites and benchmarks start from, on stdout: the API on 127.0.0.1, the
# state in one folder, Japanese number plan, and one default printer on a local ippeveprinter.
# The printer table comes last, so keys printed right after it (timeout_ms) belong to it.
#   base_config <api_port> <state_dir> <printer_name> <printer_port> >"$work/atdesk.toml"
base_config() {
  cat <<TOML
[server]
listen = "127.0.0.1:$1"
[storage]
state_dir = "$2"
[numbers]
country_code = "81"
[[printer]]
name = "$3"
uri = "ipp://127.0.0.1:$4/ipp/print"
default = true
TOML
}

# The Release build the whole-process benchmarks run: $ATDESK_BUILD_DIR as it is when set, else
# <root>/build-release (configured without tests) with <targets> built. Prints the build folder.
#   build=$(release_build "$root" atdeskd atdesk-load)
release_build() {
  local root=$1
  shift
  if [ -n "${ATDESK_BUILD_DIR:-}" ]; then
    echo "$ATDESK_BUILD_DIR"
    return
  fi
  local build="$root/build-release"
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DATDESK_BUILD_TESTS=OFF >/dev/null
  cmake --build "$build" --target "$@" >/dev/null
  echo "$build"
}

# Documents an ippeveprinter (started with -k) kept for a job, whose file names carry the job name
# atdesk-<job id>; the suite sets $printer_spool.
printed_files() { find "$printer_spool" -type f -iname "*atdesk-$1*.pdf" 2>/dev/null | sort; }
printed_count() { printed_files "$1" | wc -l; }
printed_pages() { pdfinfo "$(printed_files "$1" | head -n 1)" | awk '/^Pages:/ {print $2}'; }

# expect_printed_once ACKED STATE_OF: the end of a crash test. Every job id in the file ACKED
# (one per line, repeats allowed) is `printed` (the command STATE_OF <id> says its state) with
# exactly one document in $printer_spool, and no job at all, acknowledged or not, has two
# documents there. Logs a FAIL line per fault; returns 1 when there was any.
expect_printed_once() {
  local acked=$1 state_of=$2 faults=0 id state count dups
  while read -r id; do
    state=$("$state_of" "$id")
    count=$(printed_count "$id")
    if [ "$state" != printed ] || [ "$count" != 1 ]; then
      log "  FAIL: acknowledged job $id is '$state' with $count document(s) at the printer"
      faults=$((faults + 1))
    fi
  done < <(sort -u "$acked")
  dups=$(find "$printer_spool" -type f -iname '*atdesk-*.pdf' -printf '%f\n' |
    sed -E 's/^[0-9]+-atdesk-([0-9a-f]+).*/\1/' | sort | uniq -d | wc -l)
  if [ "$dups" != 0 ]; then
    log "  FAIL: $dups job(s) printed more than once"
    faults=$((faults + 1))
  fi
  [ "$faults" -eq 0 ]
}

# A PostgreSQL 15 of its own for a suite (scripts/test-postgres: a new cluster in <dir>, reached
# through a Unix socket there, no TCP) with an empty database "atdesk"; prints that database's
# connection string. stop_test_database <dir> stops it (from the suite's cleanup; harmless when
# it never started). The folder goes with the suite's work folder.
#   url=$(start_test_database "$work/pg")
start_test_database() {
  local scripts
  scripts=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  "$scripts/test-postgres" start "$1" >/dev/null
  psql "$("$scripts/test-postgres" url "$1" postgres)" -qAtc "CREATE DATABASE atdesk" >/dev/null
  "$scripts/test-postgres" url "$1" atdesk
}
stop_test_database() {
  local scripts
  scripts=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  "$scripts/test-postgres" stop "$1" >/dev/null 2>&1 || true
}

expect_eq() {  # expect_eq WHAT ACTUAL EXPECTED
  if [ "$2" != "$3" ]; then
    log "  FAIL: $1: got '$2', expected '$3'"
    return 1
  fi
}

# wait_until SECONDS WHAT COMMAND...: runs COMMAND every 0.1 s until it succeeds; after SECONDS
# it logs "FAIL: WHAT" and fails.
wait_until() {
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@"; do
    if [ $SECONDS -ge $deadline ]; then
      log "  FAIL: $what"
      return 1
    fi
    sleep 0.1
  done
}

# wait_healthy URL PID NAME: waits up to 60 s (a loaded machine) for GET URL/healthz to answer;
# fails at once, naming NAME, if process PID has exited.
wait_healthy() {
  local url=$1 pid=$2 name=$3
  for _ in $(seq 1 1200); do
    curl -fsS "$url/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || { log "$name exited"; return 1; }
    sleep 0.05
  done
  log "$name did not start"
  return 1
}

# Several atdeskd on one test database (pg_nodes, pg_nodes_xmpp, sip_nodes). The suite sets
# $atdeskd, $work and $token_file, and keeps node I's API port in ports[I]; these keep its
# process in pids[I] (empty once it is stopped).
# node_config I PRINTER_NAME PRINTER_PORT URL LEASE_S: node I's atdesk.toml on stdout, to which
# the suite adds its own tables: a state folder of its own (its lock), the key file and admin
# token every node shares, the database and [cluster].
node_config() {
  base_config "${ports[$1]}" "$work/node$1" "$2" "$3" |
    sed "/^state_dir = /a key_file = \"$work/spool.key\"\nadmin_token_file = \"$token_file\""
  printf '[store]\nurl = "%s"\n[cluster]\nlease_s = %d\n' "$4" "$5"
}
start_node() {  # start_node I: starts node I on $work/nodeI.toml; returns when it answers
  "$atdeskd" --config "$work/node$1.toml" >>"$work/node$1.log" 2>&1 &
  pids[$1]=$!
  wait_healthy "http://127.0.0.1:${ports[$1]}" "${pids[$1]}" "node $1"
}
stop_node() {  # stop_node I [SIGNAL]: TERM (a clean stop) unless told KILL (a crash); waits
  [ -n "${pids[$1]:-}" ] || return 0
  kill "-${2:-TERM}" "${pids[$1]}" 2>/dev/null || true
  wait "${pids[$1]}" 2>/dev/null || true
  pids[$1]=""
}
stop_nodes() {  # every node still running, cleanly (the suite's cleanup)
  local i
  for i in "${!pids[@]}"; do stop_node "$i"; done
}
node_logs() {  # node_logs LINES: the end of each node's log (the cleanup of a failed suite)
  local i
  for i in "${!ports[@]}"; do
    log "---- node $i log (last $1 lines) ----"
    tail -n "$1" "$work/node$i.log" >&2 || true
  done
}
node_api() {  # node_api I METHOD PATH [curl args...]
  local i=$1 method=$2 path=$3
  shift 3
  curl -sS --max-time 10 -X "$method" -H "Authorization: Bearer $(cat "$token_file")" "$@" \
    "http://127.0.0.1:${ports[$i]}$path"
}
