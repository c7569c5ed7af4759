"""External documents, read within bounds and validated against their schemas at the edge.

Every document layerforge reads from the user (``pyproject.toml``'s ``[project]`` and
``[tool.layerforge]``, ``pylock.toml``, the options of a requirements file, the ``--event`` JSON)
has a JSON Schema in ``layerforge/data/`` (each rule with its source: PEP 621, PEP 751, pip's
documentation), compiled by fastjsonschema into plain Python the first time that kind of document
is read (importing it costs a few milliseconds; jsonschema would cost ten times more on every
warm build). A value of the wrong type is an ``InvalidDocumentError`` (exit 2) that names the
key's path, ``[project].dynamic: expected a list of strings, got 5``, never a crash further in.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from layerforge.errors import InvalidDocumentError, UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "EVENT",
    "MAX_DOCUMENT_BYTES",
    "PROJECT_TABLE",
    "PYLOCK",
    "REQUIREMENT_OPTIONS",
    "SETTINGS_TABLE",
    "DocumentKind",
    "parse_json",
    "read_text",
    "read_toml",
    "validate",
]

#: A settings file, lock file, requirements file or event larger than this is not one.
MAX_DOCUMENT_BYTES = 10 * 2**20
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_SHOWN = 60  # characters of a value shown in a message


@dataclass(frozen=True)
class DocumentKind:
    """How one kind of document is checked and how its keys are named in messages.

    ``schema``: the file in ``layerforge/data/``; ``sections``: dotted keys written as TOML
    table headers (``[tool.layerforge].matrix``); ``table``: what a JSON object is called;
    ``labels``: top-level keys as the user wrote them (``index_url`` is ``--index-url``)."""

    schema: str
    sections: tuple[str, ...] = ()
    table: str = "a table"
    labels: tuple[tuple[str, str], ...] = ()  # a top-level key as the user wrote it
    unknown: str = "key"  # what an unknown key is called: "unknown setting 'x'"


#: pyproject.toml's ``[project]`` (PEP 621), read only for its dependencies.
PROJECT_TABLE = DocumentKind("pyproject.schema.json", sections=("project",))
#: pyproject.toml's ``[tool.layerforge]``: read by every build, warm ones too, so its schema is
#: apart (compiling it costs about 15 ms of CPU, the [project] one would add 5 ms more).
SETTINGS_TABLE = DocumentKind(
    "settings.schema.json", sections=("tool.layerforge", "tool"), unknown="setting"
)
#: A PEP 751 lock file.
PYLOCK = DocumentKind("pylock.schema.json")
#: The options of one requirements-file line, as pip's parser gives them.
REQUIREMENT_OPTIONS = DocumentKind(
    "requirements-options.schema.json",
    table="a set of options",
    labels=(
        ("index_url", "--index-url"),
        ("extra_index_urls", "--extra-index-url"),
        ("find_links", "--find-links"),
        ("trusted_hosts", "--trusted-host"),
        ("requirements", "-r"),
        ("constraints", "-c"),
        ("hashes", "--hash"),
    ),
)
#: ``--event``: the keys layerforge itself reads.
EVENT = DocumentKind("event.schema.json", table="a JSON object")


def read_text(path: Path, what: str, *, hint: str = "check the path") -> str:
    """The UTF-8 text of ``path``, a regular file of at most ``MAX_DOCUMENT_BYTES``."""
    try:
        if not path.is_file():
            reason = "not a regular file" if path.exists() else "no such file"
            raise UsageError(f"cannot read {what} {path}: {reason}", hint=hint)
        if path.stat().st_size > MAX_DOCUMENT_BYTES:
            raise UsageError(
                f"{path} is over {MAX_DOCUMENT_BYTES // 2**20} MiB: not a {what}", hint=hint
            )
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not a text file (not UTF-8)", hint=hint) from None
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror or exc}", hint=hint) from None


def read_toml(path: Path, what: str, *, hint: str = "check the path") -> dict[str, Any]:
    """``path`` parsed as TOML; every way it is not a readable TOML file is a UsageError."""
    text = read_text(path, what, hint=hint)
    try:
        document: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"cannot read {path}: {exc}", hint="fix the TOML syntax") from None
    except RecursionError:
        raise UsageError(
            f"cannot read {path}: its arrays or tables are nested too deeply",
            hint="fix the TOML: no setting is nested more than a few levels",
        ) from None
    return document


def parse_json(text: str, source: str, *, hint: str) -> Any:
    """``text`` as JSON; bad syntax or absurd nesting is a UsageError naming ``source``."""
    try:
        return json.loads(text)
    except RecursionError:
        raise UsageError(f"{source}: nested too deeply to be read", hint=hint) from None
    except ValueError as exc:
        raise UsageError(f"{source} is not JSON: {exc}", hint=hint) from None


@cache
def _validator(schema: str) -> tuple[Callable[[Any], Any], dict[str, Any]]:
    import fastjsonschema  # 4 ms: only once a document of this kind is read, never --help

    text = resources.files("layerforge.data").joinpath(schema).read_text("utf-8")
    definition: dict[str, Any] = json.loads(text)
    return fastjsonschema.compile(definition, use_default=False), definition


def validate(document: object, kind: DocumentKind, *, source: str) -> None:
    """Check ``document`` against ``kind``'s schema; the first wrong value is an
    InvalidDocumentError naming ``source`` and the value's key path."""
    import fastjsonschema  # see _validator

    check, schema = _validator(kind.schema)
    try:
        check(document)
    except fastjsonschema.JsonSchemaValueException as error:
        keys = _keys(document, error.path[1:])
        if keys and isinstance(keys[0], str):
            keys[0] = dict(kind.labels).get(keys[0], keys[0])
        where = _key_path(keys, kind.sections)
        problem, hint = _problem(error, kind)
        reference = _reference(schema, error.path[1:])
        hint = hint or f"fix that value in {source}" + (f" (see {reference})" if reference else "")
        if problem.startswith("unknown "):
            message = f"{source}: {problem} in {where or 'the document'}"
        elif where or error.rule != "type":
            message = f"{source}: {where}: {problem}" if where else f"{source}: {problem}"
        else:  # the document itself is of the wrong type
            wanted = expected(error.definition, kind)
            message = f"{source} must be {wanted}, not {shown(error.value)}"
        raise InvalidDocumentError(message, key=where, hint=hint) from None


