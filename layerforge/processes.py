"""Running a helper program (pip, an interpreter, strip) while reporting its output as events."""

from __future__ import annotations

import subprocess
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from layerforge.errors import BuildError
from layerforge.events import Event, EventKind, EventSink

__all__ = ["Completed", "run_streaming"]


@dataclass(frozen=True)
class Completed:
    returncode: int
    output: str


def run_streaming(
    command: Sequence[str],
    *,
    step: str,
    sink: EventSink,
    env: Mapping[str, str] | None = None,
    keep_lines: int = 400,
) -> Completed:
    """Run ``command``; each output line becomes a PROGRESS event of ``step``.

    The process is terminated if the caller is interrupted (Ctrl-C), so nothing outlives us.
    """
    tail: deque[str] = deque(maxlen=keep_lines)
    try:
        process = subprocess.Popen(
            list(command),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=dict(env) if env is not None else None,
        )
    except OSError as exc:
        raise BuildError(f"cannot run {command[0]}: {exc.strerror}") from None
    try:
        assert process.stdout is not None
        for line in process.stdout:
            tail.append(line.rstrip("\n"))
            sink(Event(EventKind.PROGRESS, step, line.strip()))
        process.wait()
    except BaseException:
        process.kill()
        process.wait()
        raise
    return Completed(process.returncode, "\n".join(tail))
