"""layerforge build beside the plain recipe in one run: cold and warm time, per-step times, size.

The plain recipe is AWS's documented one:
    pip install --platform manylinux2014_x86_64 --only-binary=:all: -t python/ <pins>; zip -r
Both sides run cold ``--repeat`` times (default 3), taking turns (recipe, layerforge, recipe,
...), each time with their own empty pip (and uv, and build) caches, so both download
everything; the cold figure of each side is its median, and the ratio is median to median: on
a shared virtual machine one cold run of either side can be 20% off its median. Then
layerforge's warm rebuild is timed five times, each a fresh ``layerforge build`` process
(interpreter start included), and the median reported. python3.11 (Amazon Linux 2) installs
with pip+uv; python3.12 (Amazon Linux 2023) with uv, where uv is exact. With --docker-image,
the docker backend (the image's pip downloads, uv installs its files) runs beside the docker
run recipe in that image: ``IMAGE`` is a python3.11 one, ``python3.12=IMAGE`` names the runtime
(benchmarks/images/python312-image.sh makes one here, where no registry is reachable). Usage:

    python -m benchmarks.build_benchmark [--json] [--repeat N] [--runtime python3.11 ...]
                                         [--docker-image layerforge/lambda-python:3.11]
                                         [--docker-image python3.12=layerforge/lambda-python:3.12]
                                         [--no-cross]

Targets (issue 14): cold at most 0.5x the matching recipe; warm rebuild at most 0.3 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from benchmarks.recipes import CURRENT_PINS, layerforge_build, pip_plain, seed_pins, zip_tree


@dataclass
class Run:
    runtime: str
    recipe: str
    phase: str
    seconds: float
    unzipped_bytes: int
    zipped_bytes: int
    steps: dict[str, float] = field(default_factory=dict)
    installer: str = ""
    samples: list[float] = field(default_factory=list)  # every cold run's seconds


def _median_run(runs: list[Run]) -> Run:
    """The run with the median time (the lower middle one of an even count), with every
    run's seconds as its samples."""
    ordered = sorted(runs, key=lambda r: r.seconds)
    middle = ordered[(len(ordered) - 1) // 2]
    return replace(middle, samples=[round(r.seconds, 2) for r in runs])


def _env(work: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PIP_CACHE_DIR": str(work / "pip-cache"),
        "UV_CACHE_DIR": str(work / "uv-cache"),
        "LAYERFORGE_CACHE_DIR": str(work / "lf-cache"),
    }


def _settled() -> None:
    """Every run starts with the previous run's writes on disk: the kernel's write-back of one
    side's files must not land in the other side's time."""
    os.sync()


def plain(runtime: str, pins: list[str], work: Path) -> Run:
    target = work / "python"
    shutil.rmtree(target, ignore_errors=True)
    _settled()
    started = time.perf_counter()
    pip_plain(pins, target, _env(work), python=runtime.removeprefix("python"))
    unzipped, zipped = zip_tree(target, work / "plain.zip")
    return Run(runtime, "plain pip", "cold", time.perf_counter() - started, unzipped, zipped)


def docker_plain(runtime: str, pins: list[str], work: Path, image: str) -> Run:
    """The reference's docker run recipe, driven by the Docker SDK: pip -t python/, then zip."""
    import docker

    target = work / "python"
    shutil.rmtree(target, ignore_errors=True)
    _settled()
    started = time.perf_counter()
    volumes = {str(work): {"bind": "/out", "mode": "rw"}}
    environment = {}
    ca_bundle = os.environ.get("PIP_CERT")  # a TLS-intercepting network needs its CA in there
    if ca_bundle and Path(ca_bundle).is_file():
        volumes[ca_bundle] = {"bind": "/etc/pip-ca.pem", "mode": "ro"}
        environment["PIP_CERT"] = "/etc/pip-ca.pem"
    docker.from_env().containers.run(
        image,
        ["-m", "pip", "install", "--quiet", "--only-binary=:all:", "-t", "/out/python", *pins],
        entrypoint=[runtime],
        volumes=volumes,
        environment=environment,
        network_mode="host",
        remove=True,
    )
    unzipped, zipped = zip_tree(target, work / "plain.zip")
    return Run(runtime, "plain docker run", "cold", time.perf_counter() - started, unzipped, zipped)


def layerforge(runtime: str, pins: list[str], work: Path, phase: str, *extra: str) -> Run:
    _settled()
    started = time.perf_counter()
    args = [*pins, "--runtime", runtime, "-o", str(work / "layer.zip"), *extra]
    result = layerforge_build(args, _env(work))
    seconds = time.perf_counter() - started
    backend = "docker" if "docker" in extra else "cross"
    return Run(
        runtime,
        f"layerforge {backend}",
        phase,
        seconds,
        int(result["unzipped_bytes"]),
        int(result["zipped_bytes"]),
        dict(result.get("timings", {})),
        str(result.get("installer", "")),
    )


def compare(
    recipe: Callable[[Path], Run],
    runtime: str,
    pins: list[str],
    scratch: Path,
    *extra: str,
    repeat: int,
) -> list[Run]:
    """``repeat`` cold runs of each side, taking turns, medians reported; then five warm ones."""
    name = f"{runtime}-{'docker' if 'docker' in extra else 'cross'}"
    plain_runs, cold_runs = [], []
    for attempt in range(repeat):
        base = scratch / f"{name}-plain-{attempt}"
        base.mkdir()
        plain_runs.append(recipe(base))
        shutil.rmtree(base, ignore_errors=True)
        work = scratch / f"{name}-{attempt}"
        work.mkdir()
        cold_runs.append(layerforge(runtime, pins, work, "cold", *extra))
        if attempt < repeat - 1:
            shutil.rmtree(work, ignore_errors=True)
    warm = [layerforge(runtime, pins, work, "warm", *extra) for _ in range(5)]
    middle = statistics.median(r.seconds for r in warm)
    return [
        _median_run(plain_runs),
        _median_run(cold_runs),
        next(r for r in warm if r.seconds == middle),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--runtime", action="append", dest="runtimes")
    parser.add_argument(
        "--docker-image",
        action="append",
        default=[],
        help="also the docker backend vs docker run in IMAGE (python3.11), or RUNTIME=IMAGE",
    )
    parser.add_argument("--no-cross", action="store_true", help="only the docker comparison")
    parser.add_argument("--repeat", type=int, default=3, help="cold runs of each side")
    args = parser.parse_args()
    repeat = max(1, args.repeat)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="layerforge-bench-", dir="/var/tmp") as folder:
        scratch = Path(folder)
        for runtime in [] if args.no_cross else args.runtimes or ["python3.11", "python3.12"]:
            pins = seed_pins() if runtime == "python3.11" else CURRENT_PINS

            def pip_recipe(base: Path, runtime: str = runtime, pins: list[str] = pins) -> Run:
                return plain(runtime, pins, base)

            runs += compare(pip_recipe, runtime, pins, scratch, "--backend", "cross", repeat=repeat)
        for named in args.docker_image:
            runtime, _, image = named.rpartition("=")
            runtime = runtime or "python3.11"
            pins = seed_pins() if runtime == "python3.11" else CURRENT_PINS

            def docker_recipe(
                base: Path, runtime: str = runtime, pins: list[str] = pins, image: str = image
            ) -> Run:
                return docker_plain(runtime, pins, base, image)

            extra = ("--backend", "docker", "--image", image)
            runs += compare(docker_recipe, runtime, pins, scratch, *extra, repeat=repeat)
    report(runs, as_json=args.json)
    return 0


def verdicts(runs: list[Run]) -> dict[str, float | bool]:
    found: dict[str, float | bool] = {}
    for run in runs:
        if run.phase == "cold" and run.recipe.startswith("layerforge"):
            recipe = "plain docker run" if "docker" in run.recipe else "plain pip"
            base = next(r for r in runs if r.runtime == run.runtime and r.recipe == recipe)
            name = f"{run.runtime} {run.recipe}"
            found[f"{name}: cold ratio"] = run.seconds / base.seconds
            found[f"{name}: cold <= 0.5x"] = run.seconds <= 0.5 * base.seconds
        if run.phase == "warm":
            found[f"{run.runtime} {run.recipe}: warm <= 0.3 s"] = run.seconds <= 0.3
    return found


def report(runs: list[Run], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"runs": [asdict(r) for r in runs], "verdicts": verdicts(runs)}, indent=2))
        return
    print(
        f"{'runtime':<11}{'recipe':<20}{'phase':<6}{'seconds':>8}{'unzipped MB':>12}"
        f"{'zipped MB':>10}  installer  steps"
    )
    for r in runs:
        steps = " ".join(f"{k}={v:.2f}" for k, v in r.steps.items())
        print(
            f"{r.runtime:<11}{r.recipe:<20}{r.phase:<6}{r.seconds:>8.2f}"
            f"{r.unzipped_bytes / 1e6:>12.1f}{r.zipped_bytes / 1e6:>10.1f}  "
            f"{r.installer or '-':<9}  {steps}"
        )
    for r in runs:
        if len(r.samples) > 1:
            print(f"{r.runtime} {r.recipe}: cold runs {', '.join(f'{t:.2f}' for t in r.samples)}")
    for name, value in verdicts(runs).items():
        print(f"{name}: {value:.2f}" if isinstance(value, float) else f"{name}: {value}")


if __name__ == "__main__":
    raise SystemExit(main())
