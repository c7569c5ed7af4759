"""Progress events: the core emits them, only the CLI renders them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

__all__ = ["Event", "EventKind", "EventSink", "emit_to"]


class EventKind(str, Enum):
    STARTED = "started"
    PROGRESS = "progress"
    FINISHED = "finished"
    NOTE = "note"


@dataclass(frozen=True)
class Event:
    """Something happened in a named step (``resolve``, ``postprocess``, ``zip`` ...)."""

    kind: EventKind
    step: str
    message: str = ""
    completed: int | None = None
    total: int | None = None


EventSink = Callable[[Event], None]


def _discard(_event: Event) -> None:
    return None


def emit_to(sink: EventSink | None) -> EventSink:
    """The sink to call: the given one, or one that discards."""
    return sink if sink is not None else _discard
