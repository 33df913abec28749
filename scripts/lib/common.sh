# Shell helpers shared by the integration suites and the whole-process benchmarks.
# Source it: . "$root/scripts/lib/common.sh"

# A message for people, on stderr.
log() { printf '%s\n' "$*" >&2; }

# A TCP port on 127.0.0.1 that nothing listens on now (20000-39999).
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
}
