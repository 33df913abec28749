#!/usr/bin/env bash
# The Debian package as an administrator meets it (issue 14): build it with CPack, install it with
# dpkg, check every file, verify the systemd unit and report its exposure, start atdeskd exactly as
# the unit's ExecStart does (packaged config, user atdesk) with a NOTIFY_SOCKET this script reads,
# then remove and purge it.
#
# systemd is not PID 1 on the machines CI runs on, so the service manager's side is played here: a
# datagram socket that records what sd_notify(3) sends (READY=1, WATCHDOG=1, RELOADING=1,
# STOPPING=1), WATCHDOG_USEC set as systemd sets it for WatchdogSec=.
#
# usage: package.sh <repo root> <build dir>; exit 77 (skipped) without root, or where an atdesk
# package is already installed (the test purges what it installs and must not touch a real one).
set -uo pipefail
root=$1
build=$2
. "$root/scripts/lib/common.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v dpkg >/dev/null || ! command -v cpack >/dev/null; then
  log "skipped: needs root, dpkg and cpack"
  exit 77
fi
if dpkg-query -W -f='${Status}' atdesk 2>/dev/null | grep -q 'installed'; then
  log "skipped: an atdesk package is installed on this machine; this test installs and purges its own"
  exit 77
fi

work=$(mktemp -d /tmp/atdesk-package.XXXXXX)
chmod 755 "$work"
daemon=""
listener=""
failures=0
fail() {
  log "FAIL: $*"
  failures=$((failures + 1))
}
cleanup() {
  [ -z "$daemon" ] || kill -KILL "$daemon" 2>/dev/null
  [ -z "$listener" ] || kill "$listener" 2>/dev/null
  if [ "$failures" -ne 0 ] && [ -f "$work/atdeskd.log" ]; then
    log "---- atdeskd log (last 40 lines) ----"
    tail -n 40 "$work/atdeskd.log" >&2
  fi
  dpkg --purge atdesk >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

# --- build and install
if ! cpack --config "$build/CPackConfig.cmake" -B "$work/deb" >"$work/cpack.log" 2>&1; then
  cat "$work/cpack.log" >&2
  log "FAIL: cpack could not build the package"
  exit 1
fi
deb=$(ls "$work"/deb/atdesk_*.deb)
log "package: $(basename "$deb") ($(du -h "$deb" | cut -f1))"
if ! dpkg -i "$deb" >"$work/dpkg.log" 2>&1; then
  cat "$work/dpkg.log" >&2
  log "FAIL: dpkg -i (are the Depends installed? apt-get install ./$(basename "$deb") installs them)"
  exit 1
fi

# --- every file in place
for f in /usr/sbin/atdeskd /usr/sbin/atdesk-ippd /usr/bin/atdesk /etc/atdesk/atdesk.toml /lib/systemd/system/atdeskd.service \
  /usr/share/man/man8/atdeskd.8.gz /usr/share/man/man1/atdesk.1.gz /usr/share/man/man5/atdesk.toml.5.gz; do
  dpkg -L atdesk | grep -qx "$f" || fail "dpkg -L atdesk does not list $f"
  [ -e "$f" ] || fail "$f is not on disk"
done
dpkg-query -W -f='${Conffiles}\n' atdesk | grep -q '/etc/atdesk/atdesk.toml' ||
  fail "/etc/atdesk/atdesk.toml is not a conffile"
getent passwd atdesk >/dev/null || fail "no system user atdesk"
[ "$(stat -c '%a %U' /var/lib/atdesk 2>/dev/null)" = "700 atdesk" ] ||
  fail "/var/lib/atdesk: expected mode 700 owned by atdesk, got $(stat -c '%a %U' /var/lib/atdesk 2>&1)"
[ "$(stat -c '%a %U:%G' /etc/atdesk/atdesk.toml)" = "640 root:atdesk" ] ||
  fail "/etc/atdesk/atdesk.toml: expected 640 root:atdesk, got $(stat -c '%a %U:%G' /etc/atdesk/atdesk.toml)"
/usr/sbin/atdeskd --check-config --config /etc/atdesk/atdesk.toml >/dev/null ||
  fail "the packaged configuration does not pass atdeskd --check-config"

# --- the unit
man_check=yes
command -v man >/dev/null || man_check=no  # Documentation=man:... is checked when man exists
if ! systemd-analyze verify --man="$man_check" /lib/systemd/system/atdeskd.service >"$work/verify.log" 2>&1; then
  cat "$work/verify.log" >&2
  fail "systemd-analyze verify atdeskd.service"
fi
systemd-analyze security --offline=true /lib/systemd/system/atdeskd.service >"$work/security.log" 2>&1
exposure=$(sed -n 's/.*Overall exposure level for atdeskd.service: \([0-9.]*\).*/\1/p' "$work/security.log")
log "systemd-analyze security: exposure $exposure"
if [ -z "$exposure" ] || ! awk -v e="$exposure" 'BEGIN { exit !(e <= 1.5) }'; then
  grep '✗' "$work/security.log" >&2
  fail "exposure ${exposure:-unknown}: expected at most 1.5 (README.md states it)"
fi

# --- atdeskd as ExecStart runs it: packaged config, user atdesk, a notify socket and a watchdog
port=$(free_port)
sed "s/^listen = \"127.0.0.1:8631\"/listen = \"127.0.0.1:$port\"/" /etc/atdesk/atdesk.toml >"$work/atdesk.toml"
grep -q "127.0.0.1:$port" "$work/atdesk.toml" || fail "the packaged config has no listen line to move"
chmod 644 "$work/atdesk.toml"
cat >"$work/notify.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        data = s.recv(4096).decode()
        out.write(data.replace("\n", " ") + "\n")
PY
python3 "$work/notify.py" "$work/notify.sock" "$work/notify.log" &
listener=$!
for _ in $(seq 100); do [ -S "$work/notify.sock" ] && break; sleep 0.05; done
chmod 666 "$work/notify.sock"
NOTIFY_SOCKET="$work/notify.sock" WATCHDOG_USEC=2000000 \
  setpriv --reuid=atdesk --regid=atdesk --init-groups \
  /usr/sbin/atdeskd --config "$work/atdesk.toml" >"$work/atdeskd.log" 2>&1 &
daemon=$!

saw() { grep -q "$1" "$work/notify.log" 2>/dev/null; }
wait_for() {  # wait_for <seconds> <command...>
  local end=$((SECONDS + $1))
  shift
  while [ $SECONDS -lt $end ]; do
    "$@" && return 0
    sleep 0.1
  done
  "$@"
}
wait_for 60 saw 'READY=1' || fail "no READY=1 within 60 s"
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null || fail "READY=1 sent but /healthz does not answer"
[ "$(stat -c %U /var/lib/atdesk/atdesk.db 2>/dev/null)" = atdesk ] || fail "the store is not owned by atdesk"
wait_for 10 saw 'WATCHDOG=1' || fail "no WATCHDOG=1 within 10 s of a 2 s WatchdogSec"
watchdogs=$(grep -c 'WATCHDOG=1' "$work/notify.log")
sleep 3
[ "$(grep -c 'WATCHDOG=1' "$work/notify.log")" -gt "$watchdogs" ] || fail "WATCHDOG=1 stopped coming"

# reload: a recipient-table file named in the config is loaded on SIGHUP
cat >"$work/recipients.toml" <<'TOML'
[[rule]]
pattern = "0312345678"
recipient = "user:local:alice"
TOML
chmod 644 "$work/recipients.toml"
printf '\n[recipients]\nfile = "%s"\n' "$work/recipients.toml" >>"$work/atdesk.toml"
kill -HUP "$daemon"
wait_for 20 saw 'RELOADING=1' || fail "no RELOADING=1 after SIGHUP"
wait_for 20 grep -q 'reloaded: .*1 recipient rules' "$work/atdeskd.log" || fail "SIGHUP did not load the recipient file"
rules=$(ATDESK_URL="http://127.0.0.1:$port" ATDESK_TOKEN_FILE=/var/lib/atdesk/admin.token \
  /usr/bin/atdesk --json recipients list 2>&1)
grep -q 'user:local:alice' <<<"$rules" || fail "the reloaded table is not served: $rules"

kill -TERM "$daemon"
wait "$daemon"
rc=$?
daemon=""
[ "$rc" -eq 0 ] || fail "atdeskd exited $rc after SIGTERM"
saw 'STOPPING=1' || fail "no STOPPING=1 before exit"

# --- the journal with fields. Where no journald listens (no systemd as PID 1), this script binds
# the journal's native socket itself and reads the datagrams sd_journal_sendv(3) writes
# (KEY=value lines, systemd's "native journal protocol"); JOURNAL_STREAM names stderr's
# device:inode as systemd sets it for a unit whose output goes to the journal.
if [ ! -e /run/systemd/journal/socket ]; then
  mkdir -p /run/systemd/journal
  cat >"$work/journal.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        data = s.recv(65536).decode(errors="replace")
        out.write(data.replace("\n", "|") + "\n")
PY
  python3 "$work/journal.py" /run/systemd/journal/socket "$work/journal.log" &
  journal=$!
  for _ in $(seq 100); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
  chmod 666 /run/systemd/journal/socket
  : >"$work/stderr.log"
  chmod 666 "$work/stderr.log"
  stream=$(stat -c '%d:%i' "$work/stderr.log")
  JOURNAL_STREAM="$stream" setpriv --reuid=atdesk --regid=atdesk --init-groups \
    /usr/sbin/atdeskd --config "$work/atdesk.toml" >"$work/atdeskd.log" 2>>"$work/stderr.log" &
  daemon=$!
  wait_for 60 curl -fsS "http://127.0.0.1:$port/healthz" -o /dev/null || fail "atdeskd (journal) did not start"
  "$root/scripts/sample-fax" "$work/fax.tif" 1 >/dev/null 2>&1
  out=$(ATDESK_URL="http://127.0.0.1:$port" ATDESK_TOKEN_FILE=/var/lib/atdesk/admin.token \
    /usr/bin/atdesk --json submit "$work/fax.tif" --sender 0312345678 2>&1)
  job=$(jq -r .id <<<"$out" 2>/dev/null | cut -c1-8)
  [ -n "$job" ] && [ "$job" != null ] || fail "submit failed: $out"
  wait_for 20 grep -q "ATDESK_JOB_ID=$job" "$work/journal.log" ||
    fail "no journal entry with ATDESK_JOB_ID=$job"
  grep "ATDESK_JOB_ID=$job" "$work/journal.log" | grep -q 'ATDESK_RECIPIENT=user:local:alice' ||
    fail "the job's journal entries lack ATDESK_RECIPIENT=user:local:alice"
  grep -q 'SYSLOG_IDENTIFIER=atdeskd' "$work/journal.log" || fail "no SYSLOG_IDENTIFIER=atdeskd"
  [ ! -s "$work/stderr.log" ] || fail "atdeskd wrote log lines to stderr although it is the journal's stream"
  kill -TERM "$daemon"
  wait "$daemon"
  daemon=""
  kill "$journal" 2>/dev/null
  rm -f /run/systemd/journal/socket
else
  log "journal fields: skipped, a journald listens on this machine"
fi

# --- remove keeps the state, purge deletes it
dpkg -r atdesk >/dev/null 2>&1 || fail "dpkg -r atdesk"
[ ! -e /usr/sbin/atdeskd ] || fail "/usr/sbin/atdeskd left after remove"
[ -f /var/lib/atdesk/atdesk.db ] || fail "remove deleted /var/lib/atdesk (held faxes would be lost)"
dpkg --purge atdesk >/dev/null 2>&1 || fail "dpkg --purge atdesk"
[ ! -e /var/lib/atdesk ] || fail "purge left /var/lib/atdesk"
[ ! -e /etc/atdesk/atdesk.toml ] || fail "purge left /etc/atdesk/atdesk.toml"

if [ "$failures" -ne 0 ]; then
  log "debian_package: $failures failure(s)"
  exit 1
fi
log "debian_package: ok (exposure $exposure)"
