#!/usr/bin/env bash
# Run the whole test suite (unit, corpus, engines, docker and browser end to end).
set -euo pipefail
cd "$(dirname "$0")/.."
# jest: the JupyterLab extension's tag grammar (vectors shared with tags.py) and requests.
if [ $# -eq 0 ]; then
  PATH="$PWD/.venv/bin:$PATH" jlpm jest --silent
fi
# Container tests need a Docker engine, a base image and a registry: as root, start them
# (scripts/docker-up.sh; KALE_LIKE_DOCKER=0 opts out) and require the docker tests to run,
# not skip. Only what this run started is stopped, by PID, on exit.
if [ "${KALE_LIKE_DOCKER:-1}" = "1" ] && [ "$(id -u)" = "0" ] && command -v dockerd >/dev/null; then
  export KALE_LIKE_DOCKER_STATE="$PWD/.cache/docker-test"
  rm -f "$KALE_LIKE_DOCKER_STATE/pids"
  trap 'scripts/docker-down.sh' EXIT
  dstart=$(date +%s)
  scripts/docker-up.sh
  export KALE_LIKE_REQUIRE_DOCKER=1
  if [ $# -eq 0 ]; then
    rc=0
    .venv/bin/python -m pytest -m docker || rc=$?
    echo "ci: docker stage took $(( $(date +%s) - dstart ))s"
    .venv/bin/python -m pytest -m "not docker" || rc=$?
    exit $rc
  fi
  echo "ci: docker up took $(( $(date +%s) - dstart ))s"
elif [ "${KALE_LIKE_REQUIRE_DOCKER:-0}" = "1" ]; then
  # Required but not started here: the docker tests will fail (not skip); say why up front.
  why="dockerd is not installed (scripts/setup-system.sh)"
  [ "$(id -u)" = "0" ] || why="not root, so the engine cannot be started"
  [ "${KALE_LIKE_DOCKER:-1}" = "1" ] || why="KALE_LIKE_DOCKER=${KALE_LIKE_DOCKER} opts out"
  echo "test.sh: KALE_LIKE_REQUIRE_DOCKER=1 but no Docker engine started: $why" >&2
fi
.venv/bin/python -m pytest "$@"
