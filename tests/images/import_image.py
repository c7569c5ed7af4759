"""Turn a root filesystem into a local Docker image of a given architecture, for ``docker load``.

``docker import --platform`` needs an experimental daemon; a docker-archive (one layer, a config
naming the architecture) loads into any daemon. Usage::

    python import_image.py ROOTFS ARCH NAME:TAG | docker load
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile
import tempfile
from pathlib import Path

ENTRYPOINT = ["/usr/bin/python3.11", "/var/runtime/bootstrap.py"]
ENV = [
    "LAMBDA_TASK_ROOT=/var/task",
    "LAMBDA_RUNTIME_DIR=/var/runtime",
    "LANG=C.UTF-8",
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
]


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def main(rootfs: str, arch: str, tag: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        layer = Path(scratch) / "layer.tar"
        with tarfile.open(layer, "w") as archive:
            archive.add(rootfs, arcname=".")
        digest = hashlib.sha256()
        with layer.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        config = json.dumps(
            {
                "architecture": arch,
                "os": "linux",
                "config": {"Entrypoint": ENTRYPOINT, "WorkingDir": "/var/task", "Env": ENV},
                "rootfs": {"type": "layers", "diff_ids": [f"sha256:{digest.hexdigest()}"]},
            }
        ).encode()
        config_name = f"{hashlib.sha256(config).hexdigest()}.json"
        manifest = json.dumps(
            [{"Config": config_name, "RepoTags": [tag], "Layers": ["layer.tar"]}]
        ).encode()
        with tarfile.open(fileobj=sys.stdout.buffer, mode="w|") as out:
            _add(out, config_name, config)
            _add(out, "manifest.json", manifest)
            out.add(layer, arcname="layer.tar")


if __name__ == "__main__":
    main(*sys.argv[1:4])
