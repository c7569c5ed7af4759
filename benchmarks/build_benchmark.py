"""layerforge build beside the plain recipe in one run: cold/warm time, unzipped/zipped size.

The plain recipe is AWS's documented one:
    pip install --platform manylinux2014_x86_64 --only-binary=:all: -t python/ <pins>; zip -r
With --docker-image, the docker backend runs beside the reference's docker run recipe
(the same image, pip --only-binary=:all: -t python/ inside it, then zip).

Each side starts cold with its own empty pip cache (so both download everything), then runs
again warm (pip's cache filled; layerforge's build cache filled). Usage:

    python -m benchmarks.build_benchmark [--json] [--docker-image layerforge/lambda-python:3.11]

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
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.recipes import pip_plain, seed_pins, zip_tree


@dataclass(frozen=True)
class Run:
    recipe: str
    phase: str
    seconds: float
    unzipped_bytes: int
    zipped_bytes: int


def plain_recipe(pins: list[str], work: Path, env: dict[str, str]) -> tuple[int, int]:
    target = work / "python"
    shutil.rmtree(target, ignore_errors=True)
    pip_plain(pins, target, env)
    return zip_tree(target, work / "plain.zip")


def docker_plain_recipe(pins: list[str], work: Path, image: str) -> tuple[int, int]:
    """The reference's docker run recipe, driven by the Docker SDK: pip -t python/, then zip."""
    import docker

    target = work / "python"
    shutil.rmtree(target, ignore_errors=True)
    client = docker.from_env()
    command = ["-m", "pip", "install", "--quiet", "--only-binary=:all:", "-t", "/out/python"]
    volumes = {str(work): {"bind": "/out", "mode": "rw"}}
    environment = {}
    ca_bundle = os.environ.get("PIP_CERT")  # a TLS-intercepting network needs its CA in there too
    if ca_bundle and Path(ca_bundle).is_file():
        volumes[ca_bundle] = {"bind": "/etc/pip-ca.pem", "mode": "ro"}
        environment["PIP_CERT"] = "/etc/pip-ca.pem"
    client.containers.run(
        image,
        [*command, *pins],
        entrypoint=["python3"],
        volumes=volumes,
        environment=environment,
        network_mode="host",
        remove=True,
    )
    return zip_tree(target, work / "plain.zip")


def layerforge_recipe(
    work: Path, env: dict[str, str], extra: tuple[str, ...] = ()
) -> tuple[int, int]:
    output = work / "layer.zip"
    done = subprocess.run(
        [sys.executable, "-m", "layerforge", "build", "--json", "-o", str(output), *extra],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    )
    result = json.loads(done.stdout)
    return int(result["unzipped_bytes"]), int(result["zipped_bytes"])


def measure(recipe: str, pins: list[str], work: Path, image: str | None = None) -> list[Run]:
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
        elif recipe == "docker-plain":
            unzipped, zipped = docker_plain_recipe(pins, work, str(image))
        elif recipe == "layerforge-docker":
            extra = ("--backend", "docker", "--image", str(image))
            unzipped, zipped = layerforge_recipe(work, env, extra)
        else:
            unzipped, zipped = layerforge_recipe(work, env, ("--backend", "cross"))
        runs.append(Run(recipe, phase, time.perf_counter() - started, unzipped, zipped))
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--docker-image", help="also compare the docker backend with the docker run recipe"
    )
    args = parser.parse_args()
    recipes = ["plain", "layerforge"]
    if args.docker_image:
        recipes += ["docker-plain", "layerforge-docker"]
    pins = seed_pins()
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="layerforge-bench-") as scratch:
        for recipe in recipes:
            work = Path(scratch) / recipe
            work.mkdir()
            runs.extend(measure(recipe, pins, work, args.docker_image))
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
    if ("docker-plain", "cold") in by:
        docker_plain, docker_ours = by["docker-plain", "cold"], by["layerforge-docker", "cold"]
        verdicts["docker_unzipped_ratio"] = docker_ours.unzipped_bytes / docker_plain.unzipped_bytes
        verdicts["docker_cold_no_slower"] = docker_ours.seconds <= docker_plain.seconds
    if as_json:
        print(json.dumps({"runs": [asdict(r) for r in runs], "verdicts": verdicts}, indent=2))
        return
    table = Table(title="layerforge build vs the plain pip recipe (seed pins, python3.11/x86_64)")
    for column in ("recipe", "phase", "seconds", "unzipped MB", "zipped MB"):
        table.add_column(column, justify="right" if column != "recipe" else "left")
    for r in runs:
        table.add_row(
            r.recipe,
            r.phase,
            f"{r.seconds:.2f}",
            f"{r.unzipped_bytes / 1e6:.1f}",
            f"{r.zipped_bytes / 1e6:.1f}",
        )
    console = Console()
    console.print(table)
    for name, value in verdicts.items():
        console.print(f"{name}: {value:.3f}" if isinstance(value, float) else f"{name}: {value}")


if __name__ == "__main__":
    raise SystemExit(main())
