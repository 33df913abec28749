#!/usr/bin/env bash
# Presence-to-print latency over XMPP on real processes (Prosody, ippeveprinter, atdeskd): runs
# the PresenceToPrintLatency case of tests/integration/xmpp_daemon with ROUNDS rounds of
# away (one job held) -> available "in the office" (the job prints by itself) and prints p50/p99
# as a Markdown table. Not part of CI (ctest skips the case).
#   bench/xmpp_latency.sh <build dir> [rounds=200]
set -euo pipefail
build=${1:?usage: xmpp_latency.sh <build dir> [rounds]}
rounds=${2:-200}
exe="$build/tests/integration/xmpp_daemon/xmpp_daemon_test"
[ -x "$exe" ] || { echo "xmpp_latency: $exe not built (ninja -C $build xmpp_daemon_test)" >&2; exit 1; }
log=$(mktemp /tmp/xmpp-latency.XXXXXX.log)
if ! ATDESK_XMPP_BENCH=$rounds "$exe" --gtest_filter='*PresenceToPrintLatency*' >"$log" 2>&1; then
  cat "$log" >&2
  exit 1
fi
grep '^|' "$log"
rm -f "$log"
