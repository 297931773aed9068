#!/usr/bin/env bash
# System packages for the end-to-end tests (root, Debian): Docker engine, debootstrap for
# the base image, a local OCI registry, and Chromium for the browser tests.
set -euo pipefail
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v chromium >/dev/null || need+=(chromium)
command -v node >/dev/null || need+=(nodejs)  # builds the JupyterLab extension (jlpm)
command -v curl >/dev/null || need+=(curl)  # docker-up.sh probes the registry
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi
