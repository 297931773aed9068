#!/usr/bin/env bash
# Run the whole test suite (unit, corpus, engines, docker and browser end to end).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m pytest "$@"
