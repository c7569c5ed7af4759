"""A build matrix beside the same layers built one command at a time, in one run.

2 runtimes x 2 architectures of current pins (the seed's pandas has no cp312 wheel):
``layerforge build --runtime python3.11 --runtime python3.12 --arch x86_64 --arch arm64``
against four separate ``layerforge build`` runs. Each
side starts cold (its own empty pip, uv and build caches). Target (from the issue): the matrix
takes at most 0.6x the time of the four runs.

    python -m benchmarks.matrix_benchmark [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.recipes import CURRENT_PINS, layerforge_build

RUNTIMES = ("python3.11", "python3.12")
ARCHS = ("x86_64", "arm64")


def _build(args: list[str], work: Path) -> dict[str, Any]:
    env = {
        **os.environ,
        "PIP_CACHE_DIR": str(work / "pip-cache"),
        "UV_CACHE_DIR": str(work / "uv-cache"),
        "LAYERFORGE_CACHE_DIR": str(work / "lf-cache"),
    }
    return layerforge_build([*CURRENT_PINS, "--backend", "cross", *args], env)


def separate(work: Path) -> float:
    started = time.perf_counter()
    for runtime in RUNTIMES:
        for arch in ARCHS:
            _build(["--runtime", runtime, "--arch", arch, "-o", str(work / "out")], work)
    return time.perf_counter() - started


def matrix(work: Path) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    args = [a for r in RUNTIMES for a in ("--runtime", r)] + [
        a for a in ARCHS for a in ("--arch", a)
    ]
    document = _build([*args, "-o", str(work / "out")], work)
    return time.perf_counter() - started, document


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="layerforge-matrix-bench-") as scratch:
        four = separate(Path(scratch) / "separate")
        one, document = matrix(Path(scratch) / "matrix")
    result = {
        "separate_seconds": round(four, 1),
        "matrix_seconds": round(one, 1),
        "ratio": round(one / four, 3),
        "target_ratio_0.6_met": one / four <= 0.6,
        "layers_built": sum(1 for layer in document["layers"] if layer["status"] == "built"),
        "cpus": os.cpu_count(),
    }
    if options.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
