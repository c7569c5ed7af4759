"""The three checks, applied from a proof spec: ``execution`` (status, FunctionError, response
assertions), ``artifacts`` (each declared object in S3: present, typed, big enough, parses, and
as the response reported it) and ``logs`` (each pattern appears).

Shared by publish-and-invoke (Lambda), invoke-local (the sandbox) and fan-out runs. Each prefix
the artifacts name is listed once (names and globs are matched against that listing), and the
objects are read a few at a time; every pattern is bounded (``layerforge.proof.patterns``).
"""

from __future__ import annotations

import base64
import csv
import fnmatch
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import botocore.exceptions

from layerforge.errors import UsageError
from layerforge.proof.patterns import Search, count_matches, too_slow
from layerforge.proof.report import Check, Outcome, ProofReport
from layerforge.proof.scopes import access_of
from layerforge.proof.spec import ArtifactSpec, Assertion, ProofSpec, as_number
from layerforge.proof.templates import NO_RESPONSE, TemplateError, Templates, is_missing, lookup

__all__ = ["MAX_LISTED_KEYS", "check_all", "check_artifacts", "check_execution", "check_logs"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_HEAD_BYTES = 1 << 20
_MAX_JSON_BYTES = 64 << 20
#: Keys one prefix's listing may hold before a glob under it is refused (README).
MAX_LISTED_KEYS = 100_000
#: Objects read at once (boto3's clients are thread-safe).
_READERS = 8
_S3_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)


def _at_least(found: Any, expected: Any) -> bool:
    number, bound = _number(found), as_number(expected)
    return number is not None and bound is not None and number >= bound


def _at_most(found: Any, expected: Any) -> bool:
    number, bound = _number(found), as_number(expected)
    return number is not None and bound is not None and number <= bound


def _length_at_least(found: Any, expected: Any) -> bool:
    bound = as_number(expected)
    return hasattr(found, "__len__") and bound is not None and len(found) >= bound


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "exists": lambda _found, _expected: True,
    "equals": lambda found, expected: bool(found == expected),
    "not_equals": lambda found, expected: bool(found != expected),
    "one_of": lambda found, expected: found in expected,
    "at_least": _at_least,
    "at_most": _at_most,
    "length_at_least": _length_at_least,
}


def _shown(found: Any) -> str:
    return f"found {json.dumps(found, default=str)[:120]}"


def _holds(assertion: Assertion, document: Any, templates: Templates) -> str | None:
    """None when the assertion holds, else what was found (``matches`` is judged apart)."""
    found = lookup(document, assertion.path)
    expected = assertion.expected
    if isinstance(expected, str):
        expected = templates.expand(expected)
    if assertion.operator == "absent":
        return None if is_missing(found) else _shown(found)
    if is_missing(found):
        return "absent"
    return None if _COMPARISONS[assertion.operator](found, expected) else _shown(found)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _matches(
    assertions: Sequence[Assertion], document: Any, templates: Templates
) -> dict[int, str | None]:
    """The ``matches`` assertions, all searched in one bounded batch: index -> problem."""
    problems: dict[int, str | None] = {}
    searches: dict[int, Search] = {}
    for index, assertion in enumerate(assertions):
        if assertion.operator != "matches":
            continue
        found = lookup(document, assertion.path)
        try:
            pattern = templates.expand(str(assertion.expected), regex=True)
        except TemplateError as missing:
            problems[index] = str(missing)
            continue
        if is_missing(found):
            problems[index] = "absent"
        elif not isinstance(found, str):
            problems[index] = _shown(found)
        else:
            searches[index] = Search(pattern, [found])
    counts = count_matches(list(searches.values()))
    for index, count in zip(searches, counts, strict=True):
        if count is None:
            problems[index] = too_slow()
        else:
            problems[index] = None if count else _shown(searches[index].texts[0])
    return problems


