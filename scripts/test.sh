#!/usr/bin/env bash
# The whole test suite on a fresh machine (run as root): installs Debian's docker.io,
# debootstrap, bubblewrap, qemu-user-static and friends, registers the arm64 emulator, starts a
# Docker engine, builds the local test images and root filesystems (no registry is reachable),
# installs layerforge with its test extras into a virtualenv outside the checkout and /usr (as
# users install it), and runs pytest from there. Docker, bubblewrap and emulation tests are
# required here: if any of them cannot run, they fail instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pair in dockerd:docker.io debootstrap:debootstrap busybox:busybox-static \
            bwrap:bubblewrap aarch64-linux-gnu-strip:binutils-aarch64-linux-gnu \
            qemu-aarch64-static:qemu-user-static update-binfmts:binfmt-support \
            setpriv:util-linux node:nodejs npm:npm; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
[ -f /usr/include/zlib.h ] || need+=(zlib1g-dev)
[ -f /usr/include/crypt.h ] || need+=(libcrypt-dev)
/usr/bin/python3 -c "import ensurepip, venv" 2>/dev/null || need+=(python3-venv)
if [ "${#need[@]}" -gt 0 ]; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
fi

# arm64 code runs under qemu-aarch64 (binfmt_misc, F flag: usable inside containers too)
mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true

started=$(bash scripts/docker-engine.sh start)
if [ "$started" = started ]; then trap 'bash scripts/docker-engine.sh stop' EXIT; fi
bash tests/images/build-images.sh

# layerforge as users install it: a virtualenv outside the checkout and outside /usr, readable by
# an unprivileged user (some cases run the command as 'nobody' so permissions mean something)
venv="${LAYERFORGE_TEST_VENV:-/var/tmp/layerforge-ci/venv}"
[ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet '.[test]'
chmod -R a+rX "$venv"
# the IaC toolchains tests/integration/iac/ runs (npm's aws-cdk, aws-cdk-lib, aws-sam-cli): once,
# then cached; if that fails, the rest still runs and those tests fail saying what is missing
iac=tests/integration/iac/tools.sh
bash "$iac" || echo "$iac failed: the IaC tests will fail" >&2

# asl-validator (npm) checks every Step Functions definition layerforge writes; installed once
asl="${LAYERFORGE_ASL_VALIDATOR_DIR:-/var/tmp/layerforge-ci/asl-validator}"
[ -x "$asl/node_modules/.bin/asl-validator" ] ||
  npm install --prefix "$asl" --no-audit --no-fund --silent asl-validator@4.0.0
export LAYERFORGE_ASL_VALIDATOR="$asl/node_modules/.bin/asl-validator"

export LAYERFORGE_REQUIRE_DOCKER=1
export LAYERFORGE_TEST_IMAGE=layerforge/lambda-python:3.11
export LAYERFORGE_TEST_IMAGE_ARM64=layerforge/lambda-python:3.11-arm64
export LAYERFORGE_ROOTFS_ARM64=/var/tmp/layerforge-images/bookworm-arm64
export LAYERFORGE_TEST_INSTALLED=1
# the console script, not 'python -m': the checkout must not shadow the installed package; the
# slowest tests and a junit file (summarised per folder at the end: CI's time, measured)
report="${LAYERFORGE_TEST_REPORT:-$(dirname "$venv")/junit.xml}"
status=0
"$venv/bin/pytest" --import-mode=append -p no:cacheprovider --durations=30 \
  --junitxml="$report" "$@" || status=$?
"$venv/bin/python" scripts/durations.py "$report" || true
exit "$status"
