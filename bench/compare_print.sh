#!/usr/bin/env bash
# Side by side, in one run: N one-page documents printed on P ippeveprinters (job i goes to
# printer i mod P)
#   - through atdeskd: uploaded over the REST API, each with a presence decision (the sender is
#     in the recipient table, whose rule names the printer, and the recipient is available at
#     the office), then submitted (one job at a time per printer, the printers in parallel);
#   - through CUPS: `lp` to private cupsd queues (driverless "everywhere"), one per printer.
# Wall time from the first submission until the printers hold all N documents. Prints a
# Markdown table.   bench/compare_print.sh [N=50] [P=1]   (ATDESK_BUILD_DIR: an existing build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib/common.sh"
. "$root/bench/lib/compare.sh"
n=${1:-50}
printers=${2:-1}
"$root/scripts/install-deps" --bench >/dev/null
# ATDESK_BUILD_DIR: use an existing build (with the targets below) instead of build-release.
build=$(release_build "$root" atdeskd)
cmp_init atdesk-cmp
cmp_printers "$printers" atdesk-cmp
cmp_document
aport=$(free_port)
sender() { printf '03%d%07d' $(($1 % printers)) "$1"; }  # job i's number: printer i mod P

# atdeskd: printer k is cmp-k; numbers 03k... belong to user uk, whose rule prints on cmp-k.
{
  base_config "$aport" "$work/state" cmp-0 "${printer_ports[0]}"
  for k in $(seq 1 $((printers - 1))); do
    printf '[[printer]]\nname = "cmp-%d"\nuri = "ipp://127.0.0.1:%s/ipp/print"\n' "$k" "${printer_ports[$k]}"
  done
} >"$work/atdesk.toml"
cmp_atdeskd "$work/atdesk.toml"
for k in $(seq 0 $((printers - 1))); do
  api -X POST -H 'Content-Type: application/json' \
    -d "{\"pattern\":\"prefix:03$k\",\"recipient\":\"user:local:u$k\",\"printer\":\"cmp-$k\"}" \
    "http://127.0.0.1:$aport/api/v1/recipients" >/dev/null
  api -X PUT -H 'Content-Type: application/json' -d '{"availability":"available","location":"office"}' \
    "http://127.0.0.1:$aport/api/v1/presence/local/u$k" >/dev/null
done
t0=$(date +%s.%N)
for i in $(seq 1 "$n"); do
  api -F "document=@$work/doc.pdf" -F "sender=$(sender "$i")" "http://127.0.0.1:$aport/api/v1/jobs" >/dev/null
done
atdesk_s=$(cmp_wait_for "$n")
cmp_stop_atdeskd

# CUPS: a private cupsd on loopback with a driverless queue per printer.
cmp_cupsd_queues cmp "${printer_ports[@]}"
base=$(cmp_count)
t0=$(date +%s.%N)
for i in $(seq 1 "$n"); do
  lp -h "127.0.0.1:$cport" -d "cmp-$((i % printers))" "$work/doc.pdf" >/dev/null
done
cups_s=$(cmp_wait_for $((base + n)))

what="one ippeveprinter"
[ "$printers" -gt 1 ] && what="$printers ippeveprinters"
echo "| path ($n one-page documents to $what) | seconds | documents/s | time vs atdesk |"
echo "|---|---|---|---|"
awk -v a="$atdesk_s" -v c="$cups_s" -v n="$n" 'BEGIN {
  printf "| atdeskd (upload, presence decision, IPP) | %.2f | %.1f | 1.00x |\n", a, n / a
  printf "| CUPS (lp to a driverless queue) | %.2f | %.1f | %.2fx |\n", c, n / c, c / a }'
