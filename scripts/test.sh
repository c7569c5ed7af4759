#!/usr/bin/env bash
# The whole test suite on a fresh machine (run as root): installs Debian's docker.io,
# debootstrap and friends, starts a Docker engine, builds the local test images (no registry
# is reachable), installs layerforge with its test extras and runs pytest. Docker tests are
# required here: if the engine cannot start, this fails instead of skipping them.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pair in dockerd:docker.io debootstrap:debootstrap busybox:busybox-static \
            bwrap:bubblewrap aarch64-linux-gnu-strip:binutils-aarch64-linux-gnu; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
if [ "${#need[@]}" -gt 0 ]; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
fi

started=$(bash scripts/docker-engine.sh start)
if [ "$started" = started ]; then trap 'bash scripts/docker-engine.sh stop' EXIT; fi
bash tests/images/build-images.sh

export LAYERFORGE_REQUIRE_DOCKER=1
export LAYERFORGE_TEST_IMAGE=layerforge/lambda-python:3.11

pip install '.[test]' && python -m pytest "$@"
