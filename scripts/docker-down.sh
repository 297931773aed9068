#!/usr/bin/env bash
# Stop what scripts/docker-up.sh started, by the PIDs it recorded (nothing else is touched).
set -uo pipefail
cd "$(dirname "$0")/.."
STATE=${KALE_LIKE_DOCKER_STATE:-$(pwd)/.cache/docker}
PIDS="$STATE/pids"
[ -f "$PIDS" ] || exit 0
# Stop in reverse start order: the registry before the engine.
tac "$PIDS" | while read -r name pid extra; do
  [ -n "${pid:-}" ] || continue
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    echo "docker-down: stopped $name (pid $pid)"
  fi
  if [ "$name" = registry ] && [ -n "${extra:-}" ] && [ -d "$extra" ]; then
    rm -rf "$extra"
  fi
done
rm -f "$PIDS"
