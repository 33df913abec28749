#!/usr/bin/env bash
# The HylaFAX hand-off (issue 22), set up as docs/hylafax.md describes, with Debian 12's
# hylafax-server: nothing that faxgetty received is lost or unseen.
#
# faxgetty is not run (it needs a modem); this script does what it does after a reception,
# following HylaFAX 6.0's faxd sources:
#  - the document: recvq/faxNNNNNNNNN.tif, owned by uucp, mode RecvFileMode (0600), a G3 TIFF
#    whose ImageDescription is the TSI followed by one line per CallID (FaxModem::recvSetupTIFF),
#    with FaxRecvParams, FaxRecvTime and FaxDcs on every page (FaxModem::recvPageDLEData,
#    Class1Recv); faxinfo (the package's) reads it back;
#  - the CallIDs, in the order of the modem config's CallIDPattern lines (ModemServer), taken from
#    the package's config/iaxmodem and config/eicon prototypes;
#  - the hook: FaxRcvdCmd from etc/config.<devid>, with the arguments quoted as
#    `cmd "qfile" "devid" "commid" "error-msg" "callid-1" ...` (faxGettyApp::notifyRecvDone), run
#    by `/bin/sh -c` as uucp (setRealIDs), umask 077, stdin/stdout/stderr on /dev/null (detachIO),
#    in the spool folder, with an empty environment (faxApp::runCmd).
# atdeskd runs as the non-root user `atdesk` (created here when missing, as the docs say), its
# inbox owned by uucp:atdesk, mode 2770. No printer answers: jobs are stored and wait for it.
#
# usage: handoff.sh <repo root> <atdeskd> <atdesk>; exit 77 (skipped) without root or HylaFAX.
set -uo pipefail
root=$1
atdeskd_built=$2
cli=$3
. "$root/scripts/lib/common.sh"

faxinfo=/usr/lib/hylafax/bin/faxinfo
if [ "$(id -u)" -ne 0 ] || [ ! -x "$faxinfo" ] || [ ! -f /var/spool/hylafax/config/iaxmodem ] ||
  ! getent passwd uucp >/dev/null; then
  log "skipped: needs root and Debian's hylafax-server (scripts/install-deps)"
  exit 77
fi
# The account docs/hylafax.md has atdeskd run as.
getent group atdesk >/dev/null || groupadd --system atdesk
getent passwd atdesk >/dev/null ||
  useradd --system --gid atdesk --home-dir /nonexistent --no-create-home \
    --shell /usr/sbin/nologin atdesk

work=$(mktemp -d /tmp/atdesk-hylafax.XXXXXX)
chmod 755 "$work"
daemon=""
holder=""
failures=0
cleanup() {
  [ -z "$holder" ] || kill "$holder" 2>/dev/null
  stop_daemon
  if [ "$failures" -ne 0 ]; then
    log "---- atdeskd log (last 40 lines) ----"
    tail -n 40 "$work/atdeskd.log" >&2
  fi
  rm -rf "$work"
}
trap cleanup EXIT
fails() { ! "$@"; }
check() {  # check "what" command...
  local what=$1
  shift
  if "$@"; then log "ok: $what"; else log "FAILED: $what"; failures=$((failures + 1)); fi
}

# ---- the installation docs/hylafax.md describes, under $work instead of / ----
spool="$work/spool"  # /var/spool/hylafax
install -d -o uucp -g uucp -m 775 "$spool"
install -d -o uucp -g uucp -m 755 "$spool/recvq" "$spool/log"
install -d -m 755 "$spool/etc" "$spool/bin" "$work/lib"
cp -a /var/spool/hylafax/bin/. "$spool/bin/"  # the package's bin/faxrcvd and its helpers
cp /etc/hylafax/setup.cache "$spool/etc/"
cp -a /etc/hylafax/templates "$spool/etc/"
hook="$work/lib/hylafax-faxrcvd"  # /usr/local/lib/atdesk/hylafax-faxrcvd
install -m 755 "$root/scripts/hylafax-faxrcvd" "$hook"
inbox="$work/inbox"  # /var/lib/atdesk/inbox
install -d -o uucp -g atdesk -m 2770 "$inbox"
install -d -o atdesk -g atdesk -m 700 "$work/state"
install -m 755 "$atdeskd_built" "$work/lib/atdeskd"  # where the atdesk user may run it from
# The modem configs: the package's prototypes plus the line that runs atdesk's hook.
for proto in iaxmodem:ttyIAX0 eicon:ttyds01; do
  { cat "/var/spool/hylafax/config/${proto%%:*}"; printf 'FaxRcvdCmd:\t"%s"\n' "$hook"; } \
    >"$spool/etc/config.${proto#*:}"
