"""A proof spec checked against ``data/proof-spec.schema.json`` before anything reads it.

Types, keys and limits are the schema's, compiled by fastjsonschema (the validator the other
documents layerforge reads use) the first time a spec is read: invoke-local and
publish-and-invoke only, never a build. The first problem comes back as the key path it sits
at (``artifacts[3].min_bytes``) and what is wrong there, in layerforge's words: the schema's own
``x-messages`` for the keyword that failed, else a sentence made from the keyword.
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
def _validator() -> Callable[[Any], Any]:
    import fastjsonschema  # 4 ms: only once a proof spec is read, never --help

    schema = json.loads(resources.files("layerforge.data").joinpath(SCHEMA_FILE).read_text())
    return fastjsonschema.compile(schema, use_default=False)


def key_path(parts: Iterable[Any]) -> str:
    """``["artifacts", 3, "name"]`` -> ``artifacts[3].name``."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _keys(document: Any, path: Iterable[str]) -> list[str | int]:
    """fastjsonschema's path (strings, ``data`` first dropped) with list indexes as numbers."""
    keys: list[str | int] = []
    node = document
    for key in path:
        if isinstance(node, list) and key.isdigit():
            keys.append(int(key))
            node = node[int(key)] if int(key) < len(node) else None
        else:
            keys.append(key)
            node = node.get(key) if isinstance(node, dict) else None
    return keys


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(expected: Any) -> str:
    kinds = [expected] if isinstance(expected, str) else list(expected)
    return " or ".join(_KINDS.get(k, k) for k in kinds)


def _unknown_keys(definition: dict[str, Any], found: Any, _limit: Any) -> str:
    known = sorted(definition.get("properties", {}))
    unknown = sorted(set(found) - set(known)) if isinstance(found, dict) else []
    close = difflib.get_close_matches(unknown[0], known, n=1) if unknown else []
    guess = f" (did you mean {close[0]!r}?)" if close else ""
    listed = ", ".join(repr(k) for k in unknown)
    return (
        f"unknown key{'s' if len(unknown) > 1 else ''} {listed}{guess}; known: {', '.join(known)}"
    )


def _missing(definition: dict[str, Any], found: Any, _limit: Any) -> str:
    missing = [k for k in definition.get("required", []) if k not in (found or {})]
    return f"missing {missing[0]!r}" if missing else "a required key is missing"


_WORDS: dict[str, Callable[[dict[str, Any], Any, Any], str]] = {
    "type": lambda d, found, _: f"expected {_kind(d.get('type'))}, got {_shown(found)}",
    "required": _missing,
    "additionalProperties": _unknown_keys,
    "maxItems": lambda _d, found, limit: (
        f"at most {limit:,} entries (a documented limit), got {len(found):,}"
    ),
    "minLength": lambda _d, _found, _limit: "must not be empty",
    "maxLength": lambda _d, found, limit: f"at most {limit:,} characters, got {len(found):,}",
    "enum": lambda _d, found, limit: (
        f"must be one of {', '.join(map(str, limit))}, got {_shown(found)}"
    ),
}


def _describe(rule: str, definition: Any, found: Any, limit: Any) -> str:
    """What is wrong: the schema's ``x-messages`` for the keyword (unknown keys named too),
    else layerforge's sentence for it, else the keyword and its value."""
    definition = definition if isinstance(definition, dict) else {}
    custom = definition.get("x-messages", {})
    words = _WORDS.get(rule)
    own = words(definition, found, limit) if words else f"breaks the rule {rule} = {_shown(limit)}"
    if rule not in custom:
        return own
    return f"{custom[rule]} ({own})" if rule == "additionalProperties" else str(custom[rule])


def schema_problem(document: Any) -> tuple[str, str] | None:
    """None when ``document`` fits the schema; else (key path, problem) of its first error."""
    import fastjsonschema  # see _validator

    try:
        _validator()(document)
    except fastjsonschema.JsonSchemaValueException as error:
        where = key_path(_keys(document, error.path[1:]))
        return where, _describe(
            error.rule or "", error.definition, error.value, error.rule_definition
        )
    return None
