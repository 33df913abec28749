#!/usr/bin/env bash
# atdeskd printing to a PAPPL printer application: LPrint (Debian 12's lprint 1.1.0) with a Zebra
# ZPL 4-inch label printer whose device is a raw socket on loopback (label_device.py keeps what
# each job sends). Proves, counting jobs at the device:
#   1. label-sized documents print once each, on the label LPrint says is loaded (media-ready);
#   2. an A4 fax, which fits no label, is held for a person with a reason naming the sizes, and
#      nothing reaches the device;
#   3. LPrint killed (SIGKILL) and restarted while atdesk tracks a job, its job ids starting again
#      and another user's job taking the tracked id: atdesk records no false "printed" and sends
#      nothing twice.
#
# LPrint listens on every interface whatever it is told, and as root it puts its control socket
# at /run/lprint.sock. So the suite runs in its own network namespace (unshare -n: only a
# loopback interface, brought up inside) and mount namespace (a private tmpfs on /run); LPrint,
# the device and atdeskd all run inside it and nothing is reachable from outside. Needs root
# (CAP_SYS_ADMIN) for unshare.
#
# usage: lprint.sh <repo root> <build dir>
set -euo pipefail
root=$1
build=$2
. "$root/scripts/lib/common.sh"

if [ -z "${ATDESK_LPRINT_NS:-}" ]; then
  command -v lprint >/dev/null || { log "lprint not found (package lprint)"; exit 1; }
  command -v unshare >/dev/null || { log "unshare not found (package util-linux)"; exit 1; }
  if ! unshare -n -m --propagation private true 2>"/tmp/atdesk-lprint-unshare.$$"; then
    log "cannot make a private network and mount namespace (unshare -n -m): $(cat "/tmp/atdesk-lprint-unshare.$$")"
    rm -f "/tmp/atdesk-lprint-unshare.$$"
    exit 1
  fi
  rm -f "/tmp/atdesk-lprint-unshare.$$"
  exec unshare -n -m --propagation private env ATDESK_LPRINT_NS=1 bash "$0" "$@"
fi

# ---- inside the namespaces
ip link set lo up
mount -t tmpfs -o size=4m,mode=755 tmpfs /run
work=$(mktemp -d /tmp/atdesk-lprint.XXXXXX)
chmod 700 "$work"
mkdir -p "$work/home" "$work/tmp" "$work/spool" "$work/device" "$work/state"
export HOME="$work/home" TMPDIR="$work/tmp"
lprint_pid="" device_pid="" daemon_pid="" keep=0
cleanup() {
  [ -n "$daemon_pid" ] && kill -KILL "$daemon_pid" 2>/dev/null || true
  [ -n "$lprint_pid" ] && kill -KILL "$lprint_pid" 2>/dev/null || true
  [ -n "$device_pid" ] && kill -KILL "$device_pid" 2>/dev/null || true
  if [ "$keep" = 1 ]; then log "work folder kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
fail() {
  log "FAIL: $*"
  keep=1
  log "---- atdeskd log (last 30 lines) ----"
  tail -n 30 "$work/atdeskd.log" >&2 || true
  log "---- lprint log (errors) ----"
  grep '^E' "$work/lprint.log" | tail -n 10 >&2 || true
  exit 1
}
# Waits up to $1 seconds for the command after it to succeed.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.1
  done
}

lprint_port=8631
device_port=9100
api_port=8080
printer_uri="ipp://127.0.0.1:$lprint_port/ipp/print"

python3 "$root/tests/integration/lprint/label_device.py" "$device_port" "$work/device" &
device_pid=$!
wait_for 10 test -f "$work/device/ready" || fail "the label device did not start"

