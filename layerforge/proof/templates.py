"""Templates in a proof spec: ``{bucket}``, ``{prefix}``, ``{function}``, ``{region}``, ``{run}``,
``{shards}``, ``{event.<path>}`` and ``{response.<path>}``.

A template that names something the run does not have (an unknown name, ``{run}`` outside a
fan-out, a field the event or the response lacks) is an error that says so, never "": a
check that silently compared against an empty string would pass or fail for the wrong reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from layerforge.errors import UsageError

__all__ = [
    "NAMES",
    "NO_RESPONSE",
    "TEMPLATE",
    "TemplateError",
    "Templates",
    "is_missing",
    "lookup",
    "template_names",
    "unknown_template",
]

TEMPLATE = re.compile(r"\{([a-z_]+(?:\.[A-Za-z0-9_.-]+)?)\}")
#: The values a run gives (``run`` and ``shards`` only in a fan-out run).
NAMES = ("bucket", "prefix", "function", "region", "run", "shards")
_DOCUMENTS = ("event", "response")
_MISSING = object()
#: The response of an invocation that failed: a template naming it cannot be filled.
NO_RESPONSE = object()


class TemplateError(UsageError):
    """A template the run cannot fill."""


def lookup(document: Any, path: str) -> Any:
    """``a.b.0.c`` (or ``$.a.b[0].c``) in a JSON document; a sentinel when absent."""
    current = document
    cleaned = path.removeprefix("$").removeprefix(".").replace("[", ".").replace("]", "")
    for part in [p for p in cleaned.split(".") if p]:
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif (
            isinstance(current, list)
            and part.lstrip("-").isdigit()
            and -len(current) <= int(part) < len(current)
        ):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def is_missing(value: Any) -> bool:
    return value is _MISSING


def template_names(text: str) -> Iterator[str]:
    """Each ``{name}`` or ``{event.path}`` in ``text``, as written inside the braces."""
    for match in TEMPLATE.finditer(text):
        yield match.group(1)


def unknown_template(name: str, *, response: bool = True) -> str | None:
    """Why ``{name}`` cannot appear in a spec (None when it can); without ``response``, where
    the value is needed before the function runs, ``{response.*}`` cannot either."""
    root, _, rest = name.partition(".")
    if root in _DOCUMENTS and rest:
        if root == "response" and not response:
            return f"{{{name}}}: the response is not known yet here (only after the invocation)"
        return None
    if name in NAMES:
        return None
    known = ", ".join(f"{{{n}}}" for n in NAMES)
    return f"unknown template {{{name}}} (known: {known}, {{event.<path>}}, {{response.<path>}})"


def _missing_field(name: str, root: str, document: Any, rest: str) -> str:
    if root == "response" and document is NO_RESPONSE:
        return f"{{{name}}}: there is no response (the function failed)"
    return f"{{{name}}}: the {root} has no field {rest!r}"


@dataclass(frozen=True)
class Templates:
    """The values templates expand to for one run."""

    values: Mapping[str, str]
    event: Any = None
    response: Any = None

    def value(self, name: str) -> str:
        """What ``{name}`` stands for; TemplateError when this run has no such value."""
        root, _, rest = name.partition(".")
        if root in _DOCUMENTS and rest:
            document = self.event if root == "event" else self.response
            found = lookup(None if document is NO_RESPONSE else document, rest)
            if is_missing(found):
                raise TemplateError(_missing_field(name, root, document, rest))
            return str(found)
        if name in self.values:
            return str(self.values[name])
        if name in NAMES:
            only = " (only a fan-out run has it)" if name in ("run", "shards") else ""
            raise TemplateError(f"{{{name}}}: this run has no {name}{only}")
        raise TemplateError(unknown_template(name) or f"{{{name}}}: unknown template")

    def expand(self, text: str, *, regex: bool = False) -> str:
        """``text`` with each template replaced (escaped for a regular expression with
        ``regex``); TemplateError naming the first one this run cannot fill."""

        def one(match: re.Match[str]) -> str:
            value = self.value(match.group(1))
            return re.escape(value) if regex else value

        return TEMPLATE.sub(one, text)
