#!/usr/bin/env bash
# Build the local Docker images the tests use (no registry is reachable). Idempotent: an image
# that already exists is kept. Needs root, docker, debootstrap and busybox-static.
#
#   busybox:latest                     moto fills its Lambda volumes with it
#   layerforge/lambda-python:3.11      a Lambda-like Python 3.11 image: Debian bookworm rootfs,
#                                      boto3 in /var/runtime (outside /opt, as Lambda has it),
#                                      /var/task work dir, docker-lambda style entrypoint
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
LAMBDA_IMAGE="${LAYERFORGE_TEST_IMAGE:-layerforge/lambda-python:3.11}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
work="${IMAGE_WORK_DIR:-/var/tmp/layerforge-images}"
mkdir -p "$work"

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

if ! have_image busybox:latest; then
  echo "building busybox:latest"
  rm -rf "$work/busybox" && mkdir -p "$work/busybox/bin"
  cp /bin/busybox "$work/busybox/bin/busybox"
  for applet in $("$work/busybox/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$work/busybox/bin/$applet"
  done
  mkdir -p "$work/busybox/tmp" "$work/busybox/opt" "$work/busybox/var/task"
  tar -C "$work/busybox" -c . | docker import -c 'CMD ["sh"]' - busybox:latest >/dev/null
fi

if ! have_image "$LAMBDA_IMAGE"; then
  echo "building $LAMBDA_IMAGE (debootstrap bookworm; takes a few minutes)"
  rootfs="$work/bookworm"
  if [ ! -x "$rootfs/usr/bin/python3.11" ]; then
    rm -rf "$rootfs"
    debootstrap --variant=minbase --include=python3,python3-pip,ca-certificates \
      bookworm "$rootfs" "$MIRROR"
  fi
  rm -f "$rootfs"/usr/lib/python3.*/EXTERNALLY-MANAGED
  rm -rf "$rootfs/var/runtime" && mkdir -p "$rootfs/var/runtime" "$rootfs/var/task" "$rootfs/opt"
  python3 -m pip install --quiet --no-compile --target "$rootfs/var/runtime" \
    --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 \
    --platform manylinux2014_x86_64 boto3
  cp "$here/../../layerforge/sandbox/lambda_runner.py" "$rootfs/var/runtime/bootstrap.py"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import \
    -c 'ENTRYPOINT ["/usr/bin/python3.11", "/var/runtime/bootstrap.py"]' \
    -c 'WORKDIR /var/task' \
    -c 'ENV LAMBDA_TASK_ROOT=/var/task LAMBDA_RUNTIME_DIR=/var/runtime LANG=C.UTF-8' \
    - "$LAMBDA_IMAGE" >/dev/null
fi
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "busybox|lambda-python"
