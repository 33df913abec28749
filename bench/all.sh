#!/usr/bin/env bash
# Reruns the whole-process benchmarks of docs/performance.md and writes their Markdown tables on
# stdout: every figure over RUNS runs as min / median / max, each table with its command, and a
# header with the build type, the machine (cores, CPU) and the load average.
#   ATDESK_BUILD_DIR=build bench/all.sh [RUNS=5] >tables.md
# ATDESK_BUILD_DIR: a build with atdeskd, atdesk, atdesk-load and atdesk-decide (configured with
# -DATDESK_BUILD_BENCH=ON); without it the scripts build build-release (Release).
# ATDESK_BASE_BUILD_DIR: a build of another version (e.g. the commit before a change): then each
# benchmark runs alternately on both builds and the tables have a column for each ("before",
# "after"), as docs/performance.md shows them.
# ATDESK_BENCH_SKIP: a space-separated list of printed, decide, load, soak, print, print10, sip
# to leave out. ATDESK_DECIDE_JOBS (default 10000), ATDESK_DECIDE_THREADS (engine workers, 4),
# ATDESK_SOAK_ROUNDS (20) and ATDESK_SOAK_JOBS (1000) size the burst and the soak;
# ATDESK_SIP_CALLS the numbers of fax calls at once (default "60 120").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-5}
skip=" ${ATDESK_BENCH_SKIP:-} "
after=${ATDESK_BUILD_DIR:-}
before=${ATDESK_BASE_BUILD_DIR:-}
versions=(after)
[ -n "$before" ] && versions=(before after)
out=$(mktemp -d /tmp/atdesk-all.XXXXXX)
trap 'rm -rf "$out"' EXIT

load() { cut -d' ' -f1-3 /proc/loadavg; }
skipped() { [[ $skip == *" $1 "* ]]; }
build_of() { if [ "$1" = before ]; then echo "$before"; else echo "$after"; fi; }

# alternate KEY COMMAND...: runs COMMAND $runs times for each version, alternating, with
# ATDESK_BUILD_DIR set to that version's build; keeps each run's stdout in $out/KEY-VERSION-N.
alternate() {
  local key=$1 i v
  shift
  for i in $(seq "$runs"); do
    for v in "${versions[@]}"; do
      ATDESK_BUILD_DIR=$(build_of "$v") "$@" >"$out/$key-$v-$i"
    done
  done
}
# min / median / max of the numbers on stdin
spread() {
  sort -g | awk '{v[NR] = $1} END {printf "%s / %s / %s", v[1], v[int((NR + 1) / 2)], v[NR]}'
}
# row LABEL KEY JQ: a table row with the spread of JQ over each version's runs of KEY
row() {
  local label=$1 key=$2 expr=$3 line v
  line="| $label |"
  for v in "${versions[@]}"; do
    line+=" $(for f in "$out/$key-$v-"*; do jq "$expr" "$f"; done | spread) |"
  done
  echo "$line"
}
header() {
  local v line="| measure |" rule="|---|"
  for v in "${versions[@]}"; do
    line+=" $v: min / median / max |"
    rule+="---|"
  done
  echo "$line"
  echo "$rule"
}

build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "${after:-$root/build-release}/CMakeCache.txt" \
  2>/dev/null || true)
cpu=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)
echo "Build: ${build_type:-Release}. Machine: $(nproc) cores, $cpu. Load average at the start: $(load)."
echo "Each figure: min / median / max over $runs runs$([ -n "$before" ] && echo ", the two versions alternating")."
echo

if ! skipped printed; then
  for seconds in 0.5 3; do
    jobs=30
    [ "$seconds" = 3 ] && jobs=10
    alternate "printed$seconds" "$root/bench/printed_latency.sh" "$jobs" "$seconds"
    echo "Printer done after $seconds s (\`bench/printed_latency.sh $jobs $seconds\`: ippeveprinter, no job events; load now $(load)):"
    echo
    header
    row "completed → \`printed\`, p50 ms" "printed$seconds" .completed_to_printed_ms.p50
    row "completed → \`printed\`, p99 ms" "printed$seconds" .completed_to_printed_ms.p99
    row "status requests per job" "printed$seconds" '.status_requests_per_job * 10 | round / 10'
    row "status requests per second" "printed$seconds" '.status_requests_per_second * 10 | round / 10'
    echo
  done
fi

if ! skipped decide; then
  n=${ATDESK_DECIDE_JOBS:-10000}
  workers=${ATDESK_DECIDE_THREADS:-4}
  alternate decide "$root/bench/decide.sh" "$n" 10000 "$workers"
  echo "A burst of $n stored one-page faxes decided (\`bench/decide.sh $n 10000 $workers\`; load now $(load)):"
  echo
  header
  row "decided jobs/s" decide '.decided_per_second | round'
  row "workers' start → decision, p50 ms" decide '.start_to_decision_ms.p50 | round'
  row "workers' start → decision, p99 ms" decide '.start_to_decision_ms.p99 | round'
  row "held jobs' previews done after, s" decide '.held_previews_done_after_s * 10 | round / 10'
  row "peak RSS, MiB" decide '.rss_peak_kib / 1024 | round'
  row "job writes per SQLite commit" decide '.job_writes_per_commit // 1'
  echo
