"""Real signals sent to a running build at each phase: it stops, says so, and leaves nothing
behind; the last good layer and its manifest are untouched, and the next build works."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from layerforge.builder.output.placement import place_layer
from layerforge.errors import Interrupted
from layerforge.interrupts import signals_raise
from tests.adversarial.conftest import LF, failed_cleanly
from tests.conftest import old_pair_and_new_zip

pytestmark = [pytest.mark.adversarial, pytest.mark.network, pytest.mark.slow]

PINS = ["numpy==1.26.4", "pandas==1.5.3"]


def _previous_good(work: Path) -> tuple[bytes, bytes]:
    dist = work / "dist"
    dist.mkdir(exist_ok=True)
    zip_bytes, manifest = b"PK previous good layer", b'{"previous": "good"}\n'
    (dist / "layer.zip").write_bytes(zip_bytes)
    (dist / "layer.manifest.json").write_bytes(manifest)
    return zip_bytes, manifest


@pytest.mark.parametrize(
    ("phase", "signum"),
    [
        ("Resolving and installing wheels", signal.SIGTERM),
        ("Resolving and installing wheels", signal.SIGINT),
        ("Compiling hash-based bytecode", signal.SIGTERM),
        ("Stripping binaries", signal.SIGHUP),
        ("Writing the deterministic zip", signal.SIGTERM),
    ],
)
def test_signal_mid_phase_cleans_up_and_keeps_the_last_good_layer(
    lf: LF, work: Path, phase: str, signum: int
) -> None:
    previous = _previous_good(work)
    cache = work / "shared-cache"
    argv = ["build", *PINS, "--backend", "cross", "-o", "dist/layer.zip"]
    run = lf(
        *argv,
        interrupt_on=rf"{phase} \.\.\.",
        signum=signum,
        timeout=300,
        env={"LAYERFORGE_CACHE_DIR": str(cache)},
    )
    assert run.signalled, run.describe()
    name = signal.Signals(signum).name
    failed_cleanly(run, 128 + signum, f"interrupted by {name}", bound=300)
    assert (
        (work / "dist/layer.zip").read_bytes(),
        (work / "dist/layer.manifest.json").read_bytes(),
    ) == previous
    assert sorted(p.name for p in (work / "dist").iterdir()) == ["layer.manifest.json", "layer.zip"]
    again = lf(*argv, timeout=300, env={"LAYERFORGE_CACHE_DIR": str(cache)})
    assert again.code == 0, again.describe()
    manifest = json.loads((work / "dist/layer.manifest.json").read_text())
    assert manifest["verification"]["passed"] is True


def test_a_signal_between_the_two_renames_is_held_until_both_are_done(tmp_path: Path) -> None:
    """In-process, to hit the exact instant: the first rename sends SIGTERM to this process."""
    output, source = old_pair_and_new_zip(tmp_path)
    import hashlib

    real_replace = Path.replace
    calls: list[Path] = []

    def replace_then_signal(self: Path, target: Path) -> Path:
        result = real_replace(self, target)
        calls.append(Path(target))
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGTERM)
        return result

    pytest.MonkeyPatch().setattr(Path, "replace", replace_then_signal)
    try:
        with signals_raise(), pytest.raises(Interrupted):
            place_layer(source, hashlib.sha256(b"new zip").hexdigest(), "new manifest", output)
    finally:
        pytest.MonkeyPatch().undo()
        Path.replace = real_replace  # type: ignore[method-assign]
    assert output.read_bytes() == b"new zip"
    assert output.with_name("layer.manifest.json").read_text() == "new manifest"
    assert sorted(p.name for p in output.parent.iterdir()) == ["layer.manifest.json", "layer.zip"]


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root (CI is root)")
def test_a_full_disk_keeps_the_last_good_layer(lf: LF, work: Path) -> None:
    disk = work / "small-disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], check=True)
    try:
        (disk / "dist").mkdir()
        (disk / "dist" / "layer.zip").write_bytes(b"PK good")
        (disk / "dist" / "layer.manifest.json").write_text("{}")
        run = lf(
            "build",
            *PINS,
            "--backend",
            "cross",
            "-o",
            str(disk / "dist" / "layer.zip"),
            timeout=300,
        )
        failed_cleanly(run, 3, "out of disk space", bound=300)
        assert (disk / "dist" / "layer.zip").read_bytes() == b"PK good"
        assert sorted(p.name for p in (disk / "dist").iterdir()) == [
            "layer.manifest.json",
            "layer.zip",
        ]
    finally:
        subprocess.run(["umount", str(disk)], check=True)
