#!/usr/bin/env bash
# Fax over SIP, whole process: N concurrent 1-page fax calls (`atdesk fax send`, the same stack)
# to a real atdeskd on loopback, in G.711 and in T.38. Reports, per mode: calls completed, the
# longest call; media timing on both sides: packets that came after their frame was played
# (late packets) and the share of 20 ms ticks a media thread woke for 10 ms or more late
# (atdeskd's from GET /metrics, the senders' from `atdesk fax send`'s "media:" line), which shows
# which side falls behind; atdeskd's CPU time (utime+stime from /proc) per call-second, and the
# number of calls one core could carry at that rate. The senders run on the same machine and
# cost about as much as the receiver, so N is limited by the machine, not by atdeskd.
#   bench/fax_sip_load.sh [CALLS]          (default 20; ATDESK_BUILD_DIR=build to reuse a build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib/common.sh"
calls=${1:-20}
"$root/scripts/install-deps" >/dev/null
# ATDESK_BUILD_DIR: use an existing build (with the targets below) instead of build-release.
build=$(release_build "$root" atdeskd atdesk)
work=$(mktemp -d /tmp/atdesk-siploand.XXXXXX)
chmod 700 "$work"
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  "$root/scripts/test-printer" stop "$work/printer" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
pport=$(free_port)
aport=$(free_port)
sport=$(free_port)
"$root/scripts/test-printer" start "$work/printer" "$pport" atdesk-sipload >/dev/null
{
  base_config "$aport" "$work/state" load "$pport"
  printf '[sip]\naddress = "127.0.0.1"\nport = %s\nallowed_peers = ["127.0.0.1"]\nlocal_id = "atdesk bench"\n' "$sport"
} >"$work/atdesk.toml"
"$build/src/app/daemon/atdeskd" --config "$work/atdesk.toml" >"$work/atdeskd.log" 2>&1 &
pid=$!
until curl -fsS "http://127.0.0.1:$aport/healthz" >/dev/null 2>&1; do sleep 0.05; done
"$root/scripts/sample-fax" "$work/fax.tif" 1 >/dev/null
ticks=$(getconf CLK_TCK)
cpu_ms() { awk -v t="$ticks" '{print int(($14 + $15) * 1000 / t)}' "/proc/$pid/stat"; }
tok=$(cat "$work/state/admin.token")
# metric NAME_AND_LABELS: one sample of atdeskd's /metrics (0 when absent).
metrics() { curl -fsS -H "Authorization: Bearer $tok" "http://127.0.0.1:$aport/metrics"; }
metric() { metrics | awk -v m="$1" '$1 == m {v = $2} END {print v + 0}'; }
late_packets() { echo $(($(metric 'atdesk_fax_media_late_packets_total{media="rtp"}') + $(metric 'atdesk_fax_media_late_packets_total{media="udptl"}'))); }
all_ticks() { metric atdesk_fax_media_wake_late_seconds_count; }
on_time_ticks() { metric 'atdesk_fax_media_wake_late_seconds_bucket{le="0.01"}'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f %%", b ? 100 * a / b : 0}'; }

echo "| mode | calls | completed | longest call s | atdeskd: late packets | atdeskd: ticks ≥ 10 ms late | senders: late packets | senders: ticks ≥ 10 ms late | atdeskd CPU ms | CPU ms per call-second | calls per core |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for mode in g711 t38; do
  flag=()
  [ "$mode" = t38 ] && flag=(--t38)
  before=$(cpu_ms)
  late0=$(late_packets); ticks0=$(all_ticks); ontime0=$(on_time_ticks)
  pids=()
  for i in $(seq 1 "$calls"); do
    ( s=$(date +%s.%N)
      if "$build/src/app/cli/atdesk" fax send --to "sip:0312345${i}@127.0.0.1:$sport" \
        --from "sip:+8131234${i}@127.0.0.1" "${flag[@]}" "$work/fax.tif" >"$work/send-$mode-$i.log" 2>&1; then
        echo "ok $(awk -v a="$(date +%s.%N)" -v b="$s" 'BEGIN {print a - b}')" >"$work/result-$mode-$i"
      else
        echo "fail" >"$work/result-$mode-$i"
      fi ) &
    pids+=($!)
  done
  wait "${pids[@]}"
  after=$(cpu_ms)
  late=$(($(late_packets) - late0))
  all=$(($(all_ticks) - ticks0))
  behind=$((all - ($(on_time_ticks) - ontime0)))
  # atdesk fax send: "media: N late packet(s), L of T 20 ms ticks 10 ms or more late"
  read -r s_late s_behind s_all < <(cat "$work"/send-"$mode"-*.log |
    awk '/^media:/ {p += $2; l += $5; t += $7} END {print p + 0, l + 0, t + 0}')
  ok=$(cat "$work"/result-"$mode"-* | grep -c '^ok' || true)
  # A call that failed: say why (the sender's last lines) before the folder is removed.
  for f in $(grep -l '^fail' "$work"/result-"$mode"-* 2>/dev/null || true); do
    n=${f##*-}
    log "call $n ($mode) failed; the sender said:"
    tail -n 5 "$work/send-$mode-$n.log" | sed 's/^/  /' >&2
  done
  longest=$(cat "$work"/result-"$mode"-* | awk '/^ok/ {if ($2 > m) m = $2} END {printf "%.1f", m}')
  call_seconds=$(cat "$work"/result-"$mode"-* | awk '/^ok/ {s += $2} END {print s}')
  cpu=$((after - before))
  per=$(awk -v c="$cpu" -v s="$call_seconds" 'BEGIN {printf "%.2f", c / s}')
  per_core=$(awk -v p="$per" 'BEGIN {printf "%d", 1000 / p}')
  echo "| $mode | $calls | $ok | $longest | $late | $(pct "$behind" "$all") | $s_late | $(pct "$s_behind" "$s_all") | $cpu | $per | $per_core |"
done
