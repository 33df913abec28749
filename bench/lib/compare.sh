# Shell helpers shared by the benchmarks that compare atdesk with plain CUPS side by side
# (bench/compare_print.sh, bench/compare_ippd.sh): ippeveprinters, a private cupsd on loopback
# with driverless queues, the count of documents the printers received, and the time until they
# hold a number of them. Source it after scripts/lib/common.sh, with $root set:
#   . "$root/bench/lib/compare.sh"; cmp_init atdesk-cmp
# Every server listens on 127.0.0.1; cmp_init's trap stops all of them and removes $work.

# cmp_init NAME: a work folder $work (/tmp/NAME.XXXXXX) and the cleanup of everything the other
# functions start.
cmp_init() {
  work=$(mktemp -d "/tmp/$1.XXXXXX")
  chmod 755 "$work"
  pids=()
  printer_dirs=()
  trap cmp_cleanup EXIT
}
cmp_cleanup() {
  local p d
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for d in "${printer_dirs[@]}"; do "$root/scripts/test-printer" stop "$d" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}

# cmp_printers K NAME: K ippeveprinters (scripts/test-printer) named NAME-0 ... NAME-(K-1);
# their ports in ${printer_ports[@]}.
cmp_printers() {
  local k port
  printer_ports=()
  for k in $(seq 0 $(($1 - 1))); do
    port=$(free_port)
    "$root/scripts/test-printer" start "$work/printer$k" "$port" "$2-$k" >/dev/null
    printer_dirs+=("$work/printer$k")
    printer_ports+=("$port")
  done
}

# Documents the printers received, all of them together.
cmp_count() {
  local d dirs=()
  for d in "${printer_dirs[@]}"; do dirs+=("$d/spool"); done
  find "${dirs[@]}" -type f \( -name '*.pdf' -o -name '*.pwg' -o -name '*.urf' \) | wc -l
}

# The document both paths print: a one-page fine fax as PDF, $work/doc.pdf.
cmp_document() {
  "$root/scripts/sample-fax" "$work/fax.tif" 1 >/dev/null
  tiff2pdf -o "$work/doc.pdf" "$work/fax.tif"
}

# cmp_wait_for COUNT: waits (up to 10 minutes) until the printers hold COUNT documents; prints
# the seconds since $t0 (set with t0=$(date +%s.%N) at the first submission).
cmp_wait_for() {
  local want=$1 deadline=$((SECONDS + 600))
  until [ "$(cmp_count)" -ge "$want" ]; do
    [ $SECONDS -lt $deadline ] || { echo "timed out at $(cmp_count) of $want" >&2; exit 1; }
    sleep 0.02
  done
  awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.3f", a - b }'
}

# Peak resident memory of a process, KiB.
cmp_hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

# cmp_atdeskd CONFIG: starts atdeskd ($build) with CONFIG and waits for its API on $aport;
# $atdeskd_pid, and api() calls the REST API with the admin token.
cmp_atdeskd() {
  "$build/src/app/daemon/atdeskd" --config "$1" >"$work/atdeskd.log" 2>&1 &
  atdeskd_pid=$!
  pids+=("$atdeskd_pid")
  until curl -fsS "http://127.0.0.1:$aport/healthz" >/dev/null 2>&1; do sleep 0.05; done
  tok=$(cat "$work/state/admin.token")
}
api() { curl -fsS -H "Authorization: Bearer $tok" "$@"; }
cmp_stop_atdeskd() { kill "$atdeskd_pid" 2>/dev/null || true; }

# cmp_cupsd: a private cupsd (CUPS 2.4) on 127.0.0.1:$cport, its files in $work/cups; $cupsd_pid.
cmp_cupsd() {
  cport=$(free_port)
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
  cupsd_pid=$!
  pids+=("$cupsd_pid")
  until lpstat -h "127.0.0.1:$cport" -r 2>/dev/null | grep -q "is running"; do sleep 0.1; done
}

# cmp_cups_queue NAME PRINTER_PORT: a driverless ("everywhere") queue on an ippeveprinter that
# takes PDF. A queue made while the printer's attributes could not be read takes no PDF ("lp:
# Unsupported document-format"); it is made again (up to 5 times) before anything is timed.
cmp_cups_queue() {
  local attempt
  for attempt in 1 2 3 4 5; do
    lpadmin -h "127.0.0.1:$cport" -p "$1" -v "ipp://127.0.0.1:$2/ipp/print" -m everywhere -E || return 1
    if ipptool -tv -T 10 "ipp://127.0.0.1:$cport/printers/$1" get-printer-attributes.test 2>/dev/null |
      grep -q 'document-format-supported.*application/pdf'; then
      return 0
    fi
    echo "CUPS queue $1 takes no PDF (attempt $attempt); making it again" >&2
    sleep 1
  done
  return 1
}

# cmp_cupsd_queues NAME PORT...: cmp_cupsd with queues NAME-0, NAME-1, ... on the printers at
# PORT...; $cupsd_pid. Debian 12's cupsd (2.4.2) sometimes aborts ("free(): corrupted unsorted
# chunks") while driverless queues are being added one after another; it is then started anew
# with a fresh configuration (at most three times), before any job is timed.
cmp_cupsd_queues() {
  local name=$1 attempt k ok
  shift
  for attempt in 1 2 3; do
    cmp_cupsd
    ok=1
    k=0
    for port in "$@"; do
      cmp_cups_queue "$name-$k" "$port" || { ok=0; break; }
      k=$((k + 1))
    done
    [ "$ok" = 1 ] && return 0
    echo "cupsd failed while adding queues (attempt $attempt); starting it anew" >&2
    kill "$cupsd_pid" 2>/dev/null || true
    wait "$cupsd_pid" 2>/dev/null || true
    rm -rf "$work/cups"
  done
  echo "cupsd could not be set up" >&2
  exit 1
}
