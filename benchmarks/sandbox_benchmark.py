"""Cold import of pandas+matplotlib+seaborn inside the Lambda-like sandbox: the layer
layerforge builds beside the plain recipe's layer (pip install ... -t python/, zipped), in one run;
then layerforge's layer with a fresh, writable MPLCONFIGDIR, with and without the font list it
ships copied in first (what the payload's headless.py does), taking turns.

Each measurement is a fresh interpreter in a read-only container, as a cold start is. Needs a
Docker engine and a runtime image (``--image``; the tests build layerforge/lambda-python:3.11).

    python -m benchmarks.sandbox_benchmark --image layerforge/lambda-python:3.11 [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from benchmarks.recipes import layerforge_build, pip_plain, seed_pins, zip_tree
from layerforge.runtimes import Architecture, get_runtime
from layerforge.sandbox import Sandbox, SandboxSpec, open_sandbox

PROBE = (
    "import time; t = time.perf_counter(); import pandas, matplotlib, seaborn; "
    "print(time.perf_counter() - t)"
)
#: The same with MPLCONFIGDIR a fresh folder (argv[1]), the shipped font list copied in first
#: when argv[2] is "shipped" (the copy is timed too): wall and CPU seconds of the whole import,
#: then of matplotlib's font manager alone (where the list is built or read). The CPU time of
#: one process is what the load of a shared machine disturbs least.
FONT_LIST_PROBE = (
    "import os, shutil, sys, time; clocks = (time.perf_counter, time.process_time); "
    "start = [c() for c in clocks]; "
    "os.environ['MPLCONFIGDIR'] = sys.argv[1]; os.makedirs(sys.argv[1]); "
    "sys.argv[2] == 'shipped' and shutil.copytree("
    "'/opt/python/.layerforge/matplotlib', sys.argv[1], dirs_exist_ok=True); "
    "import pandas, matplotlib; fonts = [c() for c in clocks]; import matplotlib.font_manager; "
    "fonts = [c() - f for c, f in zip(clocks, fonts)]; import seaborn; "
    "print(*[c() - s for c, s in zip(clocks, start)], *fonts)"
)
#: What each number of the probe's line is.
FONT_LIST_COLUMNS = ("seconds", "cpu_seconds", "font_manager_seconds", "font_manager_cpu_seconds")
FONT_LISTS = ("built", "shipped")


def plain_layer(pins: list[str], work: Path) -> Path:
    pip_plain(pins, work / "python")
    zip_tree(work / "python", work / "plain.zip")
    return work / "plain.zip"


def layerforge_layer(work: Path) -> Path:
    output = work / "layerforge.zip"
    layerforge_build(["--backend", "cross", "-o", str(output)])
    return output


def _spec(image: str) -> SandboxSpec:
    return SandboxSpec(
        runtime=get_runtime("python3.11"), architecture=Architecture.X86_64, image=image
    )


def _seconds(sandbox: Sandbox, *probe: str) -> list[float]:
    done = sandbox.call([*sandbox.python, "-c", *probe])
    return [float(value) for value in done.stdout.strip().splitlines()[-1].split()]


def cold_imports(layer: Path, image: str, repeat: int, engine: str) -> list[float]:
    seconds = []
    with open_sandbox(layer, _spec(image), engine=engine, sink=lambda _e: None) as sandbox:
        for _ in range(repeat + 1):  # the first run warms the page cache, as for both layers
            seconds += _seconds(sandbox, PROBE)
    return seconds[1:]


def font_list_imports(
    layer: Path, image: str, repeat: int, engine: str
) -> dict[str, list[list[float]]]:
    """Cold imports with a fresh MPLCONFIGDIR each, the font list built or shipped, taking
    turns (which goes first alternates): the probe's numbers for each; the first round warms
    the page cache."""
    seconds: dict[str, list[list[float]]] = {kind: [] for kind in FONT_LISTS}
    with open_sandbox(layer, _spec(image), engine=engine, sink=lambda _e: None) as sandbox:
        for turn in range(repeat + 1):
            for kind in FONT_LISTS if turn % 2 else reversed(FONT_LISTS):
                folder = f"/tmp/mpl-{kind}-{turn}"
                seconds[kind].append(_seconds(sandbox, FONT_LIST_PROBE, folder, kind))
    return {kind: values[1:] for kind, values in seconds.items()}


def _medians(runs: list[list[float]]) -> dict[str, float]:
    """The median of each of the probe's numbers, by name."""
    return {
        name: statistics.median(run[column] for run in runs)
        for column, name in enumerate(FONT_LIST_COLUMNS)
    }


def _runs(runs: list[list[float]], first: int) -> str:
    """Each run's wall/CPU seconds (the columns from ``first``)."""
    return ", ".join(f"{run[first]:.2f}/{run[first + 1]:.2f}" for run in runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--image", default="layerforge/lambda-python:3.11")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sandbox", choices=["auto", "docker", "bwrap"], default="auto")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    pins = seed_pins()
    with tempfile.TemporaryDirectory(prefix="layerforge-sandbox-bench-") as scratch:
        work = Path(scratch)
        layer = layerforge_layer(work)
        ours = statistics.median(cold_imports(layer, args.image, args.repeat, args.sandbox))
        lists = font_list_imports(layer, args.image, args.repeat, args.sandbox)
        plain = statistics.median(
            cold_imports(plain_layer(pins, work), args.image, args.repeat, args.sandbox)
        )
    medians = {kind: _medians(lists[kind]) for kind in FONT_LISTS}
    result: dict[str, object] = {
        "layerforge_seconds": ours,
        "plain_recipe_seconds": plain,
        "ratio": ours / plain,
        "font_list_runs": lists,
    }
    for kind, found in medians.items():
        result.update({f"font_list_{kind}_{name}": value for name, value in found.items()})
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"cold import pandas+matplotlib+seaborn, median of {args.repeat}:")
        print(f"  layerforge layer   {ours:.2f} s")
        print(f"  plain recipe layer {plain:.2f} s")
        print(f"  ratio              {ours / plain:.2f}")
        print(f"layerforge layer, a fresh MPLCONFIGDIR, median of {args.repeat} (taking turns):")
        for kind, found in medians.items():
            print(
                f"  font list {kind:<8} {found['seconds']:.2f} s, CPU {found['cpu_seconds']:.2f}"
                f" s; its font manager {found['font_manager_seconds']:.3f} s, CPU "
                f"{found['font_manager_cpu_seconds']:.3f} s"
            )
            print(f"    wall/CPU: {_runs(lists[kind], 0)}; font manager {_runs(lists[kind], 2)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
