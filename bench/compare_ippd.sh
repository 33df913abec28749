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
n=${1:-50}
"$root/scripts/install-deps" --bench >/dev/null
build=$(release_build "$root" atdeskd atdesk-ippd)
work=$(mktemp -d /tmp/atdesk-cmp-ipp.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  "$root/scripts/test-printer" stop "$work/printer" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
pport=$(free_port); aport=$(free_port); iport=$(free_port); cport=$(free_port)
"$root/scripts/test-printer" start "$work/printer" "$pport" atdesk-cmp-ipp >/dev/null
spool="$work/printer/spool"
count() { find "$spool" -type f \( -name '*.pdf' -o -name '*.pwg' -o -name '*.urf' \) | wc -l; }
"$root/scripts/sample-fax" "$work/fax.tif" 1 >/dev/null
tiff2pdf -o "$work/doc.pdf" "$work/fax.tif"
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

wait_for() {  # wait_for COUNT -> seconds since $t0
  local want=$1 deadline=$((SECONDS + 600))
  until [ "$(count)" -ge "$want" ]; do
    [ $SECONDS -lt $deadline ] || { echo "timed out at $(count) of $want" >&2; exit 1; }
    sleep 0.02
  done
  awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.3f", a - b }'
}

# atdesk: atdeskd with [ipp_server]; alice's jobs are held while she is busy.
{
  base_config "$aport" "$work/state" cmp "$pport"
  printf '[ipp_server]\nport = %s\nqueues = ["office"]\n' "$iport"
} >"$work/atdesk.toml"
"$build/src/app/daemon/atdeskd" --config "$work/atdesk.toml" >"$work/atdeskd.log" 2>&1 &
pids+=($!)
until curl -fsS "http://127.0.0.1:$aport/healthz" >/dev/null 2>&1 &&
  ipptool -T 5 "ipp://127.0.0.1:$iport/ipp/print/office" get-printer-attributes.test >/dev/null 2>&1; do
  sleep 0.05
done
tok=$(cat "$work/state/admin.token")
api() { curl -fsS -H "Authorization: Bearer $tok" "$@"; }
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
atdesk_s=$(wait_for "$n")
ippd=$(pgrep -f -- "atdesk-ippd .*--port $iport" | head -n 1)
atdesk_kb=$(($(hwm_kb "${pids[0]}") + $(hwm_kb "$ippd")))
kill "${pids[0]}"; pids=()

# CUPS: a private cupsd on loopback with a driverless queue on the same printer.
mkdir -p "$work/cups"/{cache,log,spool,state,certs,ppd}
chgrp -R lp "$work/cups" && chmod -R g+rwX "$work/cups"  # cupsd runs its helpers as lp
cat >"$work/cups/cupsd.conf" <<CONF
Listen 127.0.0.1:$cport
LogLevel warn
Browsing No
DefaultAuthType None
<Location />
  Order allow,deny
  Allow from 127.0.0.1
</Location>
<Location /admin>
  Order allow,deny
  Allow from 127.0.0.1
</Location>
CONF
cat >"$work/cups/cups-files.conf" <<CONF
ServerRoot $work/cups
RequestRoot $work/cups/spool
CacheDir $work/cups/cache
StateDir $work/cups/state
TempDir $work/cups/spool
ErrorLog $work/cups/log/error_log
AccessLog $work/cups/log/access_log
PageLog $work/cups/log/page_log
ServerBin /usr/lib/cups
DataDir /usr/share/cups
CONF
/usr/sbin/cupsd -f -c "$work/cups/cupsd.conf" -s "$work/cups/cups-files.conf" &
pids+=($!)
until lpstat -h "127.0.0.1:$cport" -r 2>/dev/null | grep -q "is running"; do sleep 0.1; done
lpadmin -h "127.0.0.1:$cport" -p cmp -v "ipp://127.0.0.1:$pport/ipp/print" -m everywhere -E
base=$(count)
t0=$(date +%s.%N)
ids=()
for i in $(seq 1 "$n"); do
  ids+=("$(lp -h "127.0.0.1:$cport" -d cmp -H indefinite "$work/doc.pdf" | awk '{print $4}')")
done
for id in "${ids[@]}"; do lp -h "127.0.0.1:$cport" -i "$id" -H resume; done
cups_s=$(wait_for $((base + n)))
cups_kb=$(hwm_kb "${pids[0]}")

echo "| path ($n one-page PDF jobs, held then released, one ippeveprinter) | seconds | jobs/s | peak RSS |"
echo "|---|---|---|---|"
awk -v a="$atdesk_s" -v c="$cups_s" -v n="$n" -v am="$atdesk_kb" -v cm="$cups_kb" 'BEGIN {
  printf "| atdesk (IPP to atdesk-ippd, stored encrypted, held by presence, released) | %.2f | %.1f | %.1f MB (atdeskd + atdesk-ippd) |\n", a, n / a, am / 1024
  printf "| CUPS (lp -H indefinite to a driverless queue, lp -H resume) | %.2f | %.1f | %.1f MB (cupsd; filters are separate processes) |\n", c, n / c, cm / 1024 }'