fi

if ! skipped load; then
  alternate load "$root/bench/load.sh" 1000 10000 4
  echo "Load (\`bench/load.sh 1000 10000 4\`: atdeskd, SQLite, encrypted spool, ippeveprinter; load now $(load)):"
  echo
  header
  row "uploads accepted, jobs/s" load '.accepted_per_second | round'
  row "stored → decision, p50 ms" load '.stored_to_decision_ms.p50 | round'
  row "stored → decision, p99 ms" load '.stored_to_decision_ms.p99 | round'
  row "all 1,000 printed after, s" load '.all_printed_after_seconds * 10 | round / 10'
  row "RSS idle, MiB" load '.rss_idle_empty_kib / 1024 | round'
  row "RSS peak, MiB" load '.rss_peak_kib / 1024 | round'
  echo
fi

if ! skipped soak; then
  rounds=${ATDESK_SOAK_ROUNDS:-20}
  per=${ATDESK_SOAK_JOBS:-1000}
  echo "Soak (\`ATDESK_SOAK_ROUNDS=$rounds bench/load.sh $per 10000 4\`: one daemon, $rounds rounds, one run; load at the start $(load)): RSS after each round, MiB:"
  echo
  echo "| version | idle | $(seq -s ' | ' 1 "$rounds") | peak |"
  echo "|---|---|$(printf -- '---|%.0s' $(seq "$rounds"))---|"
  for v in "${versions[@]}"; do
    ATDESK_BUILD_DIR=$(build_of "$v") ATDESK_SOAK_ROUNDS=$rounds \
      "$root/bench/load.sh" "$per" 10000 4 >"$out/soak-$v"
    jq -r --arg v "$v" '"| \($v) | \(.rss_idle_empty_kib / 1024 | round) | " +
      ([.rss_after_round_kib[] / 1024 | round | tostring] | join(" | ")) +
      " | \(.rss_peak_kib / 1024 | round) |"' "$out/soak-$v"
  done
  echo
fi

# print_table KEY PRINTERS: the table of bench/compare_print.sh 50 PRINTERS.
print_table() {
  local key=$1 printers=$2 v line cups ratio
  alternate "$key" "$root/bench/compare_print.sh" 50 "$printers"
  echo "Printing path (\`bench/compare_print.sh 50 $printers\`: 50 documents to $printers ippeveprinter(s), through atdeskd and through CUPS; load now $(load)):"
  echo
  header
  line="| atdeskd, all printed after, s |"
  cups="| CUPS, all printed after, s |"
  ratio="| CUPS time / atdesk time |"
  for v in "${versions[@]}"; do
    line+=" $(for f in "$out/$key-$v-"*; do awk -F'|' '/^\| atdeskd/ {gsub(/ /, "", $3); print $3}' "$f"; done | spread) |"
    cups+=" $(for f in "$out/$key-$v-"*; do awk -F'|' '/^\| CUPS/ {gsub(/ /, "", $3); print $3}' "$f"; done | spread) |"
    ratio+=" $(for f in "$out/$key-$v-"*; do awk -F'|' '/^\| CUPS/ {gsub(/[ x]/, "", $5); print $5}' "$f"; done | spread) |"
  done
  echo "$line"
  echo "$cups"
  echo "$ratio"
  echo
}
skipped print || print_table print 1
skipped print10 || print_table print10 10
if ! skipped sip; then
  # sip_row LABEL KEY MODE FIELD: the spread of one column (|-separated field) of a mode's row.
  sip_row() {
    local label=$1 key=$2 mode=$3 field=$4 line v
    line="| $label |"
    for v in "${versions[@]}"; do
      line+=" $(for f in "$out/$key-$v-"*; do
        awk -F'|' -v m="$mode" -v c="$field" '$2 ~ m {gsub(/[ %]/, "", $c); print $c}' "$f"
      done | spread) |"
    done
    echo "$line"
  }
  for calls in ${ATDESK_SIP_CALLS:-60 120}; do
    alternate "sip$calls" "$root/bench/fax_sip_load.sh" "$calls"
    echo "Fax over SIP, $calls calls at once (\`bench/fax_sip_load.sh $calls\`: one-page faxes from \`atdesk fax send\` to atdeskd on loopback, G.711 then T.38; load now $(load)):"
    echo
    for mode in g711 t38; do
      echo "$mode:"
      echo
      header
      sip_row "completed calls" "sip$calls" "$mode" 4
      sip_row "longest call, s" "sip$calls" "$mode" 5
      sip_row "atdeskd: late packets" "sip$calls" "$mode" 6
      sip_row "atdeskd: ticks ≥ 10 ms late, %" "sip$calls" "$mode" 7
      sip_row "senders: late packets" "sip$calls" "$mode" 8
      sip_row "senders: ticks ≥ 10 ms late, %" "sip$calls" "$mode" 9
      sip_row "atdeskd CPU ms per call-second" "sip$calls" "$mode" 11
      echo
    done
  done
fi
echo "Load average at the end: $(load)."
