"""Real signals sent to a 2x2 matrix build (two runtimes, two architectures, combinations in
parallel): every combination stops at once, none is put in place after the signal, every
combination's scratch folder and child processes go, and the message names what was kept and
what had been placed before the signal.

Each scenario is one run (the expensive part), judged by several tests.
"""

from __future__ import annotations

import hashlib
import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.adversarial.conftest import interrupted_cleanly
from tests.adversarial.harness import Run, in_folder, ram_folder

pytestmark = [pytest.mark.adversarial, pytest.mark.network, pytest.mark.slow]

COMBINATIONS = [(r, a) for r in ("python3.11", "python3.12") for a in ("x86_64", "arm64")]
MATRIX = [
    "build",
    "numpy==1.26.4",
    "pandas==2.2.2",
    *("--runtime", "python3.11", "--runtime", "python3.12"),
    *("--arch", "x86_64", "--arch", "arm64"),
    *("--backend", "cross", "-o", "dist/"),
]


@pytest.fixture(scope="module")
def ram() -> Iterator[Path]:
    with ram_folder("layerforge-matrix-signals-") as folder:
        yield folder


def _output(runtime: str, arch: str) -> str:
    return f"dist/layer-{runtime}-{arch}.zip"


@dataclass
class Scenario:
    run: Run
    folder: Path
    previous: dict[str, bytes]  # file name -> the bytes before the run


def _scenario(folder: Path, phase: str, signum: int, **options: object) -> Scenario:
    dist = folder / "dist"
    dist.mkdir(parents=True)
    previous = {}
    for runtime, arch in COMBINATIONS:
        stem = f"layer-{runtime}-{arch}"
        previous[f"{stem}.zip"] = f"PK previous {stem}".encode()
        previous[f"{stem}.manifest.json"] = b'{"previous": "good"}\n'
    for name, data in previous.items():
        (dist / name).write_bytes(data)
    run = in_folder(folder, MATRIX, interrupt_on=phase, signum=signum, **options)
    return Scenario(run, folder, previous)


@pytest.fixture(scope="module")
def mid_build(ram: Path) -> Scenario:
    """Three Ctrl-Cs in a row while the first combinations deflate their zips."""
    return _scenario(ram / "mid-build", r"zip \.\.\.", signal.SIGINT, repeat=3, spacing=0.2)


@pytest.fixture(scope="module")
def after_first_placed(ram: Path) -> Scenario:
    """SIGTERM once the first combination is in place, the others still building."""
    return _scenario(ram / "after-first", r"place done", signal.SIGTERM)


def test_a_matrix_stops_at_once_and_leaves_nothing_behind(mid_build: Scenario) -> None:
    interrupted_cleanly(mid_build.run, signal.SIGINT)


def test_no_combination_replaced_its_layer(mid_build: Scenario) -> None:
    dist = mid_build.folder / "dist"
    assert {p.name: p.read_bytes() for p in dist.iterdir()} == mid_build.previous
    line = mid_build.run.error_lines[0]
    everything = ", ".join(_output(runtime, arch) for runtime, arch in COMBINATIONS)
    assert f"{everything} kept (the last good layers); nothing was replaced" in line, line


def _placement_started_before_the_signal(run: Run) -> set[str]:
    return {
        _output(runtime, arch)
        for runtime, arch in COMBINATIONS
        if re.search(rf"{runtime}/{arch} place \.\.\.", run.before_signal)
    }


def test_after_the_first_placement_nothing_else_is_placed(after_first_placed: Scenario) -> None:
    run, dist = after_first_placed.run, after_first_placed.folder / "dist"
    interrupted_cleanly(run, signal.SIGTERM)
    started = _placement_started_before_the_signal(run)
    assert started, run.describe()
    replaced = {
        f"dist/{p.name}"
        for p in dist.iterdir()
        if p.suffix == ".zip" and p.read_bytes() != after_first_placed.previous[p.name]
    }
    # only a placement that had started before the signal may have completed
    assert replaced and replaced <= started, run.describe()
    line = run.error_lines[0]
    named = re.search(r"put in place before the signal: ([^;]*)", line)
    assert named is not None and set(named[1].split(", ")) == replaced, run.describe()
    for runtime, arch in COMBINATIONS:
        output = _output(runtime, arch)
        name = Path(output).name
        manifest = dist / name.replace(".zip", ".manifest.json")
        if output in replaced:  # a whole pair: the manifest names the zip it sits beside
            recorded = json.loads(manifest.read_text())
            assert recorded["sha256"] == hashlib.sha256((dist / name).read_bytes()).hexdigest()
        else:
            assert (dist / name).read_bytes() == after_first_placed.previous[name]
            assert manifest.read_bytes() == after_first_placed.previous[manifest.name]
            kept = re.search(r"(?:^|; )([^;]*) kept \(the last good layers?\)", line)
            assert kept is not None and output in kept[1].split(", "), run.describe()


def test_process_wide_lookups_are_made_before_the_combinations_threads() -> None:
    """sysconfig's first initialisation is not thread-safe on CPython 3.11 (uv's find_uv_bin
    read EXE as None under two build threads): the matrix makes it first, on one thread."""
    probe = (
        "import sysconfig, threading\n"
        "from layerforge.builder.matrix import resolve_shared_lookups\n"
        "from layerforge.runtimes import Architecture, get_runtime\n"
        "from layerforge.builder.request import specs_from_settings\n"
        "runtimes = (get_runtime('python3.11'), get_runtime('python3.12'))\n"
        "flags = {'runtime': runtimes, 'arch': (Architecture.X86_64,)}\n"
        "specs = specs_from_settings(flags, {})\n"
        "resolve_shared_lookups(specs)\n"
        "print(sysconfig._CONFIG_VARS is not None, threading.active_count())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.stdout.split() == ["True", "1"], done.stderr
