"""Where rendering goes: a rich ``Console`` on a terminal, ``PlainOutput`` elsewhere (logs,
pipes, --json), behind one small ``Output`` protocol."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any, Protocol

from layerforge.console.text import Styled

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["Output", "PlainOutput", "console_for"]

#: Width for output that is not a terminal (logs, pipes): wide enough that nothing is cut.
_LOG_WIDTH = 200


class Output(Protocol):
    """What the renderer writes through: a rich ``Console`` or ``PlainOutput``."""

    @property
    def is_terminal(self) -> bool: ...

    def print(self, *objects: Any, **options: Any) -> None: ...


class PlainOutput:
    """stdout or stderr when it is not a terminal (logs, pipes, --json): lines written as they
    are, nothing cut or wrapped, no colour, as a rich console would write them there; rich is
    loaded only to lay out a table. The stream is looked up at each write (tests swap it)."""

    is_terminal = False

    def __init__(self, *, stderr: bool) -> None:
        self.stderr = stderr
        self._rich: Console | None = None

    def _stream(self) -> Any:
        return sys.stderr if self.stderr else sys.stdout

    def print(self, *objects: Any, **options: Any) -> None:
        if all(isinstance(o, str | Styled) for o in objects):
            stream = self._stream()
            stream.write(" ".join(str(o) for o in objects) + "\n")
            stream.flush()
            return
        if self._rich is None:
            self._rich = _rich_console(stderr=self.stderr, terminal=False)
        self._rich.print(*objects, **options)

    def print_json(self, text: str) -> None:
        """As rich prints JSON: re-indented by two, non-ASCII kept."""
        self.print(json.dumps(json.loads(text), indent=2, ensure_ascii=False))


def _rich_console(*, stderr: bool, terminal: bool) -> Console:
    from rich.console import Console  # rich (40 ms): only a terminal or a table needs it

    width = None if terminal or os.environ.get("COLUMNS") else _LOG_WIDTH
    return Console(stderr=stderr, soft_wrap=not terminal, highlight=False, width=width)


def console_for(*, stderr: bool) -> Output:
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty() or os.environ.get("FORCE_COLOR"):
        return _rich_console(stderr=stderr, terminal=stream.isatty())
    return PlainOutput(stderr=stderr)
