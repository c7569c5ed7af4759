"""A proof spec checked against ``data/proof-spec.schema.json`` before anything reads it.

Types, keys and limits are the schema's (validated by ``jsonschema``); the first problem comes
back as the key path it sits at (``artifacts[3].min_bytes``) and what is wrong there, in
layerforge's words. ``jsonschema`` costs about 0.1 s to import, so it loads here, when a proof
spec is read (invoke-local and publish-and-invoke only), never on a build's path.
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any

__all__ = ["SCHEMA_FILE", "key_path", "schema_problem"]

SCHEMA_FILE = "proof-spec.schema.json"
_KINDS = {
    "object": "a table",
    "array": "a list",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


@functools.cache
def _validator() -> Any:
    import jsonschema

    schema = json.loads(resources.files("layerforge.data").joinpath(SCHEMA_FILE).read_text())
    return jsonschema.Draft202012Validator(schema)


def key_path(parts: Iterable[Any]) -> str:
    """``["artifacts", 3, "name"]`` -> ``artifacts[3].name``."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(expected: Any) -> str:
    kinds = [expected] if isinstance(expected, str) else list(expected)
    return " or ".join(_KINDS.get(k, k) for k in kinds)


def _unknown_keys(error: Any) -> str:
    known = sorted(error.schema.get("properties", {}))
    unknown = sorted(set(error.instance) - set(known))
    close = difflib.get_close_matches(unknown[0], known, n=1) if unknown else []
    guess = f" (did you mean {close[0]!r}?)" if close else ""
    listed = ", ".join(repr(k) for k in unknown)
    return (
        f"unknown key{'s' if len(unknown) > 1 else ''} {listed}{guess}; known: {', '.join(known)}"
    )


def _missing(error: Any) -> str:
    missing = [key for key in error.validator_value if key not in error.instance]
    return f"missing {missing[0]!r}" if missing else str(error.message)


_WORDS: dict[str, Callable[[Any], str]] = {
    "type": lambda e: f"expected {_kind(e.validator_value)}, got {_shown(e.instance)}",
    "required": _missing,
    "additionalProperties": _unknown_keys,
    "maxItems": lambda e: (
        f"at most {e.validator_value:,} entries (a documented limit), got {len(e.instance):,}"
    ),
    "minLength": lambda _e: "must not be empty",
    "maxLength": lambda e: f"at most {e.validator_value:,} characters, got {len(e.instance):,}",
    "enum": lambda e: (
        f"must be one of {', '.join(map(str, e.validator_value))}, got {_shown(e.instance)}"
    ),
}


def _describe(error: Any) -> str:
    """What is wrong, in words a user acts on: the schema's own ``x-messages`` for the keyword
    first (unknown keys are named as well), then layerforge's, then jsonschema's."""
    custom = error.schema.get("x-messages", {}) if isinstance(error.schema, dict) else {}
    words = _WORDS.get(error.validator)
    own = words(error) if words else str(error.message)
    if error.validator not in custom:
        return own
    return (
        f"{custom[error.validator]} ({own})"
        if error.validator == "additionalProperties"
        else (str(custom[error.validator]))
    )


def _order(error: Any) -> tuple[Any, ...]:
    """The first key path first (a user fixes one thing at a time), deeper before shallower,
    and ``oneOf``/``anyOf`` after the more specific keywords at the same place."""
    parts = tuple((0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in error.path)
    return (parts, -len(parts), error.validator in ("oneOf", "anyOf"))


def schema_problem(document: Any) -> tuple[str, str] | None:
    """None when ``document`` fits the schema; else (key path, problem) of its first error."""
    errors = sorted(_validator().iter_errors(document), key=_order)
    if not errors:
        return None
    error = errors[0]
    return key_path(error.absolute_path), _describe(error)
