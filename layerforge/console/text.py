"""Small text helpers for rendering: sizes, durations, and styled text that is never markup."""

from __future__ import annotations

from rich.text import Text

__all__ = ["format_bytes", "format_seconds", "styled"]


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


def styled(*parts: str | tuple[str, str]) -> Text:
    """Text from plain strings and (text, style) pairs. Brackets in messages, paths and
    requirement strings (``six[extra]``, pip's ``[notice]``) stay exactly as they are."""
    text = Text()
    for part in parts:
        if isinstance(part, tuple):
            text.append(part[0], style=part[1])
        else:
            text.append(part)
    return text
