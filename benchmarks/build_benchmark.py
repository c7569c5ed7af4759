"""layerforge build beside the plain recipe in one run: cold/warm time, unzipped/zipped size.

The plain recipe is AWS's documented one:
    pip install --platform manylinux2014_x86_64 --only-binary=:all: -t python/ <pins>; zip -r

Each side starts cold with its own empty pip cache (so both download everything), then runs
again warm (pip's cache filled; layerforge's build cache filled). Usage:

    python benchmarks/build_benchmark.py [--json]

Targets (from the issue): unzipped size <= 70% of the plain recipe's, warm rebuild < 1 s,
cold build no slower than the plain recipe.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from layerforge.spec import default_requirements_file, read_requirements


@dataclass(frozen=True)
class Run:
    recipe: str
    phase: str
    seconds: float
    unzipped_bytes: int
    zipped_bytes: int


def _zip_tree(root: Path, destination: Path) -> tuple[int, int]:
    unzipped = 0
    with zipfile.ZipFile(destination, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                unzipped += path.stat().st_size
                archive.write(path, path.relative_to(root.parent).as_posix())
    return unzipped, destination.stat().st_size


def plain_recipe(pins: list[str], work: Path, env: dict[str, str]) -> tuple[int, int]:
    target = work / "python"
    shutil.rmtree(target, ignore_errors=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--platform", "manylinux2014_x86_64",
         "--only-binary=:all:", "--implementation", "cp", "--python-version", "3.11",
         "--target", str(target), *pins],
        check=True, env=env,
    )  # fmt: skip
    return _zip_tree(target, work / "plain.zip")


def layerforge_recipe(work: Path, env: dict[str, str]) -> tuple[int, int]:
    output = work / "layer.zip"
    done = subprocess.run(
        [sys.executable, "-m", "layerforge", "build", "--json", "-o", str(output)],
        check=True, env=env, capture_output=True, text=True,
    )  # fmt: skip
    result = json.loads(done.stdout)
    return int(result["unzipped_bytes"]), int(result["zipped_bytes"])


def measure(recipe: str, pins: list[str], work: Path) -> list[Run]:
    """A cold run then a warm run of one recipe, each returning (unzipped, zipped) bytes."""
    env = {
        **os.environ,
        "PIP_CACHE_DIR": str(work / "pip-cache"),
        "LAYERFORGE_CACHE_DIR": str(work / "lf-cache"),
    }
    runs = []
    for phase in ("cold", "warm"):
        started = time.perf_counter()
        if recipe == "plain":
            unzipped, zipped = plain_recipe(pins, work, env)
        else:
            unzipped, zipped = layerforge_recipe(work, env)
        runs.append(Run(recipe, phase, time.perf_counter() - started, unzipped, zipped))
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    pins = read_requirements(default_requirements_file())
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="layerforge-bench-") as scratch:
        for recipe in ("plain", "layerforge"):
            work = Path(scratch) / recipe
            work.mkdir()
            runs.extend(measure(recipe, pins, work))
    report(runs, as_json=args.json)
    return 0


def report(runs: list[Run], *, as_json: bool) -> None:
    by = {(r.recipe, r.phase): r for r in runs}
    plain, ours = by["plain", "cold"], by["layerforge", "cold"]
    verdicts = {
        "unzipped_ratio": ours.unzipped_bytes / plain.unzipped_bytes,
        "unzipped_ratio_target_0.70": ours.unzipped_bytes / plain.unzipped_bytes <= 0.70,
        "warm_rebuild_under_1s": by["layerforge", "warm"].seconds < 1.0,
        "cold_no_slower_than_plain": ours.seconds <= plain.seconds,
    }
    if as_json:
        print(json.dumps({"runs": [asdict(r) for r in runs], "verdicts": verdicts}, indent=2))
        return
    table = Table(title="layerforge build vs the plain pip recipe (seed pins, python3.11/x86_64)")
    for column in ("recipe", "phase", "seconds", "unzipped MB", "zipped MB"):
        table.add_column(column, justify="right" if column != "recipe" else "left")
    for r in runs:
        table.add_row(
            r.recipe, r.phase, f"{r.seconds:.2f}",
            f"{r.unzipped_bytes / 1e6:.1f}", f"{r.zipped_bytes / 1e6:.1f}",
        )  # fmt: skip
    console = Console()
    console.print(table)
    for name, value in verdicts.items():
        console.print(f"{name}: {value:.3f}" if isinstance(value, float) else f"{name}: {value}")


if __name__ == "__main__":
    raise SystemExit(main())
