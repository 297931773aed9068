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
# The editable install builds the JupyterLab extension with jlpm, which comes with jupyterlab
# in the venv: install it first and put the venv on PATH for the build hook.
export PATH="$PWD/.venv/bin:$PATH"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c constraints.txt "jupyterlab>=4.4,<4.7"
if [ ! -d node_modules ]; then
  jlpm install >/dev/null  # the extension's node packages (also jest and Playwright for tests)
fi
if [ ! -f kale_like/labextension/static/style.js ]; then
  jlpm build >/dev/null  # built here, the install's build hook finds it and skips
fi
.venv/bin/python -m pip install -q -c constraints.txt -e ".[dev]"
# PyTorch (CPU) and Keras 3 for the torch and keras marshalling tests, which CI requires
# (KALE_LIKE_REQUIRE_EXTRAS=1). torch==2.13.0 exactly: this machine kind keeps its CPU wheel on
# disk for pip, where a looser range would fetch a CUDA build of several GB. Keras runs on it
# (KERAS_BACKEND=torch, set by its test); about 40 MB, all wheels.
.venv/bin/python -m pip install -q -c constraints.txt "torch==2.13.0"
.venv/bin/python -m pip install -q -c constraints.txt "keras==3.15.1"
# The editable install copies the built extension; link it instead so `jlpm build` shows up
# in lab without reinstalling.
.venv/bin/jupyter labextension develop --overwrite . >/dev/null
# Kale's published example notebooks, for the compatibility tests (downloaded, not committed).
.venv/bin/python scripts/fetch_kale_examples.py 2.3.0 >/dev/null \
  || echo "note: Kale's example notebooks not fetched; their tests will be skipped"
echo "kale_like is set up: .venv/bin/kale-like --help"
