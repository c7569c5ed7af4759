"""Signals as exceptions: Ctrl-C, SIGTERM and SIGHUP all unwind the stack, so every ``with``
block (scratch folders, containers, child processes, staging objects) cleans up on the way out.

``deferred()`` marks a critical section (putting a zip and its manifest in place, removing a
scratch folder): a signal that arrives inside it is held and raised when the section ends, so
the section completes or never starts. The holding is done in Python, not with a signal mask,
because the kernel may deliver a signal to any thread.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from layerforge.errors import Interrupted

__all__ = ["HANDLED_SIGNALS", "deferred", "signals_raise"]

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_pending: list[int] = []
_depth = 0


def _handler(signum: int, _frame: FrameType | None) -> None:
    if _depth > 0:
        _pending.append(signum)
        return
    raise Interrupted(signum)


@contextmanager
def signals_raise() -> Iterator[None]:
    """For the length of the block, the handled signals raise ``Interrupted`` in the main thread.

    Outside the main thread (tests running the CLI in a worker) nothing is installed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in HANDLED_SIGNALS}
    for signum in HANDLED_SIGNALS:
        signal.signal(signum, _handler)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def deferred() -> Iterator[None]:
    """Hold signals until the block ends; then the first one held is raised."""
    global _depth  # noqa: PLW0603 - process-wide by nature, like the signal handlers
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _pending:
            signum = _pending[0]
            _pending.clear()
            raise Interrupted(signum)