def check_execution(outcome: Outcome, spec: ProofSpec, templates: Templates) -> Check:
    problems = []
    if outcome.status_code != 200:
        problems.append(f"status {outcome.status_code}")
    if outcome.function_error:
        detail = outcome.payload.get("errorMessage") if isinstance(outcome.payload, dict) else None
        problems.append(
            f"FunctionError {outcome.function_error}" + (f": {detail}" if detail else "")
        )
    if outcome.function_error and spec.assertions:
        problems.append(f"the {len(spec.assertions)} response assertions were not evaluated")
    assertions = spec.assertions if not outcome.function_error else ()
    matched = _matches(assertions, outcome.payload, templates)
    for index, assertion in enumerate(assertions):
        try:
            found = (
                matched[index]
                if index in matched
                else _holds(assertion, outcome.payload, templates)
            )
        except TemplateError as missing:
            found = str(missing)
        if found is not None:
            problems.append(f"response {assertion.describe()}: {found}")
    if problems:
        return Check("execution", False, "; ".join(problems))
    held = f"; {len(spec.assertions)} response assertions hold" if spec.assertions else ""
    return Check("execution", True, f"status 200, no FunctionError{held}")


# -- artifacts --------------------------------------------------------------------------------


@dataclass
class _Body:
    size: int
    sha256: str
    head: bytes
    tail: bytes
    whole: bytes | None


def _read_body(stream: Any, *, keep: bool) -> _Body:
    """Size, sha256, the first MiB and the last bytes; the whole body too with ``keep`` (for
    the JSON parser), up to 64 MiB."""
    digest = hashlib.sha256()
    head, tail, size = b"", b"", 0
    whole: bytearray | None = bytearray() if keep else None
    for chunk in iter(lambda: stream.read(1 << 20), b""):
        digest.update(chunk)
        size += len(chunk)
        if len(head) < _HEAD_BYTES:
            head += chunk[: _HEAD_BYTES - len(head)]
        tail = (tail + chunk)[-8:]
        if whole is not None:
            whole += chunk
            if len(whole) > _MAX_JSON_BYTES:
                whole = None
    return _Body(size, digest.hexdigest(), head, tail, bytes(whole) if whole is not None else None)


def _parse_problem(parser: str, body: _Body) -> str | None:
    try:
        if parser == "csv":
            text = body.head.decode("utf-8", "strict" if body.size <= _HEAD_BYTES else "ignore")
            lines = text.splitlines()[: 50 if body.size > _HEAD_BYTES else None]
            rows = [row for row in csv.reader(lines) if row]
            return None if len(rows) > 1 else "CSV has no data rows"
        if parser == "json":
            if body.whole is None:
                return "too large to parse as JSON"
            json.loads(body.whole)
        elif parser == "png":
            if not body.head.startswith(PNG_SIGNATURE) or body.head[12:16] != b"IHDR":
                return "not a PNG (bad signature)"
        elif parser == "parquet":
            if not (body.head.startswith(b"PAR1") and body.tail.endswith(b"PAR1")):
                return "not a Parquet file (no PAR1 magic)"
        elif parser == "text":
            body.head.decode("utf-8")
    except (UnicodeDecodeError, ValueError, RecursionError, csv.Error) as exc:
        return f"does not parse as {parser}: {exc}"
    return None


@dataclass
class _Listing:
    """The keys under one prefix, from one paginated listing (``complete`` unless capped)."""

    keys: list[str] = field(default_factory=list)
    complete: bool = True
    error: str | None = None

    def __contains__(self, key: str) -> bool:
        if len(self.__dict__.setdefault("_set", set())) != len(self.keys):
            self.__dict__["_set"] = set(self.keys)
        return key in self.__dict__["_set"]


def _list(s3: Any, bucket: str, prefix: str) -> _Listing:
    listing = _Listing()
    try:
        paginator = s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=f"{prefix}/" if prefix else ""):
            listing.keys += [str(item["Key"]) for item in page.get("Contents", [])]
            if len(listing.keys) > MAX_LISTED_KEYS:
                listing.complete = False
                break
    except _S3_ERRORS as exc:
        listing.error = str(exc)
    return listing