def _reference(schema: Mapping[str, Any], path: Sequence[str]) -> str:
    """The source of the rule at ``path``: the nearest ``$comment`` on the way down."""
    found = str(schema.get("$comment", ""))
    node: Any = schema
    for key in path:
        children = node.get("properties", {})
        if key in children:
            node = children[key]
        elif isinstance(node.get("items"), Mapping) and key.isdigit():
            node = node["items"]
        elif isinstance(node.get("additionalProperties"), Mapping):
            node = node["additionalProperties"]
        else:
            break
        found = str(node.get("$comment", found))
    return found


def _keys(document: object, path: Sequence[str]) -> list[str | int]:
    """The error's path with array indexes as numbers (fastjsonschema gives strings)."""
    keys: list[str | int] = []
    node = document
    for key in path:
        if isinstance(node, list) and key.isdigit():
            keys.append(int(key))
            node = node[int(key)] if int(key) < len(node) else None
        else:
            keys.append(key)
            node = node.get(key) if isinstance(node, Mapping) else None
    return keys


def _key_path(keys: Sequence[str | int], sections: Sequence[str]) -> str:
    """``[tool.layerforge].matrix.runtime[0]``: a section as its TOML header, then the keys."""
    names = list(keys)
    head = ""
    for section in sorted(sections, key=len, reverse=True):
        parts = section.split(".")
        if [str(k) for k in names[: len(parts)]] == parts:
            head, names = f"[{section}]", names[len(parts) :]
            break
    text = head
    for key in names:
        if isinstance(key, int):
            text += f"[{key}]"
        else:
            name = key if _BARE_KEY.match(key) else json.dumps(key)
            text += f".{name}" if text else name
    return text


def shown(value: object) -> str:
    """A value as a message shows it: TOML/JSON-like, cut short."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (datetime, date, time)):
        text = value.isoformat()
    elif isinstance(value, Mapping):
        text = "a table" if value else "an empty table"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, (list, tuple)):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]} ... ({len(text):,} characters)"


_NOUNS = {
    "string": ("a string", "strings"),
    "integer": ("a whole number", "whole numbers"),
    "number": ("a number", "numbers"),
    "boolean": ("true or false", "booleans"),
    "array": ("a list", "lists"),
    "null": ("nothing", "nothing"),
}


def expected(definition: Mapping[str, Any], kind: DocumentKind, *, plural: bool = False) -> str:
    """What ``definition`` accepts, in words: ``a list of non-empty strings``."""
    if "description" in definition and not plural:
        return str(definition["description"])
    for key in ("anyOf", "oneOf"):
        if key in definition:
            return " or ".join(expected(d, kind, plural=plural) for d in definition[key])
    if "enum" in definition:
        return "one of " + ", ".join(shown(v) for v in definition["enum"])
    types = definition.get("type", [])
    names = [types] if isinstance(types, str) else list(types)
    words = [_noun(name, definition, kind, plural) for name in names] or ["a value"]
    return " or ".join(words)


def _noun(name: str, definition: Mapping[str, Any], kind: DocumentKind, plural: bool) -> str:
    if name == "object":
        return kind.table[2:] + "s" if plural else kind.table
    one, many = _NOUNS.get(name, ("a value", "values"))
    if name == "string" and definition.get("minLength"):
        one, many = "a non-empty string", "non-empty strings"
    if name == "array" and isinstance(definition.get("items"), Mapping):
        items = expected(definition["items"], kind, plural=True)
        one, many = f"a list of {items}", f"lists of {items}"
    if name == "integer" and "minimum" in definition:
        low, high = definition["minimum"], definition.get("maximum")
        bounds = f" from {low:,} to {high:,}" if high is not None else f" of at least {low:,}"
        one, many = one + bounds, many + bounds
    return many if plural else one


def _problem(error: Any, kind: DocumentKind) -> tuple[str, str | None]:
    """The message after the key path, and a hint when the rule has a better one."""
    rule, definition, value = error.rule, error.definition, error.value
    if rule == "additionalProperties" and isinstance(value, Mapping):
        known = sorted(definition.get("properties", {}))
        unknown = sorted(k for k in value if k not in known)
        return _unknown_key(unknown[0] if unknown else "?", known, kind.unknown)
    if rule == "required" and isinstance(value, Mapping):
        missing = [k for k in definition.get("required", []) if k not in value]
        return f"missing key {shown(missing[0] if missing else '?')}", None
    if rule == "maxLength" and isinstance(value, str):
        limit = error.rule_definition
        return f"expected at most {limit:,} characters, got {len(value):,}", None
    if rule == "maxItems" and isinstance(value, list):
        limit = error.rule_definition
        return f"expected at most {limit:,} entries, got {len(value):,}", None
    if rule == "minItems":
        return f"expected at least {error.rule_definition} entries, got {shown(value)}", None
    return f"expected {expected(definition, kind)}, got {shown(value)}", None


def _unknown_key(key: str, known: Sequence[str], noun: str) -> tuple[str, str]:
    close = difflib.get_close_matches(key, list(known), n=1)
    suggestion = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown {noun} {key!r}", f"{suggestion}known {noun}s: {', '.join(known)}"
