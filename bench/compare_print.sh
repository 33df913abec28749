#!/usr/bin/env bash
# Side by side, in one run: N one-page documents printed on the same ippeveprinter
#   - through atdeskd: uploaded over the REST API, each with a presence decision (the sender is
#     in the recipient table and the recipient is available at the office), then submitted;
#   - through CUPS: `lp` to a private cupsd queue (driverless "everywhere") on that printer.
# Wall time from the first submission until the printer holds all N documents. Prints a
# Markdown table.   bench/compare_print.sh [N]   (ATDESK_BUILD_DIR: an existing build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib/common.sh"
n=${1:-50}
"$root/scripts/install-deps" --bench >/dev/null
# ATDESK_BUILD_DIR: use an existing build (with the targets below) instead of build-release.
build=$(release_build "$root" atdeskd)
work=$(mktemp -d /tmp/atdesk-cmp.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  "$root/scripts/test-printer" stop "$work/printer" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
pport=$(free_port); aport=$(free_port); cport=$(free_port)
"$root/scripts/test-printer" start "$work/printer" "$pport" atdesk-cmp >/dev/null
spool="$work/printer/spool"
count() { find "$spool" -type f \( -name '*.pdf' -o -name '*.pwg' -o -name '*.urf' \) | wc -l; }
"$root/scripts/sample-fax" "$work/fax.tif" 1 >/dev/null
tiff2pdf -o "$work/doc.pdf" "$work/fax.tif"

wait_for() {  # wait_for COUNT -> seconds since $t0
  local want=$1 deadline=$((SECONDS + 600))
  until [ "$(count)" -ge "$want" ]; do
    [ $SECONDS -lt $deadline ] || { echo "timed out at $(count) of $want" >&2; exit 1; }
    sleep 0.02
  done
  awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.3f", a - b }'
}

# atdeskd
base_config "$aport" "$work/state" cmp "$pport" >"$work/atdesk.toml"
"$build/src/app/daemon/atdeskd" --config "$work/atdesk.toml" >"$work/atdeskd.log" 2>&1 &
pids+=($!)
until curl -fsS "http://127.0.0.1:$aport/healthz" >/dev/null 2>&1; do sleep 0.05; done
tok=$(cat "$work/state/admin.token")
api() { curl -fsS -H "Authorization: Bearer $tok" "$@"; }
api -X POST -H 'Content-Type: application/json' -d '{"pattern":"prefix:03","recipient":"user:local:alice"}' \
  "http://127.0.0.1:$aport/api/v1/recipients" >/dev/null
api -X PUT -H 'Content-Type: application/json' -d '{"availability":"available","location":"office"}' \
  "http://127.0.0.1:$aport/api/v1/presence/local/alice" >/dev/null
t0=$(date +%s.%N)
for i in $(seq 1 "$n"); do
  api -F "document=@$work/doc.pdf" -F "sender=03$((10000000 + i))" "http://127.0.0.1:$aport/api/v1/jobs" >/dev/null
done
atdesk_s=$(wait_for "$n")
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
for i in $(seq 1 "$n"); do
  lp -h "127.0.0.1:$cport" -d cmp "$work/doc.pdf" >/dev/null
done
cups_s=$(wait_for $((base + n)))

echo "| path ($n one-page documents to one ippeveprinter) | seconds | documents/s | time vs atdesk |"
echo "|---|---|---|---|"
awk -v a="$atdesk_s" -v c="$cups_s" -v n="$n" 'BEGIN {
  printf "| atdeskd (upload, presence decision, IPP) | %.2f | %.1f | 1.00x |\n", a, n / a
  printf "| CUPS (lp to a driverless queue) | %.2f | %.1f | %.2fx |\n", c, n / c, c / a }'