@dataclass(frozen=True)
class _Target:
    """Where one artifact is looked for, its templates expanded."""

    artifact: ArtifactSpec
    bucket: str
    prefix: str

    @property
    def place(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}/" if self.prefix else f"s3://{self.bucket}/"

    def key_of(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name


def _targets(
    spec: ProofSpec, templates: Templates, problems: list[str], failed: str | None = None
) -> list[_Target]:
    targets = []
    for artifact in spec.artifacts:
        if failed and _needs_response(artifact):
            where = artifact.prefix if "{response." in artifact.prefix else artifact.bucket
            problems.append(f"{artifact.label}: no response ({failed}), so {where} is unknown")
            continue
        try:
            bucket = templates.expand(artifact.bucket)
            prefix = templates.expand(artifact.prefix).strip("/")
            name = templates.expand(artifact.name) if artifact.name else None
            glob = templates.expand(artifact.glob) if artifact.glob else None
        except TemplateError as missing:
            problems.append(f"{artifact.label}: {missing}")
            continue
        targets.append(_Target(replace(artifact, name=name, glob=glob), bucket, prefix))
    return targets


def _named(target: _Target, listing: _Listing) -> tuple[list[str], str]:
    """A named artifact: in the listing (or, when the listing failed or was capped, read
    directly: its absence is then what reading it says)."""
    key = target.key_of(target.artifact.name or "")
    if listing.error is not None or not listing.complete or key in listing:
        return [key], ""
    return [], f"{key}: not in {target.place}"


def _globbed(target: _Target, listing: _Listing, templates: Templates) -> tuple[list[str], str]:
    """A globbed artifact: the listed keys it matches, as many as its count says."""
    artifact = target.artifact
    if listing.error or not listing.complete:
        why = listing.error or f"over {MAX_LISTED_KEYS:,} objects there; give a narrower prefix"
        return [], f"{artifact.label}: cannot list {target.place} ({why})"
    skip = len(target.prefix) + 1 if target.prefix else 0
    keys = sorted(k for k in listing.keys if fnmatch.fnmatchcase(k[skip:], artifact.glob or ""))
    if not keys:
        return [], f"{artifact.label}: nothing under {target.place} matches"
    if artifact.count is None:
        return keys, ""
    try:
        wanted = templates.expand(artifact.count)
    except TemplateError as missing:
        return keys, f"{artifact.label}: {missing}"
    if len(keys) != as_number(wanted):
        return (
            keys,
            f"{artifact.label}: {len(keys)} objects under {target.place} match, not {wanted}",
        )
    return keys, ""


def _reported(response: Any, artifact: ArtifactSpec, key: str) -> dict[str, Any] | None:
    if not artifact.reported_in:
        return None
    listed = lookup(None if response is NO_RESPONSE else response, artifact.reported_in)
    if not isinstance(listed, list):
        return {}
    name = key.rsplit("/", 1)[-1]
    for entry in listed:
        if isinstance(entry, dict) and (entry.get("key") == key or entry.get("name") == name):
            return entry
    return {}


def _within(bucket: str, key: str, scopes: Sequence[str]) -> bool:
    return any(f"{bucket}/{key}".startswith(scope) for scope in scopes)


def _verify_object(
    s3: Any, bucket: str, key: str, artifact: ArtifactSpec, templates: Templates
) -> tuple[dict[str, Any], list[str]]:
    try:
        stored = s3.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "missing")
        return {"bucket": bucket, "key": key}, [f"{key}: {code}"]
    except botocore.exceptions.BotoCoreError as exc:
        return {"bucket": bucket, "key": key}, [f"{key}: cannot read it ({exc})"]
    body = _read_body(stored["Body"], keep=artifact.parser == "json")
    found = {
        "bucket": bucket,
        "key": key,
        "bytes": body.size,
        "sha256": body.sha256,
        "content_type": stored.get("ContentType"),
    }
    problems = []
    if body.size < artifact.min_bytes:
        problems.append(f"{key}: {body.size} bytes, fewer than {artifact.min_bytes}")
    if artifact.content_type and stored.get("ContentType") != artifact.content_type:
        problems.append(
            f"{key}: content type {stored.get('ContentType')!r}, not {artifact.content_type!r}"
        )
    checksum = stored.get("ChecksumSHA256")
    if checksum and "-" not in checksum and base64.b64decode(checksum).hex() != body.sha256:
        problems.append(f"{key}: S3's SHA-256 checksum does not match the content")
    reported = _reported(templates.response, artifact, key)
    if reported is not None and (
        reported.get("bytes") != body.size or reported.get("sha256") != body.sha256
    ):
        problems.append(
            f"{key}: size/sha256 differ from what the function reported"
            if reported
            else f"{key}: not reported by the function"
        )
    parse = _parse_problem(artifact.parser, body)
    if parse:
        problems.append(f"{key}: {parse}")
    return found, problems


