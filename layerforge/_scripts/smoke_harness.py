"""The import harness: runs inside the sandbox and imports each module in a fresh interpreter.

Standalone (standard library only; it imports nothing from layerforge, and nothing of the
layer). Usage::

    python smoke_harness.py TIMEOUT [CHILD_FLAG ...] -- MODULE [MODULE ...]

For each module a child interpreter (``sys.executable`` with the CHILD_FLAGs) reads a one-time
nonce from its stdin, imports the module, and only then writes the nonce and the result to a
separate pipe that the harness created for it. The module's own output goes to the child's
stdout/stderr, which the harness keeps apart: printing ``{"ok": true}`` proves nothing. A child
that does not finish within TIMEOUT seconds is killed with everything it started, and the module
is reported as hanging; a child that dies (a crash, ``os._exit``) without writing its result is
reported with its exit status. The harness prints one JSON line per module on its stdout.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import select
import signal
import subprocess
import sys
import threading
import time
from typing import IO

CHILD = r"""
import os, sys, time, json, traceback

def main():
    fd = int(sys.argv[2])
    nonce = sys.stdin.readline().strip()
    sys.stdin.close()
    name = sys.argv[1]
    started = time.perf_counter()
    try:
        __import__(name)
    except BaseException as exc:
        lines = traceback.format_exc().strip().splitlines()
        result = {"ok": False, "seconds": time.perf_counter() - started,
                  "error": "%s: %s" % (type(exc).__name__, exc), "traceback": lines[-6:]}
    else:
        result = {"ok": True, "seconds": time.perf_counter() - started}
    os.write(fd, (nonce + "\n" + json.dumps(result)).encode("utf-8", "replace"))
    os.close(fd)
    os._exit(0)

main()
"""
_TAIL = 4000


def _read_all(fd: int, limit: int = 1 << 20, wait: float = 5.0) -> bytes:
    """What the child wrote to its result pipe (bounded in size and in time: a process that
    escaped the kill and still holds the pipe cannot stall the harness)."""
    chunks, size, deadline = [], 0, time.monotonic() + wait
    while size < limit:
        remaining = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(0.0, remaining))
        if not ready:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _status(code: int) -> str:
    if code < 0:
        try:
            return "killed by " + signal.Signals(-code).name
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit {code}"


class _Tail(threading.Thread):
    """Reads a stream to its end, keeping only its last bytes (output is never unbounded)."""

    def __init__(self, stream: IO[bytes] | None) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.data = b""

    def run(self) -> None:
        assert self.stream is not None
        read = self.stream.read
        while True:
            chunk = read(65536)
            if not chunk:
                return
            self.data = (self.data + chunk)[-_TAIL:]


def _send(child: subprocess.Popen[bytes], text: str) -> None:
    try:
        child.stdin.write(text.encode())  # type: ignore[union-attr]
        child.stdin.close()  # type: ignore[union-attr]
    except OSError:
        pass  # the child already died; its status says how


def import_one(name: str, timeout: float, flags: list[str]) -> dict[str, object]:
    nonce = secrets.token_hex(16)
    read_end, write_end = os.pipe()
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, *flags, "-c", CHILD, name, str(write_end)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        pass_fds=(write_end,),
        start_new_session=True,
    )
    os.close(write_end)
    output = _Tail(child.stdout)
    output.start()
    _send(child, nonce + "\n")
    timed_out = False
    try:
        child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(child.pid)
        child.wait()
    _kill_group(child.pid)  # anything the import started goes too
    output.join(timeout=5)
    channel = _read_all(read_end).decode("utf-8", "replace")
    os.close(read_end)
    elapsed = time.perf_counter() - started
    text = output.data.decode("utf-8", "replace")
    tail = text.strip().splitlines()[-6:]
    if timed_out:
        return {
            "module": name,
            "ok": False,
            "seconds": elapsed,
            "traceback": tail,
            "error": f"timed out: the import did not finish within {timeout:g} s",
        }
    first, _, payload = channel.partition("\n")
    if first != nonce:
        return {
            "module": name,
            "ok": False,
            "seconds": elapsed,
            "traceback": tail,
            "error": f"the interpreter died during the import ({_status(child.returncode)})",
        }
    result: dict[str, object] = json.loads(payload)
    result["module"] = name
    return result


def main(argv: list[str]) -> int:
    if "--" not in argv or len(argv) < 2:
        sys.stderr.write("usage: smoke_harness.py TIMEOUT [CHILD_FLAG ...] -- MODULE ...\n")
        return 2
    split = argv.index("--")
    timeout, flags, modules = float(argv[0]), argv[1:split], argv[split + 1 :]
    for name in modules:
        sys.stdout.write(json.dumps(import_one(name, timeout, flags)) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