done
cat >"$spool/etc/atdesk-hylafax.conf" <<CONF
ATDESK_INBOX=$inbox
ATDESK_CALLID_LAYOUT=iaxmodem
ATDESK_CALLID_LAYOUT_ttyds01=eicon
ATDESK_CALLED="+81 3-5555-0009"
ATDESK_CHAIN=bin/faxrcvd
ATDESK_SWEEP_MIN_AGE=0
CONF
# The package's faxrcvd sources etc/FaxDispatch: here it records that it ran, with what.
cat >"$spool/etc/FaxDispatch" <<'SH'
echo "$FILE $DEVICE $COMMID $CIDNUMBER" >>log/faxdispatch.test
SENDTO=
SH

api=$(free_port)
{
  base_config "$api" "$work/state" nowhere "$(free_port)"
  printf '[inbox]\ndir = "%s"\npoll_ms = 200\n' "$inbox"
} >"$work/atdesk.toml"
chmod 644 "$work/atdesk.toml"
export ATDESK_URL="http://127.0.0.1:$api" ATDESK_TOKEN_FILE="$work/state/admin.token"

start_daemon() {
  (umask 027 && exec setpriv --reuid=atdesk --regid=atdesk --init-groups \
    "$work/lib/atdeskd" --config "$work/atdesk.toml" </dev/null >>"$work/atdeskd.log" 2>&1) &
  daemon=$!
  wait_healthy "$ATDESK_URL" "$daemon" atdeskd && return 0
  tail -n 20 "$work/atdeskd.log" >&2
  exit 1
}
stop_daemon() {
  [ -n "$daemon" ] || return 0
  kill -TERM "$daemon" 2>/dev/null
  wait "$daemon" 2>/dev/null
  daemon=""
}

