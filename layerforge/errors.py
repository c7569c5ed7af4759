"""One error hierarchy: every failure layerforge knows says what failed, why, and what to do.

Exit codes (documented in the README):

* 0: success
* 1: a check failed: verification found errors, a budget was exceeded, no wheel fits the target,
  an import or a proof check failed
* 2: usage: bad flags or settings, unknown runtime or architecture, unreadable input
* 3: an operation failed: the package index, pip, Docker, the sandbox, AWS or the file system
  did not do what was asked
* 4: a bug in layerforge (an exception it did not expect); the traceback goes to a log file
* 128 + N: interrupted by signal N (130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP)
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from typing import Any

__all__ = [
    "EXIT_BUG",
    "EXIT_CHECK_FAILED",
    "EXIT_OK",
    "EXIT_OPERATION_FAILED",
    "EXIT_USAGE",
    "AwsError",
    "BudgetExceededError",
    "BuildError",
    "Cancelled",
    "CheckFailedError",
    "ContainerError",
    "ExecutionInterrupted",
    "Interrupted",
    "InvalidDocumentError",
    "LayerforgeError",
    "NoCompatibleWheelError",
    "RegionsFailedError",
    "SandboxError",
    "UsageError",
]

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_OPERATION_FAILED = 3
EXIT_BUG = 4


class LayerforgeError(Exception):
    """Base of every error layerforge raises on purpose (an operation failed unless refined).

    ``details`` is text for the terminal; ``data``, when an error has facts a program can use
    (every pin that failed, every distribution's size), makes the JSON ``details`` an object:
    ``text`` (the same text) and those facts."""

    exit_code = EXIT_OPERATION_FAILED

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        details: str = "",
        data: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details
        self.data = dict(data) if data else None

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, object]:
        """The ``--json`` error document."""
        details: object = {"text": self.details, **self.data} if self.data else self.details
        return {
            "error": self.message,
            "hint": self.hint,
            "details": details,
            "exit_code": self.exit_code,
        }


class UsageError(LayerforgeError):
    """The input is wrong: fix the command line, the settings or the files it names."""

    exit_code = EXIT_USAGE


class InvalidDocumentError(UsageError):
    """A file or value layerforge reads (pyproject.toml, pylock.toml, a requirements file, an
    event) does not follow its schema; ``key`` is the path of the offending value."""

    def __init__(self, message: str, *, key: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.key = key


class CheckFailedError(LayerforgeError):
    """The inputs are understood, but the result would not work on Lambda."""

    exit_code = EXIT_CHECK_FAILED


class NoCompatibleWheelError(CheckFailedError):
    """A requirement has no wheel that the target runtime accepts."""


class BudgetExceededError(CheckFailedError):
    """The layer exceeds a size budget the user made binding."""


class BuildError(LayerforgeError):
    """An external step of the build (pip, the interpreter, the index) failed."""


class ContainerError(BuildError):
    """Docker could not do what was asked (daemon, image, container)."""


class SandboxError(LayerforgeError):
    """The sandbox could not start (no engine, no interpreter, no emulation)."""


class AwsError(LayerforgeError):
    """An AWS call failed."""


class RegionsFailedError(LayerforgeError):
    """Some regions of a multi-region command failed; the others are kept. ``details`` is the
    command's report, every region's result or error, so ``--json`` still says what was done."""

    def __init__(
        self, message: str, *, hint: str | None, exit_code: int, report: dict[str, object]
    ) -> None:
        super().__init__(message, hint=hint)
        self.exit_code = exit_code
        self.report = report

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "details": self.report}


class Cancelled(LayerforgeError):
    """An operation refused to start in a worker thread because a signal has interrupted the
    process: an ``Exception`` (not ``Interrupted``), so a library's own thread pool (boto3's
    transfers) fails its task and winds down instead of waiting on it."""


class Interrupted(KeyboardInterrupt):
    """A signal (Ctrl-C, SIGTERM, SIGHUP) asked layerforge to stop; cleanup runs as it unwinds.

    A ``KeyboardInterrupt``, so ``except Exception`` never swallows it and everything that
    cleans up on Ctrl-C cleans up on SIGTERM too.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class ExecutionInterrupted(Interrupted):
    """A signal ended the wait for a Step Functions execution, which goes on on AWS unless it
    was stopped: the message says which, and the hint how to stop it or pick it up again."""

    def __init__(
        self,
        signum: int,
        *,
        execution: str,
        run_id: str,
        stopped: bool = False,
        stop_error: str | None = None,
    ) -> None:
        super().__init__(signum)
        self.execution = execution
        self.run_id = run_id
        self.stopped = stopped
        self.stop_error = stop_error

    @property
    def message(self) -> str:
        if self.stopped:
            return f"the execution {self.execution} was stopped (StopExecution)"
        failed = f" (stopping it failed: {self.stop_error})" if self.stop_error else ""
        return f"the execution {self.execution} keeps running on AWS{failed}"

    @property
    def hint(self) -> str:
        if self.stopped:
            return (
                f"rerun with --run-id {self.run_id} to run it again (a fresh attempt: finished "
                "shards are rewritten identically)"
            )
        region = self.execution.split(":")[3] if self.execution.count(":") >= 3 else ""
        return (
            f"stop it with 'aws stepfunctions stop-execution --execution-arn {self.execution}"
            f"{f' --region {region}' if region else ''}', or rerun with --run-id {self.run_id} "
            "to wait for it (no second execution is started); --stop-on-interrupt stops it"
        )
