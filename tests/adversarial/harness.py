"""Running the installed ``layerforge`` command as a user would, and judging how it ended.

Each run gets its own empty TMPDIR and cache, runs in its own session, and carries its own
marker in its environment (``RUN_MARKER``), so every process it starts can be found afterwards,
also the children layerforge starts in sessions of their own (pip, uv, compileall, bwrap). It
is measured: wall time and peak memory (VmHWM, sampled while it runs). A run can be
interrupted by a real signal when a line of its output says it reached a given phase, and
signalled again (``repeat``); the time from the first signal to the process's exit is taken
when the kernel reports the exit (a pidfd), not when the pipes are drained.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "BOUND",
    "RUN_MARKER",
    "Run",
    "command",
    "in_folder",
    "processes_in_session",
    "processes_marked",
    "ram_folder",
    "run_layerforge",
]

NOBODY = 65534
#: The environment variable that marks every process of one run (its value is the run's own).
RUN_MARKER = "LAYERFORGE_TEST_RUN"
#: Seconds from a signal to the exit: the contract's bound, in every command and step.
BOUND = 2.0


def command() -> list[str]:
    """The installed console script, as users run it (not the module in the checkout)."""
    script = Path(sys.executable).with_name("layerforge")
    return [str(script)] if script.exists() else [sys.executable, "-m", "layerforge"]


def processes_in_session(session: int) -> list[str]:
    """Processes still alive in ``session`` (zombies excluded)."""
    alive = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat_file.read_text()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2 :].split()
        state, sid = fields[0], int(fields[3])
        if sid == session and state != "Z":
            alive.append(f"{stat_file.parent.name}: {text[: text.rfind(')') + 1]}")
    return alive


def processes_marked(marker: str) -> list[str]:
    """Processes still alive whose environment carries ``RUN_MARKER=marker`` (zombies
    excluded): whatever the run started, in whichever session."""
    needle = f"{RUN_MARKER}={marker}".encode()
    alive = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            found = needle in environ.read_bytes().split(b"\0")
            text = (environ.parent / "stat").read_text()
        except OSError:
            continue
        state = text[text.rfind(")") + 2 :].split()[0]
        if found and state != "Z":
            alive.append(f"{environ.parent.name}: {text[: text.rfind(')') + 1]}")
    return alive


@dataclass
class Run:
    args: list[str]
    code: int
    out: str
    err: str
    seconds: float
    max_rss_kb: int
    leftovers: list[str] = field(default_factory=list)
    processes: list[str] = field(default_factory=list)
    signalled: bool = False
    pid: int = 0
    after_signal: float | None = None  # seconds from the first signal to the exit
    signals_sent: int = 0
    before_signal: str = ""  # stderr up to the first signal

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("ERROR ")]

    @property
    def hint_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("hint: ")]

    def json(self) -> Any:
        return json.loads(self.out)

    def describe(self) -> str:
        return (
            f"layerforge {' '.join(self.args)} -> {self.code} in {self.seconds:.1f} s, "
            f"{self.max_rss_kb // 1024} MiB"
            + (
                f", exited {self.after_signal:.2f} s after the first of {self.signals_sent} signals"
                if self.after_signal is not None
                else ""
            )
            + f"\n--- stdout\n{self.out[-3000:]}\n--- stderr\n"
            f"{self.err[-3000:]}\nleftovers: {self.leftovers}\nprocesses: {self.processes}"
        )


def _preexec(user: int | None) -> Any:
    if user is None:
        return None

    def drop() -> None:
        os.setgroups([])
        os.setgid(user)
        os.setuid(user)

    return drop


def run_layerforge(
    args: Sequence[str],
    *,
    tmp: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120.0,
    interrupt_on: str | None = None,
    signum: int = signal.SIGTERM,
    user: int | None = None,
    repeat: int = 1,
    spacing: float = 0.25,
    delay: float = 0.0,
    tmpdir: Path | None = None,
) -> Run:
    """Run ``layerforge ARGS``; optionally send ``signum`` ``delay`` seconds after stderr
    matches ``interrupt_on`` (``repeat`` times in all, ``spacing`` seconds apart, as long as
    the process lives).
    ``tmpdir``: the run's TMPDIR (default: ``tmp/tmpdir``), which must be left empty."""
    scratch = tmpdir or tmp / "tmpdir"
    scratch.mkdir(parents=True, exist_ok=True)
    if user is not None:
        for path in (tmp, scratch):
            path.chmod(0o777)
    environment = {
        **os.environ,
        "TMPDIR": str(scratch),
        "LAYERFORGE_CACHE_DIR": str(tmp / "cache"),
        "PYTHONDONTWRITEBYTECODE": "1",
        **(env or {}),
        RUN_MARKER: uuid.uuid4().hex,
    }
    environment.pop("LAYERFORGE_DEBUG", None)
    started = time.monotonic()
    process = subprocess.Popen(
        [*command(), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=environment,
        cwd=cwd or tmp,
        start_new_session=True,
        preexec_fn=_preexec(user),  # noqa: PLW1509 - only drops privileges, no threads yet
    )
    signals = _Signals(interrupt_on, signum, repeat, spacing, delay)
    try:
        out, err, peak_kb = _communicate(process, timeout, signals)
    finally:
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
    _, status, _usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    exited = signals.exited or time.monotonic()
    time.sleep(0.2)  # children the command failed to stop would still be here
    leftovers = sorted(str(p.relative_to(scratch)) for p in scratch.rglob("*"))
    marked = processes_marked(environment[RUN_MARKER])
    return Run(
        list(args),
        process.returncode,
        out,
        err,
        exited - started,
        peak_kb,
        leftovers,
        sorted(set(processes_in_session(process.pid)) | set(marked)),
        bool(signals.sent),
        process.pid,
        exited - signals.sent[0] if signals.sent else None,
        len(signals.sent),
        signals.before,
    )


@dataclass
class _Signals:
    """When to signal the run, and when that happened."""

    pattern: str | None
    signum: int
    repeat: int
    spacing: float
    delay: float
    sent: list[float] = field(default_factory=list)
    matched: float | None = None
    exited: float | None = None
    before: str = ""  # stderr as it was when the first signal was sent

    def due(self, text: str, now: float) -> bool:
        if not self.pattern or len(self.sent) >= self.repeat or self.exited is not None:
            return False
        if self.matched is None and re.search(self.pattern, text):
            self.matched = now
        if not self.sent:
            return self.matched is not None and now - self.matched >= self.delay
        return now - self.sent[-1] >= self.spacing

    def send(self, pid: int, text: str) -> None:
        if not self.sent:
            self.before = text
        self.sent.append(time.monotonic())
        os.kill(pid, self.signum)


def _peak_kb(pid: int) -> int:
    """The process's own peak resident memory (VmHWM: per address space, unlike ru_maxrss,
    which a child inherits from the process that forked it)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return 0
    return 0


def _communicate(
    process: subprocess.Popen[bytes], timeout: float, signals: _Signals
) -> tuple[str, str, int]:
    assert process.stdout is not None and process.stderr is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ, "out")
    selector.register(process.stderr, selectors.EVENT_READ, "err")
    exit_fd = os.pidfd_open(process.pid)  # readable once the process has exited
    selector.register(exit_fd, selectors.EVENT_READ, "exit")
    chunks: dict[str, list[bytes]] = {"out": [], "err": []}
    deadline = time.monotonic() + timeout
    peak = 0
    try:
        while len(selector.get_map()) > (1 if signals.exited is None else 0):
            peak = max(peak, _peak_kb(process.pid))
            remaining = deadline - time.monotonic()
            if signals.exited is not None and time.monotonic() - signals.exited > 5:
                break  # something the run started holds its output open: judged as left over
            if remaining <= 0:
                os.killpg(process.pid, signal.SIGKILL)
                raise AssertionError(
                    f"layerforge did not finish within {timeout} s:\n"
                    + b"".join(chunks["err"]).decode(errors="replace")[-3000:]
                )
            for key, _ in selector.select(timeout=min(remaining, 0.05)):
                if key.data == "exit":
                    signals.exited = time.monotonic()
                    selector.unregister(exit_fd)
                    continue
                data = os.read(key.fileobj.fileno(), 65536)  # type: ignore[union-attr]
                if not data:
                    selector.unregister(key.fileobj)
                    continue
                chunks[key.data].append(data)
            text = b"".join(chunks["err"]).decode(errors="replace")
            if signals.due(text, time.monotonic()):
                signals.send(process.pid, text)
        if signals.exited is None:  # the pipes closed first: the exit is a moment away
            selector.select(timeout=max(0.0, deadline - time.monotonic()))
            signals.exited = time.monotonic()
    finally:
        selector.close()
        os.close(exit_fd)
    return (
        b"".join(chunks["out"]).decode(errors="replace"),
        b"".join(chunks["err"]).decode(errors="replace"),
        peak,
    )


@contextmanager
def ram_folder(prefix: str) -> Iterator[Path]:
    """A folder for runs whose TMPDIR must be where a build's scratch goes by default: RAM
    (/dev/shm) when the machine has it. On this project's virtual disk, removing a build's
    14,000-file tree alone takes seconds, and cleanup is never cut short."""
    from layerforge.scratch import remove_tree

    shm = Path("/dev/shm")
    parent = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield folder
    finally:
        remove_tree(folder)


def in_folder(folder: Path, args: Sequence[str], **options: Any) -> Run:
    """``layerforge ARGS`` run in ``folder``, with its TMPDIR and cache inside it."""
    folder.mkdir(parents=True, exist_ok=True)
    options.setdefault("timeout", 300)
    environment = {"LAYERFORGE_CACHE_DIR": str(folder / "cache"), **options.pop("env", {})}
    return run_layerforge(
        args, tmp=folder, cwd=folder, env=environment, tmpdir=folder / "tmpdir", **options
    )
