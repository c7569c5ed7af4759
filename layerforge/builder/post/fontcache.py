"""matplotlib's font list, made at build time so that no cold start builds it.

matplotlib reads ``fontlist-v<N>.json`` from its cache folder (``MPLCONFIGDIR``) and, when it
is not there, scans its fonts to build it, at every Lambda cold start (``/tmp`` is empty then;
0.1-0.5 s in the sandbox, where ``benchmarks/sandbox_benchmark.py`` measures it). A layer
that holds matplotlib gets the list its own matplotlib builds, with its own fonts only, named
as Lambda extracts the layer (``/opt/python``), in ``python/.layerforge/matplotlib/``
(``SHIPPED``): a function copies that folder into its ``MPLCONFIGDIR`` before importing
matplotlib (a read-only ``MPLCONFIGDIR`` is not an option: matplotlib takes only a writable
one, and otherwise builds the list in a temporary folder).

The list is made by the layer's matplotlib under an interpreter of the target version
(``fontcache_worker``, beside the tree; the tree itself is not touched), on the target's
architecture: the cross backend's host interpreter when the host has the target's
architecture, the docker backend's image interpreter. Where neither can, or this matplotlib
does not build its list the way the worker checks, nothing is shipped (never a wrong list)
and the report says what that costs.
"""

from __future__ import annotations

import json
import platform
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from layerforge._scripts import script_source
from layerforge.builder.post.bytecode import LAMBDA_LAYER_ROOT
from layerforge.builder.result import StepReport
from layerforge.processes import Completed
from layerforge.runtimes import Architecture, Runtime

__all__ = [
    "SHIPPED",
    "FontListRun",
    "foreign_architecture",
    "holds_matplotlib",
    "native",
    "no_interpreter",
    "write_font_list",
]

#: Where the font list goes in the layer, relative to its ``python/`` folder.
SHIPPED = ".layerforge/matplotlib"
STEP = "fontcache"
_COST = "so no font list is shipped and every cold start builds it (0.1-0.5 s)"
_UNSUPPORTED = 2  # fontcache_worker.UNSUPPORTED


def holds_matplotlib(tree: Path) -> bool:
    """Whether the layer's ``python/`` folder has matplotlib's font manager."""
    return (tree / "matplotlib" / "font_manager.py").is_file()


def native(arch: Architecture) -> bool:
    """Whether the host runs ``arch``'s code itself (the layer's matplotlib is native code)."""
    return platform.machine() == arch.platform


def _skipped(detail: str) -> StepReport:
    return StepReport(STEP, 0, 0, f"skipped: {detail}", applied=False)


def no_interpreter(runtime: Runtime) -> StepReport:
    version = runtime.python_version
    return _skipped(
        f"no python{version} on this host to load the layer's matplotlib, {_COST}; install "
        f"python{version}, pass --python, or use --backend docker"
    )


def foreign_architecture(arch: Architecture) -> StepReport:
    return _skipped(
        f"the layer's matplotlib is {arch.platform} code and this host runs "
        f"{platform.machine()}, {_COST}; --backend docker makes it in the {arch.value} image "
        "(under emulation)"
    )


@dataclass(frozen=True)
class FontListRun:
    """How a backend runs the worker: ``run`` a command where ``python`` is the target's
    interpreter, which sees a host path as ``inside`` names it; ``label`` for the report."""

    run: Callable[[Sequence[str]], Completed]
    python: str
    label: str
    inside: Callable[[Path], str] = str


def _worker_command(python: str, arguments: Sequence[str]) -> list[str]:
    source = script_source("fontcache_worker.py")
    return [python, "-I", "-S", "-B", "-c", source, *arguments]


def _result(done: Completed) -> dict[str, object]:
    lines = done.stdout.strip().splitlines()
    try:
        found = json.loads(lines[-1]) if lines else None
    except ValueError:
        found = None
    return found if isinstance(found, dict) else {}


def _failed(done: Completed, label: str) -> StepReport:
    last = (done.stderr.strip().splitlines() or done.stdout.strip().splitlines() or [""])[-1]
    return _skipped(
        f"the layer's matplotlib did not load under {label} (exit {done.returncode}: {last}), "
        f"{_COST}"
    )


def write_font_list(tree: Path, scratch: Path, how: FontListRun) -> StepReport:
    """Make the font list of ``tree``'s matplotlib in ``scratch`` and move it into the tree."""
    output, config = scratch / "fontlist", scratch / "mplconfig"
    for folder in (output, config):
        folder.mkdir(mode=0o755)
    arguments = [how.inside(p) for p in (tree, output, config)]
    done = how.run(_worker_command(how.python, [*arguments, LAMBDA_LAYER_ROOT]))
    result = _result(done)
    if done.returncode == _UNSUPPORTED and "skipped" in result:
        return _skipped(
            f"matplotlib {result.get('matplotlib')} does not keep its font list the way the "
            f"build checks ({result['skipped']}), {_COST}"
        )
    name = str(result.get("file", ""))
    if done.returncode != 0 or not name or not (output / name).is_file():
        return _failed(done, how.label)
    shipped = tree / SHIPPED
    shipped.mkdir(parents=True, exist_ok=True)
    shutil.move(output / name, shipped / name)
    size = (shipped / name).stat().st_size
    detail = (
        f"{name} of matplotlib {result.get('matplotlib')} (its own {result.get('ttf')} "
        f"TrueType and {result.get('afm')} AFM fonts) in python/{SHIPPED}/, by {how.label}"
    )
    return StepReport(STEP, -size, 1, detail)
