"""Fixtures for the adversarial suite: run the installed command, judge the way it failed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from layerforge.scratch import remove_tree
from tests.adversarial.harness import BOUND, NOBODY, Run, command, run_layerforge
from tests.conftest import sandbox_required

#: Every case must end within this (seconds) and below this peak memory (KiB) unless it says so.
TIME_BOUND = 60.0
RSS_BOUND_KB = 400 * 1024

LF = Callable[..., Run]


@pytest.fixture
def work() -> Iterator[Path]:
    """A folder every user can enter (pytest's own are private to the user running the tests),
    so cases that run layerforge as an unprivileged user see the same files."""
    folder = Path(tempfile.mkdtemp(prefix="layerforge-adversarial-", dir="/var/tmp"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        remove_tree(folder)


@pytest.fixture
def lf(work: Path) -> LF:
    """``lf(*args, **options)``: run the installed layerforge in ``work``, with a private TMPDIR
    and cache per run."""
    counter = iter(range(1000))

    def run(*args: str, **options: Any) -> Run:
        scratch = work / ".runs" / f"run-{next(counter)}"
        scratch.mkdir(parents=True)
        (work / ".runs").chmod(0o755)
        options.setdefault("cwd", work)
        return run_layerforge(list(args), tmp=scratch, **options)

    return run


def failed_cleanly(run: Run, code: int, *fragments: str, bound: float = TIME_BOUND) -> None:
    """The contract for every failure: its exit code, one ERROR line naming the problem, a
    hint, no traceback, nothing left in TMPDIR, no process left running, bounded cost."""
    assert run.code == code, run.describe()
    assert len(run.error_lines) == 1, run.describe()
    assert run.hint_lines, run.describe()
    assert "Traceback" not in run.err + run.out, run.describe()
    for fragment in fragments:
        assert fragment in run.error_lines[0] + "\n" + "\n".join(run.hint_lines), run.describe()
    assert run.leftovers == [], run.describe()
    assert run.processes == [], run.describe()
    assert run.seconds < bound, run.describe()
    assert run.max_rss_kb < RSS_BOUND_KB, run.describe()


def interrupted_cleanly(run: Run, signum: int) -> None:
    """The contract for an interrupted command: failed cleanly with 128+N naming the signal,
    within the bound from the signal to the exit."""
    assert run.signalled, run.describe()
    failed_cleanly(run, 128 + signum, f"interrupted by {signal.Signals(signum).name}", bound=300)
    assert run.after_signal is not None and run.after_signal <= BOUND, run.describe()


def failed_as_json(run: Run, code: int, *fragments: str) -> dict[str, Any]:
    """With --json: the same failure, and exactly one JSON error document on stdout."""
    failed_cleanly(run, code, *fragments)
    document: dict[str, Any] = json.loads(run.out)
    assert set(document) == {"error", "hint", "details", "exit_code"}, document
    assert document["exit_code"] == code and document["hint"]
    return document


def zip_of(path: Path, members: dict[str, bytes], modes: dict[str, int] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (modes or {}).get(name, 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return path


@pytest.fixture
def small_layer(work: Path) -> Path:
    """A valid pure-Python layer (no network needed)."""
    return zip_of(
        work / "small.zip",
        {
            "python/marker/__init__.py": b"VALUE = 1\n",
            "python/marker-1.0.dist-info/METADATA": b"Name: marker\nVersion: 1.0\n",
            "python/marker-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nTag: py3-none-any\n",
        },
    )


def _become_nobody() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def _can_run_as_nobody() -> bool:
    probe = [*command(), "--version"]
    try:
        done = subprocess.run(
            probe, capture_output=True, timeout=60, check=False, preexec_fn=_become_nobody
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


@pytest.fixture(scope="session")
def nobody() -> int:
    """An unprivileged user who can run the installed command (permissions mean something)."""
    if os.geteuid() != 0:
        return os.geteuid()
    if not _can_run_as_nobody():
        message = "the installed layerforge is not runnable by an unprivileged user"
        if sandbox_required():
            pytest.fail(message + " (scripts/test.sh installs it in a world-readable venv)")
        pytest.skip(message)
    return NOBODY


def args(*parts: str | Path) -> Sequence[str]:
    return [str(p) for p in parts]
