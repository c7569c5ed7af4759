"""Real signals sent to a running build at each phase: it stops within the contract's bound,
says what it kept, and leaves nothing behind; the last good layer and its manifest are
untouched, and the next build works.

Each interrupted run is measured from the signal to the process's exit (``BOUND``); its TMPDIR
is in RAM, where a build's scratch goes by default (``harness.ram_folder``).
"""

from __future__ import annotations

import hashlib
import json
import os
import pty
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from layerforge.builder.output.placement import place_layer
from layerforge.errors import Interrupted
from layerforge.interrupts import cancel, outputs, signals_raise
from tests.adversarial.conftest import LF, failed_cleanly, interrupted_cleanly
from tests.adversarial.harness import (
    RUN_MARKER,
    command,
    in_folder,
    processes_marked,
    ram_folder,
)
from tests.conftest import old_pair_and_new_zip

pytestmark = [pytest.mark.adversarial, pytest.mark.network, pytest.mark.slow]

PINS = ["numpy==1.26.4", "pandas==1.5.3"]
BUILD = ["build", *PINS, "--backend", "cross", "-o", "dist/layer.zip"]
KEPT = "dist/layer.zip kept (the last good layer); nothing was replaced"


@pytest.fixture(scope="module")
def ram() -> Iterator[Path]:
    with ram_folder("layerforge-signals-") as folder:
        yield folder


def previous_good(folder: Path) -> tuple[bytes, bytes]:
    dist = folder / "dist"
    dist.mkdir(parents=True, exist_ok=True)
    zip_bytes, manifest = b"PK previous good layer", b'{"previous": "good"}\n'
    (dist / "layer.zip").write_bytes(zip_bytes)
    (dist / "layer.manifest.json").write_bytes(manifest)
    return zip_bytes, manifest


def the_pair(folder: Path) -> tuple[bytes, bytes]:
    dist = folder / "dist"
    return (dist / "layer.zip").read_bytes(), (dist / "layer.manifest.json").read_bytes()


@pytest.mark.parametrize(
    ("phase", "signum", "delay", "repeat"),
    [
        ("Resolving and installing wheels", signal.SIGTERM, 0.0, 1),
        # pip has downloaded, uv is installing its files (pip+uv): three Ctrl-Cs in a row
        ("Resolving and installing wheels", signal.SIGINT, 4.0, 3),
        ("Compiling hash-based bytecode", signal.SIGTERM, 0.0, 1),
        ("Stripping binaries", signal.SIGHUP, 0.0, 1),
        ("Writing the deterministic zip", signal.SIGTERM, 0.5, 1),
        ("Verifying ELF files", signal.SIGINT, 0.0, 2),
    ],
    ids=["resolve", "install-3x", "bytecode", "strip", "zip", "verify-2x"],
)
def test_a_signal_mid_phase_stops_at_once_and_keeps_the_last_good_layer(
    ram: Path, phase: str, signum: int, delay: float, repeat: int
) -> None:
    folder = ram / f"phase-{phase.split(maxsplit=1)[0].lower()}-{signum}-{repeat}"
    previous = previous_good(folder)
    run = in_folder(
        folder, BUILD, interrupt_on=rf"{phase} \.\.\.", signum=signum, delay=delay, repeat=repeat
    )
    interrupted_cleanly(run, signum)
    assert KEPT in run.error_lines[0], run.describe()
    assert the_pair(folder) == previous
    assert sorted(p.name for p in (folder / "dist").iterdir()) == [
        "layer.manifest.json",
        "layer.zip",
    ]


def test_a_signal_while_the_layer_is_stored_and_placed_tells_the_truth(ram: Path) -> None:
    """Around placement the signal may come before the swap (refused: the old pair stays) or
    inside it (it completes: the new pair is in place); the message says which happened."""
    folder = ram / "placement"
    previous = previous_good(folder)
    run = in_folder(
        folder, BUILD, interrupt_on=r"Storing in the build cache \.\.\.", signum=signal.SIGTERM
    )
    if run.code == 0:  # the build had ended before the signal reached it
        assert json.loads(the_pair(folder)[1])["verification"]["passed"] is True
        return
    interrupted_cleanly(run, signal.SIGTERM)
    if the_pair(folder) == previous:
        assert KEPT in run.error_lines[0], run.describe()
    else:
        assert "put in place before the signal: dist/layer.zip" in run.error_lines[0]
        assert json.loads(the_pair(folder)[1])["verification"]["passed"] is True
    assert sorted(p.name for p in (folder / "dist").iterdir()) == [
        "layer.manifest.json",
        "layer.zip",
    ]


