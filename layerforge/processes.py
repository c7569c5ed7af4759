"""Running helper programs (pip, uv, interpreters, strip, bwrap): nothing outlives layerforge.

Every child starts in its own session (process group), so a terminal's Ctrl-C reaches only
layerforge, which then stops the whole group: pip and its build helpers, compileall's worker
processes, a sandboxed interpreter and whatever it started. A child that ignores SIGTERM is
killed after a grace period. Output is read line by line (streamed as events) or captured.

Every live group is in one registry, whichever thread started it: the first signal sends
SIGTERM to all of them from the handler itself and SIGKILL to what is left a moment later
(``CANCEL_GRACE_SECONDS``), so a worker thread waiting on pip or uv is released at once. Once
the process is cancelled no child starts, and a command whose child ended raises
``Interrupted`` instead of returning what the killed child printed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from layerforge.errors import BuildError
from layerforge.interrupts import cancelled, check_cancelled, deferred, on_cancel

__all__ = [
    "Background",
    "Completed",
    "run",
    "run_streaming",
    "spawn",
    "usable_cores",
]

#: Seconds a process group gets to exit after SIGTERM before SIGKILL.
GRACE_SECONDS = 3.0
#: The same once the process is cancelled: the whole command has two seconds to end.
CANCEL_GRACE_SECONDS = 0.3

_live: dict[int, subprocess.Popen[str]] = {}
_live_lock = threading.RLock()  # re-entrant: the signal handler runs on the main thread


def _signal_all(signum: int) -> None:
    with _live_lock:
        processes = list(_live.values())
    for process in processes:
        if process.returncode is None:  # not reaped: its pid is still its own
            _signal_group(process, signum)


def _terminate_all() -> None:
    """From the signal handler itself: SIGTERM to every live group, at once."""
    _signal_all(signal.SIGTERM)


def _kill_the_rest() -> None:
    """A moment after the signal's SIGTERM, SIGKILL whatever ignored it."""
    time.sleep(CANCEL_GRACE_SECONDS)
    if cancelled():  # still: a caller that ended its cancellation meanwhile keeps its children
        _signal_all(signal.SIGKILL)


on_cancel(_terminate_all, immediate=True)
on_cancel(_kill_the_rest)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Completed:
    """A finished command: its exit status and output (``stderr`` is empty when merged)."""

    returncode: int
    stdout: str
    stderr: str = ""
    timed_out: bool = False

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def tail(self, lines: int = 12) -> str:
        text = (self.stderr.strip() + "\n" + self.stdout.strip()).strip()
        return "\n".join(text.splitlines()[-lines:])


