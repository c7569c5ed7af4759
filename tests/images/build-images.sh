#!/usr/bin/env bash
# Build the local Docker images and root filesystems the tests use (no registry is reachable).
# Idempotent: an image or root filesystem that already exists is kept. Needs root, docker,
# debootstrap, busybox-static, and (for arm64) qemu-user-static with binfmt.
#
#   busybox:latest                        moto fills its Lambda volumes with it
#   layerforge/lambda-python:3.11         a Lambda-like Python 3.11 image: Debian bookworm rootfs,
#                                         boto3 in /var/runtime (outside /opt, as Lambda has it),
#                                         /var/task work dir, docker-lambda style entrypoint
#   layerforge/lambda-python:3.11-arm64   the same for linux/arm64 (runs under qemu-aarch64)
#   $IMAGE_WORK_DIR/bookworm-arm64        that arm64 root filesystem, for the bubblewrap sandbox
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
LAMBDA_IMAGE="${LAYERFORGE_TEST_IMAGE:-layerforge/lambda-python:3.11}"
ARM_IMAGE="${LAYERFORGE_TEST_IMAGE_ARM64:-layerforge/lambda-python:3.11-arm64}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
work="${IMAGE_WORK_DIR:-/var/tmp/layerforge-images}"
mkdir -p "$work"

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

runtime_packages() {  # boto3 in /var/runtime, as Lambda provides it (pure Python: any arch)
  rm -rf "$1/var/runtime" && mkdir -p "$1/var/runtime" "$1/var/task" "$1/opt"
  python3 -m pip install --quiet --no-compile --target "$1/var/runtime" \
    --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 \
    --platform manylinux2014_x86_64 boto3
  cp "$here/../../layerforge/_scripts/lambda_runner.py" "$1/var/runtime/bootstrap.py"
  rm -f "$1"/usr/lib/python3.*/EXTERNALLY-MANAGED
  rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*
}

import_image() {  # rootfs architecture tag (a docker-archive: any daemon loads it)
  python3 "$here/import_image.py" "$1" "$2" "$3" | docker load >/dev/null
}

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
  runtime_packages "$rootfs"
  import_image "$rootfs" amd64 "$LAMBDA_IMAGE"
fi

# arm64: the first stage of debootstrap downloads and unpacks the packages without running
# anything; unpacking the rest with dpkg-deb gives a root filesystem whose python3.11 runs under
# qemu-aarch64 (binfmt), without the slow emulated second stage.
arm_rootfs="$work/bookworm-arm64"
if [ ! -x "$arm_rootfs/usr/bin/python3.11" ]; then
  echo "building the arm64 root filesystem (debootstrap --foreign)"
  rm -rf "$arm_rootfs"
  debootstrap --arch=arm64 --foreign --variant=minbase \
    --include=python3,python3-pip,ca-certificates bookworm "$arm_rootfs" "$MIRROR"
  while read -r _ deb; do dpkg-deb -x "$arm_rootfs$deb" "$arm_rootfs"; done \
    < "$arm_rootfs/debootstrap/debpaths"
  rm -rf "$arm_rootfs/debootstrap"
  runtime_packages "$arm_rootfs"
fi
if ! have_image "$ARM_IMAGE"; then
  echo "building $ARM_IMAGE"
  import_image "$arm_rootfs" arm64 "$ARM_IMAGE"
fi
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "busybox|lambda-python"
