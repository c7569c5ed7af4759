"""Running the installed ``layerforge`` command as a user would, and judging how it ended.

Each run gets its own empty TMPDIR and cache, runs in its own session (so every process it
starts can be found afterwards), and is measured: wall time and peak memory (VmHWM, sampled
while it runs). A run can be interrupted by a real signal when a line of its output says it
reached a given phase.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Run", "command", "processes_in_session", "run_layerforge"]

NOBODY = 65534


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
            f"{self.max_rss_kb // 1024} MiB\n--- stdout\n{self.out[-3000:]}\n--- stderr\n"
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
) -> Run:
    """Run ``layerforge ARGS``; optionally send ``signum`` when stderr matches ``interrupt_on``."""
    scratch = tmp / "tmpdir"
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
    try:
        out, err, signalled, peak_kb = _communicate(process, timeout, interrupt_on, signum)
    finally:
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
    _, status, _usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - started
    time.sleep(0.2)  # children the command failed to stop would still be here
    leftovers = sorted(str(p.relative_to(scratch)) for p in scratch.rglob("*"))
    return Run(
        list(args),
        process.returncode,
        out,
        err,
        seconds,
        peak_kb,
        leftovers,
        processes_in_session(process.pid),
        signalled,
    )


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
    process: subprocess.Popen[bytes], timeout: float, pattern: str | None, signum: int
) -> tuple[str, str, bool, int]:
    assert process.stdout is not None and process.stderr is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ, "out")
    selector.register(process.stderr, selectors.EVENT_READ, "err")
    chunks: dict[str, list[bytes]] = {"out": [], "err": []}
    deadline = time.monotonic() + timeout
    signalled = False
    peak = 0
    trigger = re.compile(pattern) if pattern else None
    while selector.get_map():
        peak = max(peak, _peak_kb(process.pid))
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            os.killpg(process.pid, signal.SIGKILL)
            raise AssertionError(
                f"layerforge did not finish within {timeout} s:\n"
                + b"".join(chunks["err"]).decode(errors="replace")[-3000:]
            )
        for key, _ in selector.select(timeout=min(remaining, 0.05)):
            data = os.read(key.fileobj.fileno(), 65536)  # type: ignore[union-attr]
            if not data:
                selector.unregister(key.fileobj)
                continue
            chunks[key.data].append(data)
            text = b"".join(chunks["err"]).decode(errors="replace")
            if trigger and not signalled and trigger.search(text):
                os.kill(process.pid, signum)
                signalled = True
    return (
        b"".join(chunks["out"]).decode(errors="replace"),
        b"".join(chunks["err"]).decode(errors="replace"),
        signalled,
        peak,
    )
