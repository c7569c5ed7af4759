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
#: when argv[2] is "shipped": the copy is timed too.
FONT_LIST_PROBE = (
    "import os, shutil, sys, time; t = time.perf_counter(); "
    "os.environ['MPLCONFIGDIR'] = sys.argv[1]; os.makedirs(sys.argv[1]); "
    "sys.argv[2] == 'shipped' and shutil.copytree("
    "'/opt/python/.layerforge/matplotlib', sys.argv[1], dirs_exist_ok=True); "
    "import pandas, matplotlib, seaborn; print(time.perf_counter() - t)"
)
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


def _seconds(sandbox: Sandbox, *probe: str) -> float:
    done = sandbox.call([*sandbox.python, "-c", *probe])
    return float(done.stdout.strip().splitlines()[-1])


def cold_imports(layer: Path, image: str, repeat: int, engine: str) -> list[float]:
    seconds = []
    with open_sandbox(layer, _spec(image), engine=engine, sink=lambda _e: None) as sandbox:
        for _ in range(repeat + 1):  # the first run warms the page cache, as for both layers
            seconds.append(_seconds(sandbox, PROBE))
    return seconds[1:]


def font_list_imports(layer: Path, image: str, repeat: int, engine: str) -> dict[str, list[float]]:
    """Cold imports with a fresh MPLCONFIGDIR each, the font list built or shipped, taking
    turns (which goes first alternates); the first round warms the page cache."""
    seconds: dict[str, list[float]] = {kind: [] for kind in FONT_LISTS}
    with open_sandbox(layer, _spec(image), engine=engine, sink=lambda _e: None) as sandbox:
        for turn in range(repeat + 1):
            for kind in FONT_LISTS if turn % 2 else reversed(FONT_LISTS):
                folder = f"/tmp/mpl-{kind}-{turn}"
                seconds[kind].append(_seconds(sandbox, FONT_LIST_PROBE, folder, kind))
    return {kind: values[1:] for kind, values in seconds.items()}


def _runs(values: list[float]) -> str:
    return "(" + ", ".join(f"{v:.2f}" for v in values) + ")"


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
    built, shipped = (statistics.median(lists[kind]) for kind in FONT_LISTS)
    result = {
        "layerforge_seconds": ours,
        "plain_recipe_seconds": plain,
        "ratio": ours / plain,
        "font_list_built_seconds": built,
        "font_list_shipped_seconds": shipped,
        "font_list_runs": lists,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"cold import pandas+matplotlib+seaborn, median of {args.repeat}:")
        print(f"  layerforge layer   {ours:.2f} s")
        print(f"  plain recipe layer {plain:.2f} s")
        print(f"  ratio              {ours / plain:.2f}")
        print(f"layerforge layer, a fresh MPLCONFIGDIR, median of {args.repeat} (taking turns):")
        print(f"  font list built at import  {built:.2f} s  {_runs(lists['built'])}")
        print(f"  font list shipped, copied  {shipped:.2f} s  {_runs(lists['shipped'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