def _signal_group(process: subprocess.Popen[str], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def stop_group(process: subprocess.Popen[str]) -> None:
    """SIGTERM the child's process group, SIGKILL it after the grace period, reap the child."""
    _signal_group(process, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=CANCEL_GRACE_SECONDS if cancelled() else GRACE_SECONDS)
    _signal_group(process, signal.SIGKILL)  # helpers the child left behind go too
    process.wait()


def _start(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None,
    merge_stderr: bool,
    stdin: int | None,
    pass_fds: Sequence[int],
) -> subprocess.Popen[str]:
    """Start ``command`` in its own session and register its group; refused once cancelled.
    Starting and registering is one section no signal splits (the group is never unowned)."""
    process: subprocess.Popen[str] | None = None
    try:
        with deferred():
            check_cancelled()
            try:
                process = subprocess.Popen(
                    list(command),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
                    stdin=stdin,
                    text=True,
                    errors="replace",
                    env=dict(env) if env is not None else None,
                    start_new_session=True,
                    pass_fds=tuple(pass_fds),
                )
            except OSError as exc:
                raise BuildError(f"cannot run {command[0]}: {exc.strerror}") from None
            with _live_lock:
                _live[process.pid] = process
    except BaseException:  # the signal held while it started: it goes at once
        if process is not None:
            _forget(process)
        raise
    assert process is not None
    return process


def _forget(process: subprocess.Popen[str]) -> None:
    """Stop the child's group (if it still runs), reap it, close its pipes, unregister it."""
    try:
        if process.poll() is None:
            stop_group(process)
        else:
            _signal_group(process, signal.SIGKILL)  # the leader is gone; its helpers too
    finally:
        with _live_lock:
            _live.pop(process.pid, None)
        for stream in (process.stdout, process.stderr, process.stdin):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


@contextlib.contextmanager
def spawn(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    merge_stderr: bool = True,
    stdin: int | None = subprocess.DEVNULL,
    pass_fds: Sequence[int] = (),
) -> Iterator[subprocess.Popen[str]]:
    """A running child in its own process group; the group is stopped when the block exits."""
    process = _start(command, env=env, merge_stderr=merge_stderr, stdin=stdin, pass_fds=pass_fds)
    try:
        check_cancelled()  # cancelled while it started: the registry's kill may have missed it
        yield process
    finally:
        _forget(process)


def run_streaming(
    command: Sequence[str],
    *,
    on_line: Callable[[str], None],
    env: Mapping[str, str] | None = None,
    keep_lines: int = 400,
    timeout: float | None = None,
) -> Completed:
    """Run ``command`` with stderr merged into stdout; ``on_line`` sees each line as it comes."""
    tail: deque[str] = deque(maxlen=keep_lines)
    timer: threading.Timer | None = None
    expired = threading.Event()
    with spawn(command, env=env) as process:
        if timeout is not None:

            def expire() -> None:
                expired.set()
                _signal_group(process, signal.SIGKILL)

            timer = threading.Timer(timeout, expire)
            timer.daemon = True
            timer.start()
        try:
            assert process.stdout is not None
            for line in process.stdout:
                tail.append(line.rstrip("\n"))
                on_line(line.rstrip("\n"))
            process.wait()
        finally:
            if timer is not None:
                timer.cancel()
    check_cancelled()  # a child killed by the cancellation: its output means nothing
    return Completed(process.returncode, "\n".join(tail), timed_out=expired.is_set())


class Background:
    """A command that runs while the caller does other work. Its output is read on a thread (so
    the child never blocks on a full pipe); ``wait`` gives the result, ``stop`` (for a caller
    that fails or is interrupted meanwhile) stops its whole process group at once. With
    ``takes_input``, ``send`` writes lines to its stdin until ``wait`` closes it."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        keep_lines: int = 400,
        takes_input: bool = False,
    ) -> None:
        self._stack = contextlib.ExitStack()
        stdin = subprocess.PIPE if takes_input else subprocess.DEVNULL
        self.process = self._stack.enter_context(spawn(command, env=env, stdin=stdin))
        self._tail: deque[str] = deque(maxlen=keep_lines)
        self._reader = threading.Thread(target=self._read, name="layerforge-output", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        with contextlib.suppress(OSError, ValueError):  # the stream closed under a stop()
            for line in self.process.stdout:
                self._tail.append(line.rstrip("\n"))

    def send(self, lines: Sequence[str]) -> None:
        """Write ``lines`` to the command's input (a command that has exited reads no more)."""
        if self.process.stdin is not None and lines:
            with contextlib.suppress(BrokenPipeError, ValueError):
                self.process.stdin.write("".join(f"{line}\n" for line in lines))
                self.process.stdin.flush()

    def wait(self) -> Completed:
        if self.process.stdin is not None:
            with contextlib.suppress(BrokenPipeError, ValueError):
                self.process.stdin.close()
        self.process.wait()
        self._reader.join()
        self._stack.close()
        check_cancelled()
        return Completed(self.process.returncode, "\n".join(self._tail))

    def stop(self) -> None:
        self._stack.close()
        self._reader.join(timeout=CANCEL_GRACE_SECONDS if cancelled() else GRACE_SECONDS)


def run(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    input_text: str | None = None,
) -> Completed:
    """Run ``command`` to completion and capture stdout and stderr separately."""
    stdin = subprocess.PIPE if input_text is not None else subprocess.DEVNULL
    with spawn(command, env=env, merge_stderr=False, stdin=stdin) as process:
        try:
            stdout, stderr = process.communicate(input_text, timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            stdout, stderr = process.communicate()
            check_cancelled()
            return Completed(process.returncode, stdout, stderr, timed_out=True)
    check_cancelled()
    return Completed(process.returncode, stdout, stderr)
