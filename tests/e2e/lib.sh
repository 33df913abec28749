# Shell helpers of the browser tests (run.sh, teams.sh). Source it after scripts/lib/common.sh.

# node, npm, curl, jq and Debian's chromium present, and tests/e2e/node_modules installed from
# the committed package-lock.json when missing. Sets $chromium.
#   e2e_prerequisites <tests/e2e folder>
e2e_prerequisites() {
  local tool
  for tool in node npm curl jq; do
    command -v "$tool" >/dev/null || { log "e2e: $tool is missing (scripts/install-deps)"; exit 1; }
  done
  chromium=${CHROMIUM:-/usr/bin/chromium}
  [ -x "$chromium" ] || { log "e2e: $chromium is missing (scripts/install-deps installs chromium)"; exit 1; }
  if [ ! -d "$1/node_modules/playwright-core" ] || [ ! -d "$1/node_modules/axe-core" ]; then
    (cd "$1" && npm ci --no-audit --no-fund >&2)
  fi
}

# Waits (10 s at most) until <url> answers 2xx.
#   wait_http <url>
wait_http() {
  local _
  for _ in $(seq 1 200); do
    curl -fsS "$1" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  curl -fsS "$1" >/dev/null
}
