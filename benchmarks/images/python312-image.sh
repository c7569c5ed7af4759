#!/usr/bin/env bash
# A python3.12 build image for the docker-backend benchmark, made on this machine: no image
# registry is reachable and Debian bookworm has no python3.12, so the host's own python3.12
# (pyenv's, say) is copied into the local Lambda-like 3.11 image (tests/images/build-images.sh)
# at the same path (a --enable-shared build finds libpython by its rpath) and put on PATH.
#   bash benchmarks/images/python312-image.sh [PYTHON3.12] [IMAGE]
# then: python -m benchmarks.build_benchmark --docker-image layerforge/lambda-python:3.11 \
#         --docker-image python3.12=layerforge/lambda-python:3.12
set -euo pipefail
python="${1:-}"
if [ -z "$python" ]; then  # the first python3.12 that runs (pyenv's shims may not)
  for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12.*/bin/python3.12 \
                   /usr/local/bin/python3.12 /usr/bin/python3.12; do
    if "$candidate" -c '' 2>/dev/null; then python="$candidate"; break; fi
  done
fi
[ -n "$python" ] || { echo "no python3.12 on this host: pass its path" >&2; exit 2; }
image="${2:-layerforge/lambda-python:3.12}"
base="${BASE_IMAGE:-layerforge/lambda-python:3.11}"
prefix="$("$python" -c 'import sys; print(sys.prefix)')"
"$python" -m pip --version >/dev/null  # the docker backend runs the image's own pip
links="$(mktemp -d)"
container=""
trap 'rm -rf "$links"; [ -z "$container" ] || docker rm -f "$container" >/dev/null' EXIT
mkdir -p "$links/usr/local/bin"
ln -s "$prefix/bin/python3.12" "$links/usr/local/bin/python3.12"
container="$(docker create "$base")"
tar -C / -cf - "${prefix#/}" | docker cp - "$container:/"
tar -C "$links" -cf - usr | docker cp - "$container:/"
docker commit "$container" "$image" >/dev/null
echo "$image: $(docker run --rm --entrypoint python3.12 "$image" -c 'import sys; print(sys.version.split()[0])')"