def test_three_ctrl_cs_in_a_row_then_the_next_build_works(ram: Path) -> None:
    folder = ram / "three-then-build"
    previous = previous_good(folder)
    run = in_folder(
        folder,
        BUILD,
        interrupt_on=r"Writing the deterministic zip \.\.\.",
        signum=signal.SIGINT,
        repeat=3,
        spacing=0.1,
    )
    interrupted_cleanly(run, signal.SIGINT)
    assert run.signals_sent >= 2, run.describe()
    assert the_pair(folder) == previous
    again = in_folder(folder, BUILD)
    assert again.code == 0, again.describe()
    assert again.leftovers == [] and again.processes == [], again.describe()
    manifest = json.loads(the_pair(folder)[1])
    assert manifest["verification"]["passed"] is True


@pytest.mark.parametrize("delay", [0.02, 0.08, 0.25])
def test_a_signal_while_the_command_starts_is_reported_too(ram: Path, delay: float) -> None:
    """Before the command's own handling is installed (its imports), a signal still ends it
    as the contract says: one ERROR line, and with --json one JSON document. Only during the
    interpreter's own start, before any of layerforge runs, is it killed by the signal
    itself (which a shell reads as the same 128+N), and then it prints nothing."""
    folder = ram / f"starting-{delay}"
    argv = [*BUILD, "--json"]
    run = in_folder(folder, argv, interrupt_on="^", signum=signal.SIGTERM, delay=delay)
    if run.code == -signal.SIGTERM:
        assert run.out == run.err == "", run.describe()
        return
    interrupted_cleanly(run, signal.SIGTERM)
    document = run.json()
    assert document["exit_code"] == 143 and "interrupted by SIGTERM" in document["error"]


def test_sighup_as_the_terminal_goes_away_still_ends_as_interrupted(ram: Path) -> None:
    """The terminal closes (an ssh session drops): SIGHUP, and every later write to it fails.
    The exit code is still 129, and cleanup still ran."""
    folder = ram / "hangup"
    (folder / "tmpdir").mkdir(parents=True)
    marker = uuid.uuid4().hex
    environment = {
        **os.environ,
        "TMPDIR": str(folder / "tmpdir"),
        "LAYERFORGE_CACHE_DIR": str(folder / "cache"),
        RUN_MARKER: marker,
    }
    terminal, attached = pty.openpty()
    process = subprocess.Popen(
        [*command(), *BUILD],
        stdin=attached,
        stdout=attached,
        stderr=attached,
        cwd=folder,
        env=environment,
        start_new_session=True,
    )
    os.close(attached)
    seen = b""
    while b"Resolving and installing wheels" not in seen:
        seen += os.read(terminal, 4096)
    process.send_signal(signal.SIGHUP)
    os.close(terminal)  # the terminal is gone: writes to it fail with EIO
    assert process.wait(timeout=60) == 129
    assert list((folder / "tmpdir").iterdir()) == []
    assert processes_marked(marker) == []


def test_a_signal_between_the_two_renames_is_held_until_both_are_done(tmp_path: Path) -> None:
    """In-process, to hit the exact instant: the first rename sends SIGTERM to this process."""
    output, source = old_pair_and_new_zip(tmp_path)
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
            try:
                place_layer(source, hashlib.sha256(b"new zip").hexdigest(), "new manifest", output)
            finally:
                fates = outputs()
    finally:
        pytest.MonkeyPatch().undo()
        Path.replace = real_replace  # type: ignore[method-assign]
    assert output.read_bytes() == b"new zip"
    assert output.with_name("layer.manifest.json").read_text() == "new manifest"
    assert sorted(p.name for p in output.parent.iterdir()) == ["layer.manifest.json", "layer.zip"]
    assert [(f.path, f.state) for f in fates] == [(str(output), "placed")]


def test_nothing_is_put_in_place_once_the_process_is_cancelled(tmp_path: Path) -> None:
    """In-process: a worker thread that reaches placement after the signal is refused."""
    output, source = old_pair_and_new_zip(tmp_path)
    before = sorted((p.name, p.read_bytes()) for p in output.parent.iterdir())
    with signals_raise(), pytest.raises(Interrupted):
        cancel(signal.SIGTERM)  # what the handler does, without raising here
        place_layer(source, hashlib.sha256(b"new zip").hexdigest(), "new manifest", output)
    assert sorted((p.name, p.read_bytes()) for p in output.parent.iterdir()) == before


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
