"""A real signal while the build makes matplotlib's font list: its worker (a process group of
its own) is stopped, nothing is left behind, and the last good layer is kept."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.adversarial.conftest import LF, failed_cleanly
from tests.conftest import make_wheel

pytestmark = [pytest.mark.adversarial, pytest.mark.network, pytest.mark.slow]


def _processes_naming(folder: Path) -> list[str]:
    """Live processes whose command line names ``folder`` (the worker names the tree in it)."""
    named = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            state = (cmdline.parent / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if str(folder) in text and state != "Z":
            named.append(f"{cmdline.parent.name}: {text[:200]}")
    return named


def test_a_signal_while_the_font_list_is_made_stops_its_worker(lf: LF, work: Path) -> None:
    # a matplotlib whose font manager takes its time: the signal comes while the worker runs
    modules = {
        "matplotlib/__init__.py": b'__version__ = "0.0.2"\n',
        "matplotlib/font_manager.py": b"import time\ntime.sleep(600)\n",
    }
    wheels = make_wheel(work / "wheels", "matplotlib", "0.0.2", modules).parent
    dist = work / "dist"
    dist.mkdir()
    (dist / "layer.zip").write_bytes(b"PK previous good layer")
    (dist / "layer.manifest.json").write_text('{"previous": "good"}\n')
    scratch = work / "scratch"  # where the build works: the worker's tree is in it
    scratch.mkdir()
    run = lf(
        *["build", "matplotlib==0.0.2", "--find-links", str(wheels), "--backend", "cross"],
        *["-o", "dist/layer.zip"],
        interrupt_on=r"Making matplotlib's font list \.\.\.",
        signum=signal.SIGTERM,
        timeout=300,
        env={"LAYERFORGE_SCRATCH": str(scratch)},
    )
    assert run.signalled, run.describe()
    failed_cleanly(run, 143, "interrupted by SIGTERM", bound=300)
    assert _processes_naming(scratch) == []
    assert not list(scratch.iterdir())
    assert (dist / "layer.zip").read_bytes() == b"PK previous good layer"
    assert sorted(p.name for p in dist.iterdir()) == ["layer.manifest.json", "layer.zip"]
