#!/usr/bin/env bash
# Set up everything kale_like needs on a fresh Debian machine: a virtualenv with the package
# and its test dependencies, and (as root) the system packages the end-to-end tests use.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if [ "${KALE_LIKE_NO_APT:-0}" != "1" ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  scripts/setup-system.sh
fi

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c constraints.txt -e ".[dev]"
echo "kale_like is set up: .venv/bin/kale-like --help"
