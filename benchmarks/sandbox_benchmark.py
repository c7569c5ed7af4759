"""Cold import of pandas+matplotlib+seaborn inside the Lambda-like sandbox: the layer
layerforge builds beside the plain recipe's layer (pip install ... -t python/, zipped), in one run.

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
from layerforge.sandbox import SandboxSpec, open_sandbox

PROBE = (
    "import time; t = time.perf_counter(); import pandas, matplotlib, seaborn; "
    "print(time.perf_counter() - t)"
)


def plain_layer(pins: list[str], work: Path) -> Path:
    pip_plain(pins, work / "python")
    zip_tree(work / "python", work / "plain.zip")
    return work / "plain.zip"


def layerforge_layer(work: Path) -> Path:
    output = work / "layerforge.zip"
    layerforge_build(["--backend", "cross", "-o", str(output)])
    return output


def cold_imports(layer: Path, image: str, repeat: int, engine: str) -> list[float]:
    spec = SandboxSpec(
        runtime=get_runtime("python3.11"), architecture=Architecture.X86_64, image=image
    )
    seconds = []
    with open_sandbox(layer, spec, engine=engine, sink=lambda _e: None) as sandbox:
        for _ in range(repeat + 1):  # the first run warms the page cache, as for both layers
            done = sandbox.call([*sandbox.python, "-c", PROBE])
            seconds.append(float(done.stdout.strip().splitlines()[-1]))
    return seconds[1:]


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
        ours = statistics.median(
            cold_imports(layerforge_layer(work), args.image, args.repeat, args.sandbox)
        )
        plain = statistics.median(
            cold_imports(plain_layer(pins, work), args.image, args.repeat, args.sandbox)
        )
    result = {"layerforge_seconds": ours, "plain_recipe_seconds": plain, "ratio": ours / plain}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"cold import pandas+matplotlib+seaborn, median of {args.repeat}:")
        print(f"  layerforge layer   {ours:.2f} s")
        print(f"  plain recipe layer {plain:.2f} s")
        print(f"  ratio              {ours / plain:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