start_lprint() {
  lprint server -o server-port=$lprint_port -o listen-hostname=127.0.0.1 \
    -o log-file="$work/lprint.log" -o log-level=info -o spool-directory="$work/spool" \
    -o server-options=no-web-interface,no-multi-queue >>"$work/lprint.out" 2>&1 &
  lprint_pid=$!
  if [ -n "${1:-}" ]; then  # no printer yet: the port answering will do
    wait_for 30 bash -c "exec 3<>/dev/tcp/127.0.0.1/$lprint_port" 2>/dev/null ||
      fail "LPrint does not listen on port $lprint_port"
  else
    wait_for 30 ipptool -T 2 -q "$printer_uri" get-printer-attributes.test 2>/dev/null ||
      fail "LPrint does not answer on $printer_uri"
  fi
}
# Labels printed: connections that carried a label image (ZPL ~DG, Zebra ZPL II Programming
# Guide), not LPrint's status queries (~HQES) on connections of their own.
device_jobs() { grep -la '~DG' "$work/device"/*.zpl 2>/dev/null | wc -l; }

start_lprint first
# The printer: the default 4x6 in label loaded.
add_printer() {
  lprint add -d labels -v "socket://127.0.0.1:$device_port" -m zpl_4inch-203dpi-dt \
    >"$work/lprint-add.out" 2>&1 || { cat "$work/lprint-add.out" >&2; fail "lprint add failed"; }
  wait_for 30 ipptool -T 2 -q "$printer_uri" get-printer-attributes.test 2>/dev/null ||
    fail "LPrint's printer does not answer on $printer_uri"
}
add_printer

base_config "$api_port" "$work/state" labels "$lprint_port" >"$work/atdesk.toml"
url="http://127.0.0.1:$api_port"
token_file="$work/state/admin.token"
start_daemon() {
  "$build/src/app/daemon/atdeskd" --config "$work/atdesk.toml" >>"$work/atdeskd.log" 2>&1 &
  daemon_pid=$!
  wait_for 60 curl -fsS "$url/healthz" -o /dev/null 2>/dev/null || fail "atdeskd did not start"
}
api() {  # api METHOD PATH [curl args...]
  local method=$1 path=$2
  shift 2
  curl -sS --max-time 10 -X "$method" -H "Authorization: Bearer $(cat "$token_file")" "$@" "$url$path"
}
job_state() { api GET "/api/v1/jobs/$1" | jq -r .state; }
state_is() { [ "$(job_state "$1")" = "$2" ]; }
state_is_not() { [ "$(job_state "$1")" != "$2" ]; }
device_has() { [ "$(device_jobs)" -ge "$1" ]; }
# A one-page PDF of $2 x $3 points with a box and a line on it (ISO 32000-1 7.5 file structure).
make_pdf() {
  python3 - "$1" "$2" "$3" <<'PY'
import sys
out, w, h = sys.argv[1], sys.argv[2], sys.argv[3]
content = b"4 w 18 18 m 270 400 l S 36 36 100 60 re f\n"
objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        ("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %s %s] /Contents 4 0 R /Resources << >> >>" % (w, h)).encode(),
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"endstream"]
pdf = bytearray(b"%PDF-1.4\n")
offs = []
for i, o in enumerate(objs):
    offs.append(len(pdf))
    pdf += b"%d 0 obj\n" % (i + 1) + o + b"\nendobj\n"
xref = len(pdf)
pdf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
for o in offs:
    pdf += b"%010d 00000 n \n" % o
pdf += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
open(out, "wb").write(pdf)
PY
}
submit() {  # submit FILE -> job id (unknown sender: printed by the default policy)
  local out
  out=$(api POST /api/v1/jobs -F "document=@$1" -F "sender=+1 212 555 0100" -w '\n%{http_code}')
  [ "${out##*$'\n'}" = 201 ] || fail "upload of $1 was not acknowledged: $out"
  sed '$d' <<<"$out" | jq -r .id
}

make_pdf "$work/label.pdf" 288 432  # 4 x 6 in
"$root/scripts/sample-fax" "$work/fax.tif" 1 >/dev/null
start_daemon

# ---- 1. label documents print once each, on the loaded 4x6 in label
ids=()
for i in 1 2 3; do ids+=("$(submit "$work/label.pdf")"); done
for id in "${ids[@]}"; do
  wait_for 60 state_is "$id" printed || fail "label job $id is $(job_state "$id"), not printed"
done
wait_for 30 device_has 3 || fail "the device received $(device_jobs) jobs, expected 3"
sleep 0.5  # nothing more may arrive
[ "$(device_jobs)" = 3 ] || fail "the device received $(device_jobs) jobs for 3 documents"
# ZPL (Zebra ZPL II Programming Guide): ^PW is the print width in dots, and ~DG<name>,<total
# bytes>,<bytes per row> the label's image: at 203 dpi a 4x6 in label is 812 dots wide and 1218
# rows long.
for f in $(grep -la '~DG' "$work/device"/*.zpl); do
  rows=$(grep -ao '~DG[^,]*,[0-9]*,[0-9]*' "$f" | head -1 | awk -F, '{ print $2 / $3 }')
  grep -aq '\^PW812' "$f" && [ "$rows" = 1218 ] ||
    fail "$(basename "$f") is not a 4x6 in label: $(grep -ao '\^PW[0-9]*' "$f") and $rows rows"
done
echo "lprint: 3 label jobs printed once each on 4x6 in labels"
# PAPPL printers have IPP job events (RFC 3995/3996): atdeskd subscribes and waits for them in
# Get-Notifications (notify-wait), so it hears of a finished job at once instead of polling.
grep -q 'Create-Printer-Subscriptions' "$work/lprint.log" ||
  fail "atdeskd did not subscribe to LPrint's job events (no Create-Printer-Subscriptions in its log)"
grep -q 'Get-Notifications' "$work/lprint.log" ||
  fail "atdeskd did not ask LPrint for job events (no Get-Notifications in its log)"
grep -E 'Create-Printer-Subscriptions|Get-Notifications' "$work/lprint.log" | head -n 4 >&2

# ---- 2. an A4 fax fits no label: held for a person, nothing sent
fax=$(submit "$work/fax.tif")
wait_for 60 state_is "$fax" held || fail "the A4 fax is $(job_state "$fax"), not held"
reason=$(api GET "/api/v1/jobs/$fax" | jq -r .reason)
grep -q 'no medium fits' <<<"$reason" && grep -q 'na_index-4x6_4x6in' <<<"$reason" ||
  fail "the fax's reason does not name the sizes: $reason"
[ "$(device_jobs)" = 3 ] || fail "the A4 fax reached the device"
echo "lprint: A4 fax held: $reason"

# ---- 3. LPrint killed (SIGKILL) while it prints atdesk's job, restarted without its state, and
# its job ids reused by someone else's jobs.
# What LPrint 1.1.0 does (seen here): it answers Print-Job of a raster document only after it
# has printed it (PAPPL streams raster to the device while the request is open), so atdesk
# learns the job id only when the job is done; a kill during the job is a connection reset
# after the document was sent, and atdesk looks the job up by name before it sends it again.
# LPrint keeps its printers, jobs and next job id in a state file that it writes now and then (a
# job finished before the kill comes back "aborted" or done, under its old id); the ids start
# again from 1 when that state is gone (not written yet, a printer application without
# persistent state, or reset), played here by removing it.
lprint_jobs() {  # CSV rows job-id,job-name,job-state of LPrint's jobs
  ipptool -c -T 5 "$printer_uri" "$root/tests/integration/lprint/get-jobs.test" 2>/dev/null |
    grep -E '^[0-9]+,' || true
}
kill -KILL "$device_pid"  # the device is off: LPrint keeps the job processing
wait "$device_pid" 2>/dev/null || true
tracked=$(submit "$work/label.pdf")
interrupted=""
deadline=$((SECONDS + 60))
while [ -z "$interrupted" ]; do
  interrupted=$(lprint_jobs | awk -F, -v n="atdesk-$tracked" '$2 == n && $3 == "processing" { print $1 }')
  [ $SECONDS -lt $deadline ] || fail "job $tracked never became processing at LPrint: $(lprint_jobs | tr '\n' ' ')"
  [ -n "$interrupted" ] || sleep 0.1
done
# atdeskd is paused (SIGSTOP) while LPrint restarts and the foreign jobs arrive, so that its next
# look finds them there.
kill -STOP "$daemon_pid"
kill -KILL "$lprint_pid"
wait "$lprint_pid" 2>/dev/null || true
before=$(device_jobs)
rm -rf "$work/home/.lprint.conf" "$work/spool"
mkdir -p "$work/spool"
rm -f "$work/device/ready"
python3 "$root/tests/integration/lprint/label_device.py" "$device_port" "$work/device" &
device_pid=$!
wait_for 10 test -f "$work/device/ready" || fail "the label device did not start again"
start_lprint first
add_printer
# Someone else's raw ZPL labels (application/vnd.zebra-zpl, which LPrint takes) up to the id
# atdesk's job had.
printf '^XA^FO50,50^A0N,40,40^FDsomeone else^FS^XZ\n' >"$work/other.zpl"
for _ in $(seq 1 "$interrupted"); do
  ipptool -T 5 -q -f "$work/other.zpl" -d filetype=application/vnd.zebra-zpl \
    -d job-name=someone-elses-label "$printer_uri" "$root/tests/integration/lprint/print-job.test" ||
    fail "LPrint refused someone else's job"
done
lprint_jobs | awk -F, -v id="$interrupted" '$1 == id && $2 == "someone-elses-label" { f = 1 } END { exit !f }' ||
  fail "no foreign job took id $interrupted: $(lprint_jobs | tr '\n' ' ')"
kill -CONT "$daemon_pid"
wait_for 60 state_is_not "$tracked" printing || true
wait_for 60 state_is "$tracked" printed ||
  fail "job $tracked is $(job_state "$tracked") after LPrint restarted: $(api GET "/api/v1/jobs/$tracked" | jq -r .reason)"
sleep 1  # nothing more may arrive
# Printed once: one more label of atdesk's at the device (the foreign labels carry no ~DG image),
# and one job of that name at LPrint, completed.
[ "$(device_jobs)" = $((before + 1)) ] ||
  fail "the device received $(( $(device_jobs) - before )) label(s) of atdesk's after the restart, expected 1"
ours=$(lprint_jobs | awk -F, -v n="atdesk-$tracked" '$2 == n' | tr '\n' ' ')
[ "$(lprint_jobs | awk -F, -v n="atdesk-$tracked" '$2 == n' | wc -l)" = 1 ] ||
  fail "LPrint has $ours for job $tracked"
history=$(api GET "/api/v1/jobs/$tracked/history" | jq -r '.history[].reason' | tr '\n' '|')
echo "lprint: LPrint killed while printing job $tracked (its job $interrupted), restarted without its state, ids reused by $interrupted foreign jobs: printed once ($ours); history: $history"

