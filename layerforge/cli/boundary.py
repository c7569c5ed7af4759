"""The one error boundary: every way a command can end becomes an exit code and, on failure, one
ERROR line with a hint (and the same as a JSON document on stdout with ``--json``).

* a LayerforgeError: its message, hint and exit code (1, 2 or 3);
* a Click usage error: exit 2, with the command's --help as the hint;
* a signal (Ctrl-C, SIGTERM, SIGHUP): what was interrupted and what became of each output it
  meant to replace (kept, put in place before the signal, not written), exit 128 + N, after
  cleanup ran;
* an OSError or MemoryError: the operation failed (exit 3), naming the file and the cause;
* anything else is a bug: exit 4, the traceback written to a log file named in the hint
  (``--debug`` or LAYERFORGE_DEBUG=1 prints it instead).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import time
import traceback
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import click

from layerforge import __version__, interrupts
from layerforge.console import Renderer
from layerforge.errors import (
    EXIT_BUG,
    EXIT_OPERATION_FAILED,
    EXIT_USAGE,
    ExecutionInterrupted,
    Interrupted,
    LayerforgeError,
)
from layerforge.interrupts import OutputFate
from layerforge.locations import state_dir

__all__ = ["ISSUES_URL", "report_exception", "wants_debug"]

ISSUES_URL = "https://github.com/layerforge/layerforge/issues"
_OS_HINTS = {
    errno.ENOSPC: "free space there (or point LAYERFORGE_SCRATCH or TMPDIR elsewhere) and retry",
    errno.EDQUOT: "free space there (or point LAYERFORGE_SCRATCH or TMPDIR elsewhere) and retry",
    errno.EACCES: "check the permissions of that path",
    errno.EPERM: "check the permissions of that path",
    errno.EROFS: "that file system is read-only: choose a writable path",
    errno.ENOENT: "check that the path exists",
}


def wants_debug(argv: list[str]) -> bool:
    value = os.environ.get("LAYERFORGE_DEBUG", "").lower()
    return "--debug" in argv or value in ("1", "true", "yes", "on")


def _crash_log(text: str) -> Path | None:
    """Write ``text`` where the user can find it; None if nowhere is writable."""
    name = f"crash-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.log"
    for folder in (state_dir(), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / (name if folder.name == "layerforge" else f"layerforge-{name}")
            path.write_text(text, "utf-8")
            return path
        except OSError:
            continue
    return None


def _usage_error(error: click.ClickException) -> dict[str, Any]:
    context = getattr(error, "ctx", None)
    command = context.command_path if context is not None else "layerforge"
    message = error.format_message()
    return {
        "error": message[:1].lower() + message[1:] if message else "usage error",
        "hint": f"see '{command} --help'",
        "details": "",
        "exit_code": EXIT_USAGE,
    }


def _listed(paths: list[str]) -> str:
    return ", ".join(paths)


def _what_was_kept(fates: list[OutputFate]) -> str:
    """What became of the outputs the command meant to replace, as it is now on disk."""
    placed = [f.path for f in fates if f.state == "placed"]
    placing = [f.path for f in fates if f.state == "placing"]
    kept = [f.path for f in fates if f.state == "untouched" and f.existed]
    absent = [f.path for f in fates if f.state == "untouched" and not f.existed]
    parts = []
    if placed:
        parts.append(f"put in place before the signal: {_listed(placed)}")
    if placing:
        parts.append(
            f"being put in place when the signal came (the old or the new pair, never a mix): "
            f"{_listed(placing)}"
        )
    if kept:
        last = "the last good layer" if len(kept) == 1 else "the last good layers"
        parts.append(f"{_listed(kept)} kept ({last})")
    if absent:
        parts.append(f"not written: {_listed(absent)}")
    if not placed and not placing:
        parts.append("nothing was replaced")
    return "; ".join(parts)


def _interrupted(signal_error: Interrupted) -> dict[str, Any]:
    error = f"interrupted by {signal_error.name}"
    if isinstance(signal_error, ExecutionInterrupted):  # what goes on elsewhere, and how to stop
        return {
            "error": f"{error}: {signal_error.message}",
            "hint": signal_error.hint,
            "details": "",
            "exit_code": signal_error.exit_code,
        }
    fates = interrupts.outputs()
    if fates:
        return {
            "error": f"{error}: {_what_was_kept(fates)}",
            "hint": "temporary files, containers and child processes were removed; run the "
            "command again",
            "details": "",
            "exit_code": signal_error.exit_code,
        }
    return {
        "error": error,
        "hint": "nothing was left behind: temporary files, containers and child processes "
        "were removed, and the last good output was kept; run the command again",
        "details": "",
        "exit_code": signal_error.exit_code,
    }


def _os_error(error: OSError, log: Path | None) -> dict[str, Any]:
    where = f": {error.filename}" if error.filename else ""
    return {
        "error": f"{error.strerror or type(error).__name__}{where}",
        "hint": _OS_HINTS.get(error.errno or 0, "check that path and retry"),
        "details": f"(the traceback is in {log})" if log else "",
        "exit_code": EXIT_OPERATION_FAILED,
    }


def _bug(error: BaseException, log: Path | None, debug: bool) -> dict[str, Any]:
    where = "" if debug else (f"the full traceback is in {log}; " if log else "")
    return {
        "error": f"internal error (a bug in layerforge {__version__}): "
        f"{type(error).__name__}: {error}",
        "hint": f"{where}please report it at {ISSUES_URL}"
        + ("" if debug else " (rerun with --debug to see the traceback here)"),
        "details": "",
        "exit_code": EXIT_BUG,
    }


def _default_hint(code: int, command: str) -> str:
    """For the errors that carry no hint of their own: where to look next."""
    if code == EXIT_USAGE:
        return f"see 'layerforge {command} --help'".replace("  ", " ")
    if code == EXIT_OPERATION_FAILED:
        return "fix the cause named above and retry; --debug shows the full traceback"
    return "see the report above for each failed check"


def report_exception(
    error: BaseException, renderer: Renderer, *, debug: bool, command: str = ""
) -> int:
    """Render ``error`` as the contract says; returns the exit code."""
    if isinstance(error, click.exceptions.Abort) and isinstance(error.__cause__, Interrupted):
        error = error.__cause__
    signum = interrupts.first_signal()
    if signum is not None and not isinstance(error, Interrupted):
        # whatever failed while it unwound (a terminal gone with SIGHUP), the signal is why
        error = Interrupted(signum)
    if isinstance(error, LayerforgeError):
        document = error.to_dict()
    elif isinstance(error, click.ClickException):
        document = _usage_error(error)
    elif isinstance(error, Interrupted):
        document = _interrupted(error)
    elif isinstance(error, (KeyboardInterrupt, click.exceptions.Abort)):
        document = _interrupted(Interrupted(2))
    else:
        text = "".join(traceback.format_exception(error))
        log = None if debug else _crash_log(text)
        if debug:
            renderer.traceback(text)
        if isinstance(error, OSError):
            document = _os_error(error, log)
        elif isinstance(error, MemoryError):
            document = {
                "error": "out of memory",
                "hint": "free memory, or build a smaller layer",
                "details": "",
                "exit_code": EXIT_OPERATION_FAILED,
            }
        else:
            document = _bug(error, log, debug)
    code = document["exit_code"]
    assert isinstance(code, int)
    if not document.get("hint"):
        document["hint"] = _default_hint(code, command)
    # after SIGHUP the terminal may be gone: nothing can be said, the exit code still tells
    with contextlib.suppress(OSError) if isinstance(error, Interrupted) else nullcontext():
        renderer.failure(document)
    return code