# ---- what faxgetty does ----
seq=0
sample="$work/sample.tif"
bash "$root/scripts/sample-fax" "$sample" 3 >/dev/null
# receive TSI PAGES CALLID...: a recvq document as faxgetty writes it, named in $q (faxgetty
# numbers them from recvq/seqf: fax000000001.tif, ...).
receive() {
  local tsi=$1 pages=$2
  shift 2
  seq=$((seq + 1))
  q=$(printf 'recvq/fax%09d.tif' "$seq")
  local desc=$tsi cid
  for cid in "$@"; do desc+=$'\n'"$cid"; done
  tiffcp -c g3:2d "$sample,$(seq -s, 0 $((pages - 1)))" "$work/g3.tif"
  for ((p = 0; p < pages; p++)); do
    # FaxRecvParams 81931: fine, 14400 bit/s, 2-D MR, ECM (Class2Params::encode).
    tiffset -d $p -s 270 "$desc" "$work/g3.tif" &&
      tiffset -d $p -s 34908 81931 "$work/g3.tif" &&
      tiffset -d $p -s 34910 21 "$work/g3.tif" &&
      tiffset -d $p -s 34911 "00 46 C4 80 00" "$work/g3.tif"
  done
  install -o uucp -g uucp -m 600 "$work/g3.tif" "$spool/$q"
}
# callids DEVID NAME=VALUE...: the CallIDs in the order of the device's CallIDPattern lines.
callids() {
  local devid=$1
  shift
  local pattern
  while IFS= read -r pattern; do
    local value=""
    for kv in "$@"; do [ "${kv%%=*}" = "$pattern" ] && value=${kv#*=}; done
    printf '%s\n' "$value"
  done < <(sed -n 's/^CallIDPattern:[[:space:]]*"\([^"]*\)".*/\1/p' "$spool/etc/config.$devid" |
    sed 's/[=:] *$//')
}
# faxrcvd QFILE DEVID COMMID ERROR CALLID...: runs FaxRcvdCmd exactly as faxgetty does.
faxrcvd() {
  local cmd
  cmd=$(sed -n 's/^FaxRcvdCmd:[[:space:]]*"\(.*\)"/\1/p' "$spool/etc/config.$2")
  for a in "$@"; do cmd+=" \"$a\""; done
  (cd "$spool" && umask 077 && exec setpriv --reuid=uucp --regid=uucp --clear-groups \
    env -i /bin/sh -c "$cmd" </dev/null >/dev/null 2>&1)
}
sweep() {  # the cron job: as uucp, in the spool folder
  (cd "$spool" && exec setpriv --reuid=uucp --regid=uucp --clear-groups \
    env -i PATH=/usr/bin:/bin "$hook" --sweep) 2>"$work/sweep.err"
}

jobs_json() { "$cli" --json jobs 2>/dev/null; }
job_count() { jobs_json | jq '.jobs | length'; }
# wait_jobs N: until atdeskd has N jobs (20 s).
wait_jobs() {
  local deadline=$((SECONDS + 20))
  while [ "$(job_count)" != "$1" ]; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.1
  done
}
job_by_name() { jobs_json | jq -c --arg n "$1" '[.jobs[] | select(.document_name | contains($n))][0]'; }

start_daemon
"$cli" recipients add "called:0355550001" user:local:alice >/dev/null
"$cli" recipients add "called:0355550002" user:local:bob >/dev/null

# 1. iaxmodem (CallID1 number, CallID2 name, CallID4 DID): the normal case, non-root atdeskd.
mapfile -t ids < <(callids ttyIAX0 NMBR=0312345678 "NAME=ACME CORP" ANID=0312345678 NDID=0355550001)
receive "+81 3 1234 5678" 2 "${ids[@]}"
q1=$q
faxrcvd "$q1" ttyIAX0 000000101 "" "${ids[@]}"
check "iaxmodem fax: a job" wait_jobs 1
j=$(job_by_name fax000000001)
check "source hylafax" test "$(jq -r .source <<<"$j")" = hylafax
check "sender from CallID1" test "$(jq -r .sender.fax <<<"$j")" = "+81312345678"
check "called from CallID4 (NDID)" test "$(jq -r .sender.called <<<"$j")" = "+81355550001"
check "2 pages" test "$(jq -r .pages <<<"$j")" = 2
check "the DID's called: rule routes it to alice" \
  grep -q alice <<<"$(jq -c .recipients <<<"$j")"
id1=$(jq -r .id <<<"$j")
check "CIDName kept in the history" \
  grep -q 'caller name \\"ACME CORP\\"' <<<"$("$cli" --json history "$id1")"
check "HylaFAX's copy stays in recvq" test -f "$spool/$q1"
check "the package's faxrcvd ran after the hook, with the same arguments" \
  grep -q "^$q1 ttyIAX0 000000101 0312345678\$" "$spool/log/faxdispatch.test"
check "nothing rejected" test -z "$(ls "$inbox/rejected")"

# 2. eicon (CallID1 DAD = DID, CallID2 CID = number) on the same server.
mapfile -t ids < <(callids ttyds01 "DAD=0355550002" "CID=0398765432")
receive "ACME" 1 "${ids[@]}"
q2=$q
faxrcvd "$q2" ttyds01 000000102 "" "${ids[@]}"
check "eicon fax: a job" wait_jobs 2
j=$(job_by_name fax000000002)
check "eicon: sender from CallID2" test "$(jq -r .sender.fax <<<"$j")" = "+81398765432"
check "eicon: called from CallID1" test "$(jq -r .sender.called <<<"$j")" = "+81355550002"
check "eicon: routed to bob" grep -q bob <<<"$(jq -c .recipients <<<"$j")"

# 2b. Two documents in one call (EOM between them): faxgetty runs the hook once per document,
#     with the same commid; two jobs, named apart.
mapfile -t ids < <(callids ttyIAX0 NMBR=0312340000 NAME= ANID= NDID=0355550001)
receive "" 1 "${ids[@]}"
faxrcvd "$q" ttyIAX0 000000103 "" "${ids[@]}"
receive "" 2 "${ids[@]}"
faxrcvd "$q" ttyIAX0 000000103 "" "${ids[@]}"
check "one call, two documents: two jobs" wait_jobs 4
names=$(jobs_json | jq -r '.jobs[] | select(.sender.fax == "+81312340000") | .document_name' | sort -u)
check "one call, two documents: named apart" test "$(wc -l <<<"$names")" = 2

# 3. Withheld caller IDs, no TSI: a job with an unknown sender each, never dropped.
n=4
for cid in P O anonymous Restricted; do
  mapfile -t ids < <(callids ttyIAX0 "NMBR=$cid" "NAME=" "ANID=$cid" NDID=0355550001)
  receive "<UNSPECIFIED>" 1 "${ids[@]}"
  faxrcvd "$q" ttyIAX0 "00000020$n" "" "${ids[@]}"
  n=$((n + 1))
  check "withheld caller ID $cid: a job" wait_jobs "$n"
  j=$(job_by_name "$(basename "$q" .tif)")
  check "withheld caller ID $cid: unknown sender" test "$(jq -r '.sender.display' <<<"$j")" = "an unknown sender"
done

# 4. A partial fax: the pages that came, marked incomplete, HylaFAX's message in the history.
mapfile -t ids < <(callids ttyIAX0 NMBR=0311112222 NAME= ANID= NDID=)
receive "" 1 "${ids[@]}"
faxrcvd "$q" ttyIAX0 000000301 "RSPREC error/got DCN (sender abort)" "${ids[@]}"
n=$((n + 1))
check "partial fax: a job" wait_jobs "$n"
j=$(job_by_name "$(basename "$q" .tif)")
check "partial fax: incomplete" test "$(jq -r .incomplete <<<"$j")" = true
check "partial fax: no DID, so the line's ATDESK_CALLED" \
  test "$(jq -r .sender.called <<<"$j")" = "+81355550009"
check "partial fax: HylaFAX's message in the history" \
  grep -q "RSPREC error/got DCN" <<<"$("$cli" --json history "$(jq -r .id <<<"$j")")"

# 5. A call with no page: faxgetty still runs the hook, with the error and no file.
seq=$((seq + 1))
mapfile -t ids < <(callids ttyIAX0 NMBR=0344445555 NAME= ANID= NDID=0355550001)
faxrcvd "$(printf 'recvq/fax%09d.tif' "$seq")" ttyIAX0 000000401 "No carrier detected" "${ids[@]}"
deadline=$((SECONDS + 20))
until "$cli" --json audit 2>/dev/null | grep -q fax.failed_reception || [ $SECONDS -ge $deadline ]; do
  sleep 0.1
done
audit=$("$cli" --json audit)
check "no-page call: a failed reception in the audit log" grep -q '"fax.failed_reception"' <<<"$audit"
check "no-page call: names the caller" grep -q "caller +81344445555" <<<"$audit"
check "no-page call: HylaFAX's message" grep -q "No carrier detected" <<<"$audit"
check "no-page call: no job" test "$(job_count)" = "$n"

# 6. atdeskd down: the fax waits in the inbox and becomes a job at the next start. The caller name
#    is Latin-1, not UTF-8: the fax still arrives.
stop_daemon
mapfile -t ids < <(callids ttyIAX0 NMBR=0322223333 $'NAME=Caf\xe9 Ginza' ANID= NDID=)
receive "" 1 "${ids[@]}"
faxrcvd "$q" ttyIAX0 000000501 "" "${ids[@]}"
check "atdeskd down: the pair waits in the inbox" test -f "$inbox/hylafax-$(basename "$q" .tif)-000000501.json"
start_daemon
n=$((n + 1))
check "atdeskd down: a job after the restart" wait_jobs "$n"

# 7. The inbox unwritable: marker, fax kept in recvq, the sweep hands it over once fixed.
chmod 0550 "$inbox"
mapfile -t ids < <(callids ttyIAX0 NMBR=0366667777 NAME= ANID= NDID=)
receive "" 1 "${ids[@]}"
qb=$(basename "$q" .tif)
faxrcvd "$q" ttyIAX0 000000601 "" "${ids[@]}"
check "inbox unwritable: a pending marker with the arguments" \
  grep -q 0366667777 "$spool/atdesk/pending/$qb"
check "inbox unwritable: the fax stays in recvq" test -f "$spool/$q"
check "inbox unwritable: the sweep fails (cron mails its output)" fails sweep
check "inbox unwritable: the sweep names the fax" grep -q "$qb" "$work/sweep.err"
chmod 2770 "$inbox"
check "inbox fixed: the sweep succeeds" sweep
n=$((n + 1))
check "inbox fixed: the fax is a job" wait_jobs "$n"
check "inbox fixed: with its caller" \
  test "$(jq -r .sender.fax <<<"$(job_by_name "$qb")")" = "+81366667777"
check "inbox fixed: the marker is gone" test ! -e "$spool/atdesk/pending/$qb"

# 8. A document the hook never saw (FaxRcvdCmd missing, hook killed): the sweep takes it, with
#    the CallIDs faxgetty wrote into the TIFF; a second sweep hands nothing over twice.
mapfile -t ids < <(callids ttyIAX0 NMBR=0388889999 NAME=MISSED ANID= NDID=0355550001)
receive "" 1 "${ids[@]}"
check "missed fax: the sweep hands it over" sweep
n=$((n + 1))
check "missed fax: a job" wait_jobs "$n"
j=$(job_by_name "$(basename "$q" .tif)")
check "missed fax: caller and DID from the TIFF" \
  test "$(jq -r '.sender.fax + " " + .sender.called' <<<"$j")" = "+81388889999 +81355550001"
sweep
sleep 1  # a second hand-over would be picked up within 200 ms; none may come
check "a second sweep hands nothing over again" test "$(job_count)" = "$n"

# 8b. A document faxgetty is still receiving (it holds an exclusive flock on it): the sweep leaves
#     it alone, and takes it once the lock is gone.
mapfile -t ids < <(callids ttyIAX0 NMBR=0377770000 NAME= ANID= NDID=)
receive "" 1 "${ids[@]}"
(exec 8<"$spool/$q" && flock -x 8 && exec sleep 60) &  # one process: killing it drops the lock
holder=$!
until ! flock -n -s "$spool/$q" true; do sleep 0.05; done
sweep
check "receiving fax: the sweep leaves it alone" test ! -e "$spool/atdesk/handed/$(basename "$q" .tif)"
kill "$holder"
wait "$holder" 2>/dev/null
check "received fax: the sweep takes it after the lock is gone" sweep
n=$((n + 1))
check "received fax: a job" wait_jobs "$n"

# 9. A file atdeskd may not read (as the old hook left them: 0600 uucp): rejected, naming errno.
install -o uucp -g atdesk -m 600 "$sample" "$inbox/old.tif"
install -o uucp -g atdesk -m 600 /dev/null "$inbox/old.json"
deadline=$((SECONDS + 20))
until [ -f "$inbox/rejected/old.reason.txt" ] || [ $SECONDS -ge $deadline ]; do sleep 0.1; done
check "unreadable file: rejected with the errno" \
  grep -q "Permission denied (errno 13 EACCES" "$inbox/rejected/old.reason.txt"
check "unreadable file: the rejection is in the audit log" \
  grep -q '"inbox.rejected"' <<<"$("$cli" --json audit)"

check "atdeskd ran as atdesk, not root" test "$(ps -o user= -p "$daemon" | tr -d ' ')" = atdesk
if [ "$failures" -gt 0 ]; then
  log "$failures check(s) failed"
  exit 1
fi
log "hylafax hand-off: all checks passed"
