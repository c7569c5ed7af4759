"""One error hierarchy: every failure layerforge knows says what failed, why, and what to do.

Exit codes (documented in the README):

* 0: success
* 1: a check failed: verification found errors, a budget was exceeded, or no wheel fits the target
* 2: usage: bad flags, unknown runtime or architecture, unreadable input
* 3: an operation failed: the package index, pip, Docker or AWS did not do what was asked
"""

from __future__ import annotations

__all__ = [
    "BudgetExceededError",
    "BuildError",
    "CheckFailedError",
    "LayerforgeError",
    "NoCompatibleWheelError",
    "UsageError",
]


class LayerforgeError(Exception):
    """Base of every error layerforge raises on purpose."""

    exit_code = 3

    def __init__(self, message: str, *, hint: str | None = None, details: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details

    def __str__(self) -> str:
        return self.message


class UsageError(LayerforgeError):
    """The input is wrong: fix the command line or the configuration."""

    exit_code = 2


class CheckFailedError(LayerforgeError):
    """The inputs are understood, but the result would not work on Lambda."""

    exit_code = 1


class NoCompatibleWheelError(CheckFailedError):
    """A requirement has no wheel that the target runtime accepts."""


class BudgetExceededError(CheckFailedError):
    """The layer exceeds a size budget the user made binding."""


class BuildError(LayerforgeError):
    """An external step of the build (pip, the interpreter, the index) failed."""