def _read_all(
    s3: Any, jobs: list[tuple[str, str, ArtifactSpec]], templates: Templates
) -> Iterator[tuple[dict[str, Any], list[str]]]:
    """Each (bucket, key, artifact) verified, a few at a time, in the order given."""
    pool = ThreadPoolExecutor(min(_READERS, max(1, len(jobs))), "layerforge-artifact")
    try:
        yield from pool.map(lambda job: _verify_object(s3, job[0], job[1], job[2], templates), jobs)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _needs_response(artifact: ArtifactSpec) -> bool:
    """Whether the artifact is found where the function's response says ({response.<path>})."""
    return any("{response." in where for where in (artifact.bucket, artifact.prefix))


def check_artifacts(
    s3: Any, spec: ProofSpec, templates: Templates, *, failed: str | None = None
) -> tuple[Check, list[dict[str, Any]]]:
    """Each declared artifact; ``failed`` says why there is no response (a FunctionError, a
    timeout), so an artifact located by the response is reported as such, not looked for."""
    if not spec.artifacts:
        return Check("artifacts", True, "the proof spec declares no artifacts"), []
    problems: list[str] = []
    try:
        scopes = access_of(spec.read, spec.write, templates).write
    except UsageError as unfit:
        return Check("artifacts", False, unfit.message), []
    targets = _targets(spec, templates, problems, failed)
    listings: dict[tuple[str, str], _Listing] = {}
    jobs: list[tuple[str, str, ArtifactSpec]] = []
    for target in targets:
        where = (target.bucket, target.prefix)
        if where not in listings:
            listings[where] = _list(s3, target.bucket, target.prefix)
        listing = listings[where]
        keys, problem = (
            _named(target, listing)
            if target.artifact.name
            else _globbed(target, listing, templates)
        )
        if problem:
            problems.append(problem)
        for key in keys:
            if not _within(target.bucket, key, scopes):
                problems.append(f"{key}: outside the prefixes the function may write")
            else:
                jobs.append((target.bucket, key, target.artifact))
    found: list[dict[str, Any]] = []
    for record, issues in _read_all(s3, jobs, templates):
        found.append(record)
        problems += issues
    if problems:
        return Check("artifacts", False, "; ".join(problems)), found
    listed = ", ".join(f"{a['key']} ({a['bytes']:,} B)" for a in found)
    return Check("artifacts", True, f"{listed}; present, typed, parse, as reported"), found


def check_logs(lines: Sequence[str], spec: ProofSpec, templates: Templates) -> Check:
    if not spec.log_patterns:
        return Check("logs", True, "the proof spec declares no log patterns")
    missing: list[str] = []
    matched: list[str] = []
    searches: list[tuple[str, Search]] = []
    for pattern in spec.log_patterns:
        try:
            searches.append((pattern, Search(templates.expand(pattern, regex=True), lines)))
        except TemplateError as unfilled:
            missing.append(f"{pattern!r} ({unfilled})")
    counts = count_matches([search for _, search in searches])
    for (pattern, _), count in zip(searches, counts, strict=True):
        if count is None:
            missing.append(f"{pattern!r} ({too_slow()})")
        else:
            (matched if count else missing).append(f"{pattern!r}" + (f" x{count}" if count else ""))
    if missing:
        return Check("logs", False, "no log line matches " + ", ".join(missing))
    return Check("logs", True, "log lines match " + ", ".join(matched))


def check_all(outcome: Outcome, s3: Any, spec: ProofSpec, templates: Templates) -> ProofReport:
    """All three checks; the artifact check reads S3 with the caller's credentials. A failed
    invocation has no response: templates naming one say so, and artifacts found where the
    response would say are reported as such, not looked for."""
    response = NO_RESPONSE if outcome.function_error else outcome.payload
    templates = Templates(templates.values, templates.event, response)
    failed = (
        f"FunctionError {outcome.function_error}"
        if outcome.function_error
        else (f"status {outcome.status_code}" if outcome.status_code != 200 else None)
    )
    artifacts_check, artifacts = check_artifacts(s3, spec, templates, failed=failed)
    return ProofReport(
        checks=[
            check_execution(outcome, spec, templates),
            artifacts_check,
            check_logs(outcome.log_lines, spec, templates),
        ],
        artifacts=artifacts,
        log_lines=list(outcome.log_lines),
    )
