"""Signals as exceptions, and one cancellation that every thread sees.

Ctrl-C, SIGTERM and SIGHUP unwind the main thread's stack, so every ``with`` block (scratch
folders, containers, child processes, staging objects) cleans up on the way out. The first
signal also cancels the whole process at once:

* it is marked cancelled (``cancelled()``, ``check_cancelled()``): worker threads (matrix
  combinations, deflate workers, fan-out shards, verification) check it at every step and inside
  long loops, and raise ``Interrupted`` themselves; pools start no queued task (``WorkerPool``);
* every live child process group gets SIGTERM from the handler itself, and whatever is left
  SIGKILL a moment later (``processes``), every live container is removed (``containers``):
  the hooks registered with ``on_cancel``;
* nothing is put in place after it: ``placing()`` refuses to start once cancelled.

A later signal is held: cleanup is running and is not cut short, and the exit code stays the
first signal's. ``deferred()`` marks a critical section of the main thread (putting a zip and
its manifest in place, removing a scratch folder): a signal that arrives inside it is held and
raised when the section ends, so the section completes or never starts. (The holding is done
in Python, not with a signal mask, because the kernel may deliver a signal to any thread; only
the main thread is ever interrupted, so only its sections need holding.)

From the signal to the exit (the contract's bound is 2 s): pools wait for running tasks until
``STOP_SECONDS`` after it; ``finish_process`` gives threads still running until
``EXIT_SECONDS``, does on the main thread the cleanup they still owe (``owed``: their scratch
folders, a staging object), and ends the process whatever they are stuck in. Cleanup is never
cut short: removing a scratch tree takes what the file system takes (a build's tree in RAM, its
default, goes in a fraction of a second; on a slow disk it can take longer than the bound).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, ParamSpec, TypeVar

from layerforge.errors import Cancelled, Interrupted

__all__ = [
    "EXIT_SECONDS",
    "HANDLED_SIGNALS",
    "STOP_SECONDS",
    "OutputFate",
    "WorkerPool",
    "cancel",
    "cancelled",
    "check_cancelled",
    "deferred",
    "exit_at_once_on_signals",
    "expect_output",
    "finish_process",
    "first_signal",
    "on_cancel",
    "outputs",
    "owed",
    "placing",
    "refuse_once_cancelled",
    "signals_raise",
]

P = ParamSpec("P")
T = TypeVar("T")

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: Seconds after the signal that running worker tasks get to notice it and clean up.
STOP_SECONDS = 1.0
#: Seconds after the signal after which the process exits, once the main thread has done what
#: threads still running owed (the contract's bound is 2 s).
EXIT_SECONDS = 1.4


@dataclass
class _State:
    """Process-wide by nature, like the signal handlers. The handler only sets plain values and
    writes to a pipe: it may run while the main thread holds any lock."""

    signum: int | None = None
    at: float = 0.0
    pending: int | None = None  # held by a deferred section of the main thread
    wake: int | None = None  # the write end of the watcher's pipe


class _Sections(threading.local):
    """Each thread's nesting of ``deferred`` sections (the handler reads the main thread's)."""

    depth = 0


_state = _State()
_sections = _Sections()
_immediate: list[Callable[[], None]] = []
_background: list[Callable[[], None]] = []
_owed: dict[object, Callable[[], None]] = {}
_owed_lock = threading.Lock()


def on_cancel(hook: Callable[[], None], *, immediate: bool = False) -> Callable[[], None]:
    """Run ``hook`` once when the process is cancelled. ``immediate`` hooks run in the signal
    handler itself and may only make system calls (``os.killpg``); the others run on a thread
    of their own right after it (removing containers, a later SIGKILL)."""
    (_immediate if immediate else _background).append(hook)
    return hook


@contextmanager
def owed(cleanup: Callable[[], None]) -> Iterator[None]:
    """``cleanup`` is owed while the block runs (a scratch folder's removal, a staging object's):
    should ``finish_process`` end the process under the block's thread, stuck after a signal,
    the main thread runs it first. It may then run twice at once: it must not mind."""
    token = object()
    with _owed_lock:
        _owed[token] = cleanup
    try:
        yield
    finally:
        with _owed_lock:
            _owed.pop(token, None)


def cancelled() -> bool:
    """Whether a signal (or ``cancel``) has asked the process to stop."""
    return _state.signum is not None


def first_signal() -> int | None:
    """The number of the signal that cancelled the process, or None."""
    return _state.signum


def check_cancelled() -> None:
    """Raise ``Interrupted`` (in any thread) once the process is cancelled."""
    if _state.signum is not None:
        raise Interrupted(_state.signum)


def refuse_once_cancelled(**_event: object) -> None:
    """A botocore ``before-call`` handler: no AWS call starts after a signal, in any thread (a
    waiter polling in a worker thread stops at its next poll), but in a ``deferred`` section,
    which cleans up (removing a staging object). Outside the main thread the refusal is
    ``Cancelled``, an ``Exception``: boto3's transfer threads then fail the upload at once
    (an ``Interrupted`` there would leave the transfer waiting on a task that never ends)."""
    if _sections.depth > 0 or _state.signum is None:
        return
    if threading.current_thread() is threading.main_thread():
        raise Interrupted(_state.signum)
    raise Cancelled(
        f"not started: the process was interrupted by {Interrupted(_state.signum).name}"
    )


def seconds_left(bound: float) -> float:
    """Seconds until ``bound`` seconds after the signal (``bound`` when not cancelled)."""
    if _state.signum is None:
        return bound
    return max(0.0, _state.at + bound - time.monotonic())


def cancel(signum: int) -> bool:
    """Cancel the process as signal ``signum`` does; False if it already was (the first
    signal's number stands)."""
    if _state.signum is not None:
        return False
    _state.signum, _state.at = signum, time.monotonic()
    for hook in _immediate:
        with contextlib.suppress(Exception):
            hook()
    if _state.wake is not None:
        with contextlib.suppress(OSError):
            os.write(_state.wake, b"!")
    return True


def _handler(signum: int, _frame: FrameType | None) -> None:
    if not cancel(signum):
        return  # a later signal: cleanup is running, and is not cut short
    if _sections.depth > 0:
        _state.pending = signum
        return
    raise Interrupted(signum)


def _watch(read_end: int) -> None:
    """The hooks that may take time, run as soon as the process is cancelled."""
    try:
        os.read(read_end, 1)
    finally:
        os.close(read_end)
    if not cancelled():
        return
    for hook in _background:
        threading.Thread(target=hook, name="layerforge-cancel", daemon=True).start()


def _reset() -> None:
    _state.signum, _state.pending, _state.at = None, None, 0.0
    _ledger.clear()


def _starting(signum: int, _frame: FrameType | None) -> None:
    """A signal while the process starts (its imports): nothing has been made yet, so it ends
    at once, saying so as the contract does (also as the JSON document ``--json`` asks for)."""
    name = signal.Signals(signum).name
    error = f"interrupted by {name} while starting"
    hint = "nothing was made or changed; run the command again"
    if "--json" in sys.argv[1 : sys.argv.index("--") if "--" in sys.argv else None]:
        document = {"error": error, "hint": hint, "details": "", "exit_code": 128 + signum}
        os.write(1, (json.dumps(document, indent=2) + "\n").encode())
    os.write(2, f"ERROR {error}\nhint: {hint}\n".encode())
    os._exit(128 + signum)


def exit_at_once_on_signals() -> None:
    """The process's entry point, before anything is imported: until ``signals_raise`` takes
    over, a handled signal ends the process at once (Python's own Ctrl-C would print a
    traceback from whatever module it was importing)."""
    for signum in HANDLED_SIGNALS:
        signal.signal(signum, _starting)


@contextmanager
def signals_raise(*, ending_process: bool = False) -> Iterator[None]:
    """For the length of the block, the handled signals cancel the process and raise
    ``Interrupted`` in the main thread. ``ending_process``: the process ends with the block
    (the CLI's entry point), so the handled signals are ignored after it (the command is done,
    or its cleanup is; a later Ctrl-C cannot cut the exit short or print a traceback) and a
    cancellation stays; otherwise (a test, a library caller) the cancellation ends with the
    block and the previous handlers return.

    Outside the main thread (tests running the CLI in a worker) nothing is installed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _reset()
    read_end, write_end = os.pipe()
    _state.wake = write_end
    threading.Thread(target=_watch, args=(read_end,), name="layerforge-watch", daemon=True).start()
    previous = {signum: signal.getsignal(signum) for signum in HANDLED_SIGNALS}
    for signum in HANDLED_SIGNALS:
        signal.signal(signum, _handler)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_IGN if ending_process else handler)
        _state.wake = None
        if not cancelled():  # the watcher has nothing to do: let it go
            with contextlib.suppress(OSError):
                os.write(write_end, b".")
        os.close(write_end)
        if not ending_process:
            _reset()


@contextmanager
def deferred() -> Iterator[None]:
    """Hold signals until the block ends; then the first one held is raised.

    Only the main thread is ever interrupted, so in a worker thread nothing is held (a worker's
    section always completes, and the worker raises at its next check); in any thread, the
    section may still call AWS after a signal (``refuse_once_cancelled``): it is cleaning up."""
    _sections.depth += 1
    try:
        yield
    finally:
        _sections.depth -= 1
        main = threading.current_thread() is threading.main_thread()
        if main and _sections.depth == 0 and _state.pending is not None:
            signum, _state.pending = _state.pending, None
            raise Interrupted(signum)


def finish_process(code: int) -> int:
    """The process is ending after a signal: later signals are ignored (the first one's exit
    code stands), threads still running get until ``EXIT_SECONDS`` after the signal, and then
    the process exits whatever they are stuck in (a C call, a socket), with the first signal's
    code even when its output has nowhere to go."""
    for signum in HANDLED_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)  # as signals_raise(ending_process=True) left them
    current = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not current and not thread.daemon:
            thread.join(seconds_left(EXIT_SECONDS))
    stuck = any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not current)
    if stuck:
        with _owed_lock:
            owed_now = list(_owed.values())
        for cleanup in owed_now:
            with contextlib.suppress(Exception):
                cleanup()
    flushed = True
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # the terminal went with SIGHUP, a closed pipe
            flushed = False
    if stuck or not flushed:  # (an unflushable stream would make the exit status 120)
        os._exit(code)
    return code


# -- pools ---------------------------------------------------------------------------------


class WorkerPool(ThreadPoolExecutor):
    """A thread pool that honours an interrupt: once the process is cancelled no queued task
    starts, and a block left by the interrupt does not wait for the running ones beyond
    ``STOP_SECONDS`` after the signal (they check the cancellation themselves and stop).
    Leaving the block in any other way waits for every task, as ``ThreadPoolExecutor`` does."""

    def __init__(self, max_workers: int | None = None, thread_name_prefix: str = "") -> None:
        super().__init__(max_workers, thread_name_prefix=thread_name_prefix)
        self._running: set[Future[Any]] = set()
        self._running_lock = threading.Lock()

    def _done(self, future: Future[Any]) -> None:
        with self._running_lock:
            self._running.discard(future)

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        check_cancelled()

        def unless_cancelled() -> T:  # a task queued before the signal never starts after it
            check_cancelled()
            return fn(*args, **kwargs)

        future = super().submit(unless_cancelled)
        with self._running_lock:
            self._running.add(future)
        future.add_done_callback(self._done)
        return future

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        interrupted = kind is not None and issubclass(kind, KeyboardInterrupt)
        if not (interrupted or cancelled()):
            return super().__exit__(kind, value, traceback)
        self.shutdown(wait=False, cancel_futures=True)
        with self._running_lock:
            running = list(self._running)
        wait_for(running, timeout=seconds_left(STOP_SECONDS))
        return None


# -- what an interrupted command kept --------------------------------------------------------


@dataclass
class OutputFate:
    """An output a command meant to replace, and what became of it."""

    path: str
    existed: bool
    state: str = "untouched"  # "placing" while its swap runs, "placed" once it is done


@dataclass
class _Ledger:
    lock: threading.Lock = field(default_factory=threading.Lock)
    entries: dict[str, OutputFate] = field(default_factory=dict)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()

    def expect(self, path: Path) -> None:
        with self.lock:
            if str(path) not in self.entries:
                self.entries[str(path)] = OutputFate(str(path), path.exists())

    def mark(self, path: Path, state: str) -> None:
        with self.lock:
            fate = self.entries.setdefault(str(path), OutputFate(str(path), path.exists()))
            fate.state = state


_ledger = _Ledger()


def expect_output(path: Path) -> None:
    """``path`` is an output this command will replace: an interrupt says what became of it."""
    _ledger.expect(path)


def outputs() -> list[OutputFate]:
    """The outputs this command meant to replace, in the order they were named."""
    with _ledger.lock:
        return [OutputFate(f.path, f.existed, f.state) for f in _ledger.entries.values()]


@contextmanager
def placing(output: Path) -> Iterator[None]:
    """Putting ``output`` in place: refused once the process is cancelled; a critical section
    (``deferred``) once started; recorded for the interrupt's message."""
    with deferred():
        check_cancelled()
        _ledger.mark(output, "placing")
        try:
            yield
        except BaseException:
            _ledger.mark(output, "untouched")
            raise
        _ledger.mark(output, "placed")
