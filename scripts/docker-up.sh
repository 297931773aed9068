#!/usr/bin/env bash
# Start what the container tests and `kale-like build/run --engine docker` need, on a machine
# where nothing can be pulled from a container registry:
#   1. a Docker engine (dockerd) with no bridge and no firewall changes,
#   2. a Python base image made with debootstrap (mirror read from this machine's apt sources),
#   3. a local OCI registry on 127.0.0.1:5000 (Debian's docker-registry, our own config).
# Everything started here is recorded by PID in $STATE/pids; scripts/docker-down.sh stops it.
# Already running engine/registry/base image are reused, not restarted.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
STATE=${KALE_LIKE_DOCKER_STATE:-$ROOT/.cache/docker}
BASE_IMAGE=${KALE_LIKE_BASE_IMAGE:-kale-like/base:py3.11}
BASE_CACHE=${KALE_LIKE_BASE_CACHE:-$ROOT/.cache/base-image}
REGISTRY_ADDR=${KALE_LIKE_REGISTRY_ADDR:-127.0.0.1:5000}
SUITE=bookworm
mkdir -p "$STATE"
PIDS="$STATE/pids"
touch "$PIDS"

log() { echo "docker-up: $*"; }

# --- 1. the engine --------------------------------------------------------------------
if docker info >/dev/null 2>&1; then
  log "a Docker engine is already running; reusing it"
else
  command -v dockerd >/dev/null || { log "dockerd not found: run scripts/setup-system.sh (as root)"; exit 3; }
  # Exactly these network flags: no bridge, no iptables/forwarding changes on the host.
  dockerd --host=unix:///var/run/docker.sock --bridge=none --iptables=false \
    --ip6tables=false --ip-forward=false --ip-masq=false >"$STATE/dockerd.log" 2>&1 &
  echo "dockerd $!" >>"$PIDS"
  for _ in $(seq 1 150); do
    docker info >/dev/null 2>&1 && break
    sleep 0.2
  done
  docker info >/dev/null 2>&1 || { log "dockerd did not start; see $STATE/dockerd.log"; tail -20 "$STATE/dockerd.log"; exit 3; }
  log "dockerd started (pid $(tail -1 "$PIDS" | cut -d' ' -f2))"
fi

# --- 2. the base image ----------------------------------------------------------------
mirror() {
  # The Debian mirror this machine already uses (deb822 .sources first, then sources.list).
  local uri=""
  if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
    uri=$(awk -v suite="$SUITE" '
      /^URIs:/ {u=$2} /^Suites:/ {for (i=2;i<=NF;i++) if ($i==suite) s=1}
      /^$/ {if (s && u && !found) {print u; found=1}; u=""; s=0}
      END {if (s && u && !found) print u}' /etc/apt/sources.list.d/*.sources | head -1)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk -v suite="$SUITE" '$1=="deb" && $3==suite {print $2; exit}' /etc/apt/sources.list)
  fi
  echo "$uri"
}

if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  log "base image $BASE_IMAGE present"
else
  tarball="$BASE_CACHE/$SUITE-python3.tar"
  if [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null || { log "debootstrap not found: run scripts/setup-system.sh"; exit 3; }
    url=$(mirror)
    [ -n "$url" ] || { log "no Debian $SUITE mirror found in /etc/apt/sources.list(.d)"; exit 3; }
    log "building $BASE_IMAGE with debootstrap from $url (about a minute)"
    t0=$(date +%s)
    rootfs=$(mktemp -d "${TMPDIR:-/tmp}/kale-like-rootfs.XXXXXX")
    debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
      "$SUITE" "$rootfs" "$url" >"$STATE/debootstrap.log" 2>&1 \
      || { log "debootstrap failed; see $STATE/debootstrap.log"; tail -20 "$STATE/debootstrap.log"; rm -rf "$rootfs"; exit 3; }
    # A venv on PATH gives `python3 -m pip install` without PEP 668 refusals, like python:*-slim.
    chroot "$rootfs" python3 -m venv /opt/venv
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    mkdir -p "$BASE_CACHE"
    tar -C "$rootfs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$rootfs"
    log "debootstrap took $(( $(date +%s) - t0 ))s"
  fi
  docker import \
    --change 'ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    "$tarball" "$BASE_IMAGE" >/dev/null
  log "base image $BASE_IMAGE imported"
fi

# --- 3. the registry ------------------------------------------------------------------
if curl -fsS -m 2 "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1; then
  log "a registry already answers on $REGISTRY_ADDR; reusing it"
else
  command -v docker-registry >/dev/null || { log "docker-registry not found: run scripts/setup-system.sh"; exit 3; }
  regdir=$(mktemp -d "${TMPDIR:-/tmp}/kale-like-registry.XXXXXX")
  # Our own config: Debian's default one wants htpasswd and listens on every interface.
  cat >"$regdir/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $regdir/data
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
EOF
  docker-registry serve "$regdir/config.yml" >"$STATE/registry.log" 2>&1 &
  echo "registry $! $regdir" >>"$PIDS"
  for _ in $(seq 1 100); do
    curl -fsS -m 1 "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fsS -m 2 "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1 \
    || { log "registry did not start; see $STATE/registry.log"; tail -20 "$STATE/registry.log"; exit 3; }
  log "registry listening on $REGISTRY_ADDR"
fi
log "ready (stop with scripts/docker-down.sh)"
