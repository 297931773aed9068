#!/usr/bin/env bash
# Run the whole test suite (unit, corpus, engines, docker and browser end to end).
set -euo pipefail
cd "$(dirname "$0")/.."
# jest: the JupyterLab extension's tag grammar (vectors shared with tags.py) and requests.
if [ $# -eq 0 ]; then
  PATH="$PWD/.venv/bin:$PATH" jlpm jest --silent
fi
exec .venv/bin/python -m pytest "$@"
