#!/usr/bin/env bash
# HTTPS on atdeskd itself (issue 14): certificates made here with openssl, as an administrator
# makes a self-signed one or receives one from an ACME client; curl and the CLI as clients.
# usage: https.sh <repo root> <atdeskd> <atdesk>; exit 77 (skipped) without openssl.
set -uo pipefail
root=$1
atdeskd=$2
cli=$3
. "$root/scripts/lib/common.sh"
command -v openssl >/dev/null || { log "skipped: needs openssl (scripts/install-deps)"; exit 77; }

work=$(mktemp -d /tmp/atdesk-https.XXXXXX)
daemon=""
failures=0
fail() {
  log "FAIL: $*"
  failures=$((failures + 1))
}
cleanup() {
  [ -z "$daemon" ] || { kill -TERM "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; }
  if [ "$failures" -ne 0 ]; then
    log "---- atdeskd log (last 40 lines) ----"
    tail -n 40 "$work/atdeskd.log" >&2
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# make_cert <name> <CN>: a self-signed certificate for 127.0.0.1 in <name>.crt / <name>.key
make_cert() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=$2" -addext "subjectAltName=IP:127.0.0.1" \
    -keyout "$work/$1.key" -out "$work/$1.crt" >/dev/null 2>&1
}
make_cert first "atdesk first"
make_cert second "atdesk second"
cp "$work/first.crt" "$work/server.crt"
cp "$work/first.key" "$work/server.key"
chmod 600 "$work/server.key"

port=$(free_port)
cat >"$work/atdesk.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
tls_cert = "$work/server.crt"
tls_key = "$work/server.key"
[storage]
state_dir = "$work/state"
[web]
secure_cookies = true
[holidays]
calendars = ["$root/tests/data/holidays/japan-office.ics"]
TOML
"$atdeskd" --config "$work/atdesk.toml" >"$work/atdeskd.log" 2>&1 &
daemon=$!
url="https://127.0.0.1:$port"
ready=0
for _ in $(seq 600); do
  if curl -fsS --cacert "$work/first.crt" "$url/healthz" >/dev/null 2>&1; then
    ready=1
    break
  fi
  kill -0 "$daemon" 2>/dev/null || break
  sleep 0.1
done
[ "$ready" = 1 ] || { fail "atdeskd did not answer over HTTPS within 60 s"; exit 1; }
grep -q "web UI and API:   https://127.0.0.1:$port/" "$work/atdeskd.log" ||
  fail "the start-up banner does not show the https:// address"

subject() {  # the CN the server presents now
  openssl s_client -connect "127.0.0.1:$port" -servername 127.0.0.1 </dev/null 2>/dev/null |
    openssl x509 -noout -subject 2>/dev/null | sed 's/.*CN *= *//'
}
[ "$(subject)" = "atdesk first" ] || fail "expected the first certificate, got '$(subject)'"

# Plain HTTP on the TLS port gets no HTTP answer.
if curl -fsS --max-time 5 "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
  fail "plain HTTP was answered on the HTTPS port"
fi
# TLS 1.1 is refused (RFC 8996).
if openssl s_client -connect "127.0.0.1:$port" -tls1_1 </dev/null >/dev/null 2>&1; then
  fail "a TLS 1.1 handshake succeeded"
fi

# The CLI over https:// with the admin token.
for _ in $(seq 100); do [ -s "$work/state/admin.token" ] && break; sleep 0.1; done
if ! ATDESK_CA_FILE="$work/first.crt" \
  "$cli" --url "$url" --token-file "$work/state/admin.token" jobs >"$work/cli.out" 2>&1; then
  fail "atdesk jobs over https failed: $(cat "$work/cli.out")"
fi

# [holidays]: the calendar's dates are served with their source (read at start).
holidays=$(curl -fsS --cacert "$work/first.crt" -H "Authorization: Bearer $(cat "$work/state/admin.token")" \
  "$url/api/v1/holidays")
jq -e --arg src "$root/tests/data/holidays/japan-office.ics" \
  '.holidays | any(.date == "2026-05-06" and .source == $src)' <<<"$holidays" >/dev/null ||
  fail "GET /api/v1/holidays lacks the substitute holiday of 2026-05-06: $holidays"

# A session cookie is Secure.
password=$(cat "$work/state/web-admin.password")
cookie=$(curl -sS --cacert "$work/first.crt" -D - -o /dev/null -H 'Content-Type: application/json' \
  -d "{\"user\":\"admin\",\"password\":\"$password\"}" "$url/api/v1/session" | grep -i '^set-cookie')
grep -qi 'secure' <<<"$cookie" || fail "the session cookie is not Secure: $cookie"

# Renewal: the files change on disk, SIGHUP, and new connections get the new certificate.
cp "$work/second.crt" "$work/server.crt"
cp "$work/second.key" "$work/server.key"
kill -HUP "$daemon"
for _ in $(seq 100); do grep -q 'reloaded: .*certificate re-read' "$work/atdeskd.log" && break; sleep 0.1; done
[ "$(subject)" = "atdesk second" ] || fail "after SIGHUP expected the second certificate, got '$(subject)'"
curl -fsS --cacert "$work/second.crt" "$url/healthz" >/dev/null || fail "the renewed certificate does not verify"

# A bad renewal (a key that is not the certificate's) keeps the running certificate.
cp "$work/first.key" "$work/server.key"
kill -HUP "$daemon"
for _ in $(seq 100); do grep -q 'certificate unchanged (error)' "$work/atdeskd.log" && break; sleep 0.1; done
grep -q 'server.key: \[server\] tls_key: ' "$work/atdeskd.log" ||
  fail "a mismatched key was not reported with the key named"
[ "$(subject)" = "atdesk second" ] || fail "a bad renewal replaced the certificate: '$(subject)'"
kill -0 "$daemon" 2>/dev/null || fail "atdeskd stopped after a bad renewal"

# A reload without [holidays] drops the dates that calendar gave.
sed -i '/^\[holidays\]/,$d' "$work/atdesk.toml"
reloads=$(grep -c 'reloaded: ' "$work/atdeskd.log")
kill -HUP "$daemon"
for _ in $(seq 100); do [ "$(grep -c 'reloaded: ' "$work/atdeskd.log")" -gt "$reloads" ] && break; sleep 0.1; done
holidays=$(curl -fsS --cacert "$work/second.crt" -H "Authorization: Bearer $(cat "$work/state/admin.token")" \
  "$url/api/v1/holidays")
jq -e '.holidays == []' <<<"$holidays" >/dev/null ||
  fail "holidays still served after a reload without [holidays]: $holidays"

# A certificate file that does not exist stops atdeskd at start with the key named.
sed "s|tls_cert = .*|tls_cert = \"$work/missing.crt\"|" "$work/atdesk.toml" >"$work/bad.toml"
sed -i "s|listen = .*|listen = \"127.0.0.1:$(free_port)\"|; s|state_dir = .*|state_dir = \"$work/state2\"|" "$work/bad.toml"
"$atdeskd" --config "$work/bad.toml" >"$work/bad.log" 2>&1
rc=$?
[ "$rc" -eq 2 ] || fail "a missing tls_cert: expected exit 2, got $rc"
grep -q 'missing.crt: \[server\] tls_cert' "$work/bad.log" || fail "a missing tls_cert is not named: $(tail -n 3 "$work/bad.log")"

if [ "$failures" -ne 0 ]; then
  log "https_reload: $failures failure(s)"
  exit 1
fi
log "https_reload: ok"
