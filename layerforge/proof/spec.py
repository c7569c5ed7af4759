"""The proof spec: what success means for one function, as data.

It declares the response (JSON path assertions), the artifacts the function must write (where,
named or globbed, content type, minimum size, parser), the log lines that must appear, and the
S3 prefixes the function may read and write (the role follows them). Values may use templates:
``{bucket}``, ``{prefix}``, ``{function}``, ``{region}``, ``{run}``, ``{event.<path>}`` and
``{response.<path>}``. It comes from ``[tool.layerforge.proof]``, a TOML or JSON file given with
``--proof``, or the bundled ``analytics_payload`` spec.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from layerforge.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "NUMERIC_OPERATORS",
    "PARSERS",
    "ArtifactSpec",
    "Assertion",
    "InputObject",
    "ProofSpec",
    "Templates",
    "as_number",
    "bundled_spec",
    "load_proof_spec",
    "lookup",
]

PARSERS = ("csv", "json", "png", "parquet", "text", "none")
_OPERATORS = (
    "equals",
    "not_equals",
    "matches",
    "at_least",
    "at_most",
    "exists",
    "absent",
    "length_at_least",
    "one_of",
)
NUMERIC_OPERATORS = ("at_least", "at_most", "length_at_least")
_TEMPLATE = re.compile(r"\{([a-z_]+(?:\.[A-Za-z0-9_.-]+)?)\}")
_MISSING = object()


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


@dataclass(frozen=True)
class Templates:
    """The values templates expand to for one run."""

    values: Mapping[str, str]
    event: Any = None
    response: Any = None

    def expand(self, text: str, *, regex: bool = False) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            root, _, rest = name.partition(".")
            if root in ("event", "response") and rest:
                found = lookup(self.event if root == "event" else self.response, rest)
                value = "" if is_missing(found) else str(found)
            elif name in self.values:
                value = str(self.values[name])
            else:
                return match.group(0)
            return re.escape(value) if regex else value

        return _TEMPLATE.sub(one, text)


@dataclass(frozen=True)
class Assertion:
    path: str
    operator: str
    expected: Any = None

    def describe(self) -> str:
        shown = "" if self.operator in ("exists", "absent") else f" {json.dumps(self.expected)}"
        return f"{self.path} {self.operator}{shown}"


@dataclass(frozen=True)
class ArtifactSpec:
    """One object the function must have written."""

    name: str | None = None
    glob: str | None = None
    bucket: str = "{bucket}"
    prefix: str = "{prefix}"
    content_type: str | None = None
    min_bytes: int = 1
    parser: str = "none"
    reported_in: str | None = None  # where the response lists it with bytes and sha256
    count: str | None = None  # a glob must match exactly this many (a number or a template)

    @property
    def label(self) -> str:
        return self.name or self.glob or "?"


@dataclass(frozen=True)
class InputObject:
    """A local file the run uploads before invoking (the function's input)."""

    file: Path
    key: str
    bucket: str = "{bucket}"


@dataclass(frozen=True)
class ProofSpec:
    """What success means for one function (see the module's docstring)."""

    assertions: tuple[Assertion, ...] = ()
    artifacts: tuple[ArtifactSpec, ...] = ()
    log_patterns: tuple[str, ...] = ()
    write: tuple[str, ...] = ("{bucket}/{prefix}/",)
    read: tuple[str, ...] = ()
    inputs: tuple[InputObject, ...] = ()
    source: str = "default (execution only)"
    notes: tuple[str, ...] = field(default=(), compare=False)


def _fail(source: str, where: str, problem: str) -> UsageError:
    return UsageError(
        f"proof spec {source}: {where}: {problem}",
        hint="see the README's 'Your own project' section for the proof spec",
    )


def _assertion(source: str, index: int, raw: Any) -> Assertion:
    where = f"response.assert[{index}]"
    if not isinstance(raw, dict) or not isinstance(raw.get("path"), str):
        raise _fail(source, where, "each assertion is a table with a 'path'")
    operators = [key for key in raw if key != "path"]
    if len(operators) != 1 or operators[0] not in _OPERATORS:
        raise _fail(source, where, f"give exactly one of: {', '.join(_OPERATORS)}")
    operator = operators[0]
    expected = raw[operator]
    if operator in NUMERIC_OPERATORS and not _numeric_or_template(expected):
        raise _fail(source, where, f"{operator} needs a number (or a template such as {{shards}})")
    if operator == "matches":
        try:
            re.compile(str(expected))
        except re.error as exc:
            raise _fail(source, where, f"not a regular expression: {exc}") from None
    if operator == "one_of" and not isinstance(expected, list):
        raise _fail(source, where, "one_of needs a list")
    return Assertion(raw["path"], operator, expected)


def _numeric_or_template(value: Any) -> bool:
    if isinstance(value, str):
        return _TEMPLATE.fullmatch(value) is not None
    return not isinstance(value, bool) and isinstance(value, (int, float))


def as_number(value: Any) -> float | None:
    """A number, or the number an expanded template spells; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _artifact(source: str, index: int, raw: Any) -> ArtifactSpec:
    where = f"artifacts[{index}]"
    if not isinstance(raw, dict):
        raise _fail(source, where, "each artifact is a table")
    known = {
        "name",
        "glob",
        "bucket",
        "prefix",
        "content_type",
        "min_bytes",
        "parser",
        "reported_in",
        "count",
    }
    unknown = set(raw) - known
    if unknown:
        raise _fail(source, where, f"unknown keys {sorted(unknown)} (known: {sorted(known)})")
    if bool(raw.get("name")) == bool(raw.get("glob")):
        raise _fail(source, where, "give exactly one of 'name' and 'glob'")
    for key in ("name", "glob", "bucket", "prefix", "content_type", "reported_in"):
        if key in raw and not isinstance(raw[key], str):
            raise _fail(source, where, f"{key} must be a string")
    min_bytes = raw.get("min_bytes", 1)
    if isinstance(min_bytes, bool) or not isinstance(min_bytes, int) or min_bytes < 0:
        raise _fail(source, where, "min_bytes must be a whole number of bytes")
    count = raw.get("count")
    if count is not None and (not raw.get("glob") or not _numeric_or_template(count)):
        raise _fail(source, where, "count (a number or template) goes with a glob")
    parser = raw.get("parser", "none")
    if parser not in PARSERS:
        raise _fail(source, where, f"parser must be one of {', '.join(PARSERS)}")
    return ArtifactSpec(
        name=raw.get("name"),
        glob=raw.get("glob"),
        bucket=raw.get("bucket", "{bucket}"),
        prefix=raw.get("prefix", "{prefix}"),
        content_type=raw.get("content_type"),
        min_bytes=min_bytes,
        parser=parser,
        reported_in=raw.get("reported_in"),
        count=None if count is None else str(count),
    )


def _strings(source: str, where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(source, where, "must be a list of strings")
    return tuple(value)


def _input(source: str, index: int, raw: Any, base: Path) -> InputObject:
    where = f"inputs[{index}]"
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("file"), str)
        or not isinstance(raw.get("key"), str)
    ):
        raise _fail(source, where, "each input is a table with 'file' and 'key' strings")
    path = Path(raw["file"])
    path = path if path.is_absolute() else base / path
    if not path.is_file():
        raise _fail(source, where, f"no such file: {path}")
    return InputObject(path, raw["key"].strip("/"), str(raw.get("bucket", "{bucket}")))


def parse_proof_spec(data: Mapping[str, Any], source: str, base: Path | None = None) -> ProofSpec:
    """A ProofSpec from its table form; every problem names the key. Input files are relative
    to ``base`` (the folder of the file the spec came from)."""
    unknown = set(data) - {"response", "artifacts", "logs", "access", "inputs"}
    if unknown:
        raise _fail(
            source,
            "top level",
            f"unknown keys {sorted(unknown)} (known: response, artifacts, logs, access, inputs)",
        )
    response = data.get("response", {})
    logs = data.get("logs", {})
    access = data.get("access", {})
    for name, table in (("response", response), ("logs", logs), ("access", access)):
        if not isinstance(table, dict):
            raise _fail(source, name, "must be a table")
    raw_assertions = response.get("assert", [])
    raw_artifacts = data.get("artifacts", [])
    raw_inputs = data.get("inputs", [])
    if not isinstance(raw_inputs, list):
        raise _fail(source, "inputs", "must be a list (an array of tables)")
    if not isinstance(raw_assertions, list) or not isinstance(raw_artifacts, list):
        raise _fail(source, "response.assert / artifacts", "must be lists (arrays of tables)")
    patterns = _strings(source, "logs.patterns", logs.get("patterns", []))
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise _fail(source, "logs.patterns", f"{pattern!r} is not a regex: {exc}") from None
    return ProofSpec(
        assertions=tuple(_assertion(source, i, a) for i, a in enumerate(raw_assertions)),
        artifacts=tuple(_artifact(source, i, a) for i, a in enumerate(raw_artifacts)),
        log_patterns=patterns,
        write=_strings(source, "access.write", access.get("write", ["{bucket}/{prefix}/"])),
        read=_strings(source, "access.read", access.get("read", [])),
        inputs=tuple(
            _input(source, i, raw, base or Path.cwd()) for i, raw in enumerate(raw_inputs)
        ),
        source=source,
    )


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read proof spec {path}: {exc}", hint="check --proof") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"proof spec {path} does not parse: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"proof spec {path} must be a table (a JSON object)")
    nested = data.get("tool", {}).get("layerforge", {}).get("proof") if "tool" in data else None
    return nested if isinstance(nested, dict) else data


def load_proof_spec(path: Path) -> ProofSpec:
    """A spec file: TOML (top-level tables, or a pyproject's [tool.layerforge.proof]) or JSON."""
    return parse_proof_spec(_read_file(path), str(path), path.resolve().parent)


def bundled_spec(name: str = "proof.toml") -> ProofSpec:
    """What success means for the bundled analytics_payload function (``proof-fanout.toml``
    for a fan-out run)."""
    text = resources.files("analytics_payload").joinpath(name).read_text("utf-8")
    return parse_proof_spec(tomllib.loads(text), f"analytics_payload/{name}")
