#!/usr/bin/env bash
# Builds the collector and agent images from the Dockerfile without a Docker engine or a registry, then
# smoke-checks them: base images made from Debian packages (debootstrap), the build with buildah, the
# checks run inside the built images. Installs buildah and debootstrap with apt when missing (needs root).
#   bash scripts/build-image.sh            # images localhost/envparity-collector:VERSION, localhost/envparity-agent:VERSION
set -euo pipefail
cd "$(dirname "$0")/.."

WORK=.work/image
SUITE=bookworm  # Debian 12: python3.11, the oldest Python that pyproject allows
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
BASE=localhost/envparity-base:$SUITE
BUILDER_BASE=localhost/envparity-builder-base:$SUITE
BUILDAH=(buildah --storage-driver vfs)
mkdir -p "$WORK"

step_started=$SECONDS
step() {  # prints how long the previous step took, then names the next one
  echo "build-image: $1 (previous step $((SECONDS - step_started)) s)"
  step_started=$SECONDS
}

install_tools() {
  local missing=()
  for tool in buildah debootstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  step "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

base_image() {  # NAME PACKAGES: a Debian minbase root file system with PACKAGES, imported as image NAME
  local name=$1 packages=$2 rootfs
  if "${BUILDAH[@]}" inspect --type image "$name" >/dev/null 2>&1; then return 0; fi
  rootfs="$WORK/rootfs-${name##*/}"
  rootfs="${rootfs%%:*}"
  step "debootstrap $SUITE with $packages into $rootfs"
  rm -rf "$rootfs"
  debootstrap --variant=minbase --include="$packages" "$SUITE" "$rootfs" >"$rootfs.log" 2>&1 \
    || { tail -20 "$rootfs.log"; exit 1; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  # The builder downloads wheels: it trusts what this machine trusts (such as a TLS-inspecting proxy's CA).
  if [ -f "$rootfs/etc/ssl/certs/ca-certificates.crt" ]; then
    cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  fi
  step "importing $rootfs as $name"
  local c
  c=$("${BUILDAH[@]}" from scratch)
  "${BUILDAH[@]}" copy --quiet "$c" "$rootfs" / >/dev/null
  "${BUILDAH[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$c"
  "${BUILDAH[@]}" commit --quiet "$c" "$name" >/dev/null
  "${BUILDAH[@]}" rm "$c" >/dev/null
  rm -rf "$rootfs"  # the image holds it now; left here it would be walked as build context
}

build() {  # TARGET: image localhost/envparity-TARGET:VERSION
  step "building target $1"
  "${BUILDAH[@]}" bud --layers --isolation chroot \
    --build-arg "BASE=$BASE" --build-arg "BUILDER_BASE=$BUILDER_BASE" \
    --target "$1" -t "localhost/envparity-$1:$VERSION" . >"$WORK/build-$1.log" 2>&1 \
    || { tail -30 "$WORK/build-$1.log"; exit 1; }
}

in_image() {  # IMAGE CMD...: runs CMD in a fresh container of IMAGE, as the image's user
  local image=$1 c status=0
  shift
  c=$("${BUILDAH[@]}" from --quiet "$image")
  "${BUILDAH[@]}" run --isolation chroot "$c" -- "$@" || status=$?
  "${BUILDAH[@]}" rm "$c" >/dev/null
  return $status
}

# Inside the collector image: a collector on a DuckDB file in /tmp answers /ready with 200.
READY_CHECK='
import subprocess, sys, time, urllib.request
port = sys.argv[1]
proc = subprocess.Popen(["envparity", "collector", "serve", "--db", "/tmp/smoke.duckdb", "--port", port])
try:
    for _ in range(120):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as answer:
                print("GET /ready:", answer.status)
                sys.exit(0 if answer.status == 200 else 1)
        except OSError:
            if proc.poll() is not None:
                sys.exit(f"collector exited with {proc.returncode}")
            time.sleep(0.5)
    sys.exit("no answer from /ready within 60 s")
finally:
    proc.terminate()
    proc.wait(timeout=30)
'

# Inside the agent image: the collector's heavy dependencies are not installed.
LEAN_CHECK='
import importlib.util, sys
present = [name for name in ("duckdb", "scipy", "fastapi", "sqlalchemy") if importlib.util.find_spec(name)]
print("collector-only modules present:", present or "none")
sys.exit(1 if present else 0)
'

# In both: no compiler, no pip, a non-root user.
TOOLS_CHECK='
import os, shutil, sys
found = [tool for tool in ("gcc", "cc", "make", "pip", "pip3") if shutil.which(tool)]
print("uid:", os.getuid(), "build tools:", found or "none")
sys.exit(1 if found or os.getuid() == 0 else 0)
'

smoke() {
  local collector="localhost/envparity-collector:$VERSION" agent="localhost/envparity-agent:$VERSION" port
  step "smoke checks"
  for image in "$collector" "$agent"; do
    echo "$image: $(in_image "$image" envparity --version)"
    in_image "$image" python -c "$TOOLS_CHECK"
  done
  in_image "$agent" python -c "$LEAN_CHECK"
  # buildah run shares the host's network: a free port of the host
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  in_image "$collector" python -c "$READY_CHECK" "$port"
  "${BUILDAH[@]}" images --format '{{.Name}}:{{.Tag}} {{.Size}}' | grep 'envparity-\(collector\|agent\)'
}

install_tools
base_image "$BASE" python3
base_image "$BUILDER_BASE" python3,python3-venv,python3-pip
build collector
build agent
smoke
step "done in $SECONDS s"
