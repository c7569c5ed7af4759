"""The plain recipes the benchmarks compare layerforge with, written once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

#: AWS's documented cross-install: one platform tag, binary only.
PLAIN_PLATFORM = [
    "--platform",
    "manylinux2014_x86_64",
    "--only-binary=:all:",
    "--implementation",
    "cp",
    "--python-version",
    "3.11",
]


def pip_plain(
    pins: list[str], target: Path, env: dict[str, str] | None = None, python: str = "3.11"
) -> None:
    """pip install --platform manylinux2014_x86_64 --only-binary=:all: -t <target> <pins>."""
    platform = [*PLAIN_PLATFORM[:-1], python]
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", *platform, "-t", str(target), *pins],
        check=True,
        env=env,
    )


def zip_tree(root: Path, destination: Path) -> tuple[int, int]:
    """zip -r of ``root`` (entries named from its parent); returns (unzipped, zipped) bytes."""
    unzipped = 0
    with zipfile.ZipFile(destination, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                unzipped += path.stat().st_size
                archive.write(path, path.relative_to(root.parent).as_posix())
    return unzipped, destination.stat().st_size


def layerforge_build(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """``layerforge build --json ARGS`` as a fresh process (interpreter start included, as users
    run it); its JSON document."""
    done = subprocess.run(
        [sys.executable, "-m", "layerforge", "build", "--json", *args],
        env=env if env is not None else dict(os.environ),
        capture_output=True,
        text=True,
        check=True,
    )
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def seed_pins() -> list[str]:
    """The bundled function's pins (what ``layerforge build`` builds by default)."""
    from layerforge.inputs import InputsRequest, collect_inputs
    from layerforge.runtimes import Architecture, get_runtime

    inputs = collect_inputs(InputsRequest(), get_runtime("python3.11"), Architecture.X86_64)
    return inputs.describe()


#: Pins every runtime of a python3.11/3.12 x86_64/arm64 matrix has wheels for (the seed's
#: pandas 1.5.3 has no cp312 wheel)
CURRENT_PINS = ["numpy==2.2.6", "pandas==2.2.3", "matplotlib==3.9.2", "seaborn==0.13.2"]
