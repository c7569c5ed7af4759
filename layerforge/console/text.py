"""Small text helpers for rendering: sizes, durations, and styled text that is never markup."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.text import Text

__all__ = ["Styled", "format_bytes", "format_seconds", "styled"]


def format_bytes(count: int) -> str:
    """Bytes in binary units, as AWS's limits are meant (250 MB = 262,144,000 bytes = 250 MiB)."""
    sign = "-" if count < 0 else ""
    count = abs(count)
    if count >= 2**20:
        return f"{sign}{count / 2**20:.1f} MiB"
    if count >= 2**10:
        return f"{sign}{count / 2**10:.1f} KiB"
    return f"{sign}{count} B"


def format_seconds(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"


@dataclass(frozen=True)
class Styled:
    """Text in (text, style) parts: plain where output is not a terminal (rich is not even
    loaded then), rich ``Text`` where it is, never markup either way."""

    parts: tuple[tuple[str, str], ...]

    def __str__(self) -> str:
        return "".join(text for text, _ in self.parts)

    def __rich__(self) -> Text:
        from rich.text import Text  # rich: only a terminal renders this

        text = Text()
        for part, style in self.parts:
            text.append(part, style=style or None)
        return text


def styled(*parts: str | tuple[str, str]) -> Styled:
    """Text from plain strings and (text, style) pairs. Brackets in messages, paths and
    requirement strings (``six[extra]``, pip's ``[notice]``) stay exactly as they are."""
    return Styled(tuple(part if isinstance(part, tuple) else (part, "") for part in parts))
