#!/usr/bin/env bash
# Keep the machine busy while a command runs: two busy loops per core (the "passes on a loaded,
# noisy machine" check). Usage: scripts/cpu-load.sh COMMAND [ARGS...]; the loops stop, by PID,
# when the command ends, and the command's exit code is returned.
set -uo pipefail
cores=$(nproc)
pids=()
for _ in $(seq $((2 * cores))); do
  ( while :; do :; done ) &
  pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null' EXIT
"$@"
