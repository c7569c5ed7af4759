"""verify-abi on the reference layer beside ``auditwheel show`` on the same wheels, in one run.

The reference layer is the seed pins installed by the plain recipe
(pip --platform manylinux2014_x86_64 -t python/, with pip's own .pyc) and zipped: ~7,769 files.
Target (from the issue): verify-abi reads that zip in under one second.

    pip install '.[bench]' && python -m benchmarks.verify_benchmark [--json] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from benchmarks.recipes import PLAIN_PLATFORM, pip_plain, seed_pins, zip_tree
from layerforge.runtimes import Architecture, get_runtime
from layerforge.verify import verify_layer


def reference_zip(pins: list[str], work: Path) -> Path:
    pip_plain(pins, work / "python")
    zip_tree(work / "python", work / "reference.zip")
    return work / "reference.zip"


def download_wheels(pins: list[str], work: Path) -> list[Path]:
    folder = work / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            *PLAIN_PLATFORM,
            "-d",
            str(folder),
            *pins,
        ],
        check=True,
    )
    return sorted(folder.glob("*.whl"))


def time_verify(layer: Path, repeat: int) -> list[float]:
    runtime, arch = get_runtime("python3.11"), Architecture.X86_64
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        report = verify_layer([layer], runtime, arch)
        seconds.append(time.perf_counter() - started)
        assert report.passed, report.summary
    return seconds


def time_auditwheel(wheels: list[Path], repeat: int) -> list[float] | None:
    auditwheel = shutil.which("auditwheel")
    if auditwheel is None:
        return None
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        for wheel in wheels:
            subprocess.run([auditwheel, "show", str(wheel)], check=False, capture_output=True)
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    pins = seed_pins()
    with tempfile.TemporaryDirectory(prefix="layerforge-verify-bench-") as scratch:
        work = Path(scratch)
        layer = reference_zip(pins, work)
        files = len(zipfile.ZipFile(layer).namelist())
        wheels = download_wheels(pins, work)
        ours = time_verify(layer, args.repeat)
        theirs = time_auditwheel(wheels, args.repeat)
    result = {
        "reference_files": files,
        "wheels": len(wheels),
        "verify_abi_seconds_median": statistics.median(ours),
        "auditwheel_show_seconds_median": statistics.median(theirs) if theirs else None,
        "verify_under_1s": statistics.median(ours) < 1.0,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}")
        if theirs is None:
            print("auditwheel not installed: pip install '.[bench]' to compare")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
