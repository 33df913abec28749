#!/usr/bin/env bash
# Side by side, in one run: N one-page PDF print jobs from a PC's point of view, held and then
# printed on the same ippeveprinter
#   - through atdesk: Print-Job to atdesk-ippd (ipptool, each job until it is `completed`, i.e.
#     stored by atdeskd), the owner's presence "busy" so every job is held, then the owner
#     becomes available and atdeskd prints them all;
#   - through CUPS: `lp -H indefinite` to a private cupsd queue (driverless "everywhere") on that
#     printer, then every job released with `lp -i <id> -H resume`.
# Wall time from the first submission until the printer holds all N documents, jobs per second,
# and the peak resident memory (VmHWM) of the server processes. Prints a Markdown table.
#   bench/compare_ippd.sh [N]   (ATDESK_BUILD_DIR: an existing build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib/common.sh"
. "$root/bench/lib/compare.sh"
n=${1:-50}
"$root/scripts/install-deps" --bench >/dev/null
build=$(release_build "$root" atdeskd atdesk-ippd)
cmp_init atdesk-cmp-ipp
cmp_printers 1 atdesk-cmp-ipp
cmp_document
aport=$(free_port); iport=$(free_port)

# atdesk: atdeskd with [ipp_server]; alice's jobs are held while she is busy.
{
  base_config "$aport" "$work/state" cmp "${printer_ports[0]}"
  printf '[ipp_server]\nport = %s\nqueues = ["office"]\n' "$iport"
} >"$work/atdesk.toml"
cmp_atdeskd "$work/atdesk.toml"
until ipptool -T 5 "ipp://127.0.0.1:$iport/ipp/print/office" get-printer-attributes.test >/dev/null 2>&1; do
  sleep 0.05
done
api -X POST -H 'Content-Type: application/json' -d '{"pattern":"ipp:alice","recipient":"user:local:alice"}' \
  "http://127.0.0.1:$aport/api/v1/recipients" >/dev/null
presence() {
  api -X PUT -H 'Content-Type: application/json' -d "{\"availability\":\"$1\",\"location\":\"office\"}" \
    "http://127.0.0.1:$aport/api/v1/presence/local/alice" >/dev/null
}
presence busy
t0=$(date +%s.%N)
for i in $(seq 1 "$n"); do
  ipptool -T 60 -d requester=alice -d "jobname=bench-$i" -d format=application/pdf -d expect=9 \
    -f "$work/doc.pdf" "ipp://127.0.0.1:$iport/ipp/print/office" \
    "$root/tests/integration/ippd/print.test" >/dev/null
done
presence available
atdesk_s=$(cmp_wait_for "$n")
ippd=$(pgrep -f -- "atdesk-ippd .*--port $iport" | head -n 1)
atdesk_kb=$(($(cmp_hwm_kb "$atdeskd_pid") + $(cmp_hwm_kb "$ippd")))
cmp_stop_atdeskd

# CUPS: a private cupsd on loopback with a driverless queue on the same printer.
cmp_cupsd_queues cmp "${printer_ports[0]}"
base=$(cmp_count)
t0=$(date +%s.%N)
ids=()
for i in $(seq 1 "$n"); do
  ids+=("$(lp -h "127.0.0.1:$cport" -d cmp-0 -H indefinite "$work/doc.pdf" | awk '{print $4}')")
done
for id in "${ids[@]}"; do lp -h "127.0.0.1:$cport" -i "$id" -H resume; done
cups_s=$(cmp_wait_for $((base + n)))
cups_kb=$(cmp_hwm_kb "$cupsd_pid")

echo "| path ($n one-page PDF jobs, held then released, one ippeveprinter) | seconds | jobs/s | peak RSS |"
echo "|---|---|---|---|"
awk -v a="$atdesk_s" -v c="$cups_s" -v n="$n" -v am="$atdesk_kb" -v cm="$cups_kb" 'BEGIN {
  printf "| atdesk (IPP to atdesk-ippd, stored encrypted, held by presence, released) | %.2f | %.1f | %.1f MB (atdeskd + atdesk-ippd) |\n", a, n / a, am / 1024
  printf "| CUPS (lp -H indefinite to a driverless queue, lp -H resume) | %.2f | %.1f | %.1f MB (cupsd; filters are separate processes) |\n", c, n / c, cm / 1024 }'
