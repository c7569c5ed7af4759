"""The proof spec: what success means for one function, as data.

It declares the response (JSON path assertions), the artifacts the function must write (where,
named or globbed, content type, minimum size, parser), the log lines that must appear, the
S3 prefixes the function may read and write (the role follows them) and the local files
uploaded first. Values may use templates (``layerforge.proof.templates``). It comes from
``[tool.layerforge.proof]``, a TOML or JSON file given with ``--proof``, or the bundled
``analytics_payload`` spec.

Reading one is two steps: the document against ``data/proof-spec.schema.json`` (types, keys,
limits: ``layerforge.proof.schema``), then what a schema cannot say: templates that exist,
regular expressions that compile, access scopes fit for a policy, input files inside the spec's
folder. Every problem is a usage error naming its key path.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from layerforge.errors import UsageError
from layerforge.proof.patterns import compile_problem
from layerforge.proof.schema import schema_problem
from layerforge.proof.scopes import SCOPE_HINT, check_scope_as_written
from layerforge.proof.templates import (
    TEMPLATE,
    Templates,
    is_missing,
    lookup,
    template_names,
    unknown_template,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "MAX_ARTIFACTS",
    "NUMERIC_OPERATORS",
    "PARSERS",
    "ArtifactSpec",
    "Assertion",
    "InputObject",
    "ProofSpec",
    "Templates",
    "as_number",
    "bundled_spec",
    "is_missing",
    "key_problem",
    "load_proof_spec",
    "lookup",
    "parse_proof_spec",
]

PARSERS = ("csv", "json", "png", "parquet", "text", "none")
NUMERIC_OPERATORS = ("at_least", "at_most", "length_at_least")
#: Artifact entries one spec may declare (the schema's maxItems; README).
MAX_ARTIFACTS = 1000
_HINT = "see the README's 'Your own project' section for the proof spec"
_MAX_SPEC_BYTES = 16 << 20  # 1,000 artifacts take some 100 KB


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


class _Reader:
    """Turns one validated document into a ProofSpec; every problem names its key path."""

    def __init__(self, source: str, root: str, base: Path) -> None:
        self.source, self.root, self.base = source, root, base

    def fail(self, where: str, problem: str, hint: str = _HINT) -> UsageError:
        path = f"{self.root}.{where}" if self.root and where else (self.root or where)
        return UsageError(f"proof spec {self.source}: {path or 'top level'}: {problem}", hint=hint)

    def templates(self, where: str, value: Any, *, response: bool = True) -> None:
        """Every template in ``value`` (when it is a string: the values templates expand in)
        is one a run can have there."""
        for name in template_names(value) if isinstance(value, str) else ():
            problem = unknown_template(name, response=response)
            if problem:
                raise self.fail(where, problem)

    def pattern(self, where: str, pattern: str) -> str:
        self.templates(where, pattern)
        problem = compile_problem(pattern)
        if problem:
            raise self.fail(where, problem)
        return pattern

    def assertion(self, index: int, raw: dict[str, Any]) -> Assertion:
        where = f"response.assert[{index}]"
        operator = next(key for key in raw if key != "path")
        expected = raw[operator]
        self.templates(f"{where}.{operator}", expected)
        if operator == "matches":
            self.pattern(f"{where}.matches", expected)
        return Assertion(raw["path"], operator, expected)

    def artifact(self, index: int, raw: dict[str, Any]) -> ArtifactSpec:
        where = f"artifacts[{index}]"
        for key in ("name", "glob", "bucket", "prefix", "count"):
            self.templates(f"{where}.{key}", raw.get(key))
        count = raw.get("count")
        return ArtifactSpec(
            name=raw.get("name"),
            glob=raw.get("glob"),
            bucket=raw.get("bucket", "{bucket}"),
            prefix=raw.get("prefix", "{prefix}"),
            content_type=raw.get("content_type"),
            min_bytes=int(raw.get("min_bytes", 1)),
            parser=raw.get("parser", "none"),
            reported_in=raw.get("reported_in"),
            count=None if count is None else str(count),
        )

    def scopes(self, kind: str, scopes: list[str]) -> tuple[str, ...]:
        for index, scope in enumerate(scopes):
            where = f"access.{kind}[{index}]"
            self.templates(where, scope, response=False)
            problem = check_scope_as_written(scope)
            if problem:
                raise self.fail(where, f"{scope!r}: {problem}", SCOPE_HINT)
        return tuple(scopes)

    def input(self, index: int, raw: dict[str, Any]) -> InputObject:
        where = f"inputs[{index}]"
        for key in ("key", "bucket"):
            self.templates(f"{where}.{key}", raw.get(key), response=False)
        problem = key_problem(TEMPLATE.sub("x", raw["key"]).strip("/"))
        if problem:
            raise self.fail(f"{where}.key", f"{raw['key']!r}: {problem}")
        given = Path(raw["file"])
        path = (given if given.is_absolute() else self.base / given).resolve()
        base = self.base.resolve()
        if not raw.get("allow_outside") and base not in path.parents:
            raise self.fail(
                f"{where}.file",
                f"{raw['file']} is {path}, outside the spec's folder {base}",
                "move the file into that folder, or set allow_outside = true on this input",
            )
        if not path.is_file():
            raise self.fail(f"{where}.file", f"no such file (or not a regular file): {path}")
        return InputObject(path, raw["key"].strip("/"), raw.get("bucket", "{bucket}"))


def key_problem(key: str) -> str | None:
    """What makes ``key`` a poor S3 key for an input (None when it is fine)."""
    if not key:
        return "the key is empty"
    if any(segment in ("", ".", "..") for segment in key.split("/")):
        return "the key has an empty, '.' or '..' segment"
    return None


def parse_proof_spec(
    data: Mapping[str, Any], source: str, base: Path | None = None, *, root: str = ""
) -> ProofSpec:
    """A ProofSpec from its table form; every problem names the key. Input files are relative
    to ``base`` (the folder of the file the spec came from) and must stay inside it. ``root``
    is where the table sits in its file (``tool.layerforge.proof``), for the messages."""
    reader = _Reader(source, root, base or Path.cwd())
    problem = schema_problem({"tool": {"layerforge": {"proof": data}}} if root else data)
    if problem:
        path, message = problem
        raise UsageError(f"proof spec {source}: {path or 'top level'}: {message}", hint=_HINT)
    response, logs, access = (data.get(k, {}) for k in ("response", "logs", "access"))
    return ProofSpec(
        assertions=tuple(reader.assertion(i, a) for i, a in enumerate(response.get("assert", []))),
        artifacts=tuple(reader.artifact(i, a) for i, a in enumerate(data.get("artifacts", []))),
        log_patterns=tuple(
            reader.pattern(f"logs.patterns[{i}]", p) for i, p in enumerate(logs.get("patterns", []))
        ),
        write=reader.scopes("write", access.get("write", ["{bucket}/{prefix}/"])),
        read=reader.scopes("read", access.get("read", [])),
        inputs=tuple(reader.input(i, raw) for i, raw in enumerate(data.get("inputs", []))),
        source=source,
    )


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


def _read_file(path: Path) -> Any:
    try:
        if path.is_file() and path.stat().st_size > _MAX_SPEC_BYTES:
            raise UsageError(
                f"proof spec {path} is over {_MAX_SPEC_BYTES >> 20} MiB: not a proof spec",
                hint="check --proof",
            )
        if path.exists() and not path.is_file():
            raise UsageError(f"proof spec {path} is not a file", hint="check --proof")
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read proof spec {path}: {exc}", hint="check --proof") from None
    try:
        return json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError, RecursionError) as exc:
        raise UsageError(
            f"proof spec {path} does not parse: {exc}", hint="check the file's syntax"
        ) from None


def load_proof_spec(path: Path) -> ProofSpec:
    """A spec file: TOML (top-level tables, or a pyproject's [tool.layerforge.proof]) or JSON."""
    data = _read_file(path)
    problem = schema_problem(data)
    if problem:
        where, message = problem
        raise UsageError(f"proof spec {path}: {where or 'top level'}: {message}", hint=_HINT)
    base = path.resolve().parent
    if "tool" in data:
        table = data["tool"]["layerforge"]["proof"]
        return parse_proof_spec(table, str(path), base, root="tool.layerforge.proof")
    return parse_proof_spec(data, str(path), base)


def bundled_spec(name: str = "proof.toml") -> ProofSpec:
    """What success means for the bundled analytics_payload function (``proof-fanout.toml``
    for a fan-out run)."""
    text = resources.files("analytics_payload").joinpath(name).read_text("utf-8")
    return parse_proof_spec(tomllib.loads(text), f"analytics_payload/{name}")
