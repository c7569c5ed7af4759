"""The three checks, applied from a proof spec: ``execution`` (status, FunctionError, response
assertions), ``artifacts`` (each declared object in S3: present, typed, big enough, parses, and
as the response reported it) and ``logs`` (each pattern appears).

Shared by publish-and-invoke (Lambda), invoke-local (the sandbox) and fan-out runs.
"""

from __future__ import annotations

import base64
import csv
import fnmatch
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from layerforge.proof.report import Check, Outcome, ProofReport
from layerforge.proof.spec import (
    ArtifactSpec,
    Assertion,
    ProofSpec,
    Templates,
    as_number,
    is_missing,
    lookup,
)

__all__ = ["check_all", "check_artifacts", "check_execution", "check_logs"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_HEAD_BYTES = 1 << 20
_MAX_JSON_BYTES = 64 << 20


def _at_least(found: Any, expected: Any) -> bool:
    number, bound = _number(found), as_number(expected)
    return number is not None and bound is not None and number >= bound


def _at_most(found: Any, expected: Any) -> bool:
    number, bound = _number(found), as_number(expected)
    return number is not None and bound is not None and number <= bound


def _length_at_least(found: Any, expected: Any) -> bool:
    bound = as_number(expected)
    return hasattr(found, "__len__") and bound is not None and len(found) >= bound


def _matches(found: Any, expected: Any) -> bool:
    return isinstance(found, str) and re.search(str(expected), found) is not None


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "exists": lambda _found, _expected: True,
    "equals": lambda found, expected: bool(found == expected),
    "not_equals": lambda found, expected: bool(found != expected),
    "matches": _matches,
    "one_of": lambda found, expected: found in expected,
    "at_least": _at_least,
    "at_most": _at_most,
    "length_at_least": _length_at_least,
}


def _holds(assertion: Assertion, document: Any, templates: Templates) -> str | None:
    """None when the assertion holds, else what was found."""
    found = lookup(document, assertion.path)
    expected = assertion.expected
    if isinstance(expected, str):
        expected = templates.expand(expected, regex=assertion.operator == "matches")
    if assertion.operator == "absent":
        return None if is_missing(found) else f"found {json.dumps(found, default=str)[:120]}"
    if is_missing(found):
        return "absent"
    if _COMPARISONS[assertion.operator](found, expected):
        return None
    return f"found {json.dumps(found, default=str)[:120]}"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


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
    for assertion in spec.assertions if not outcome.function_error else ():
        found = _holds(assertion, outcome.payload, templates)
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


def _read_body(stream: Any) -> _Body:
    digest = hashlib.sha256()
    head, tail, size = b"", b"", 0
    whole: bytearray | None = bytearray()
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
    except (UnicodeDecodeError, ValueError, csv.Error) as exc:
        return f"does not parse as {parser}: {exc}"
    return None


def _keys(s3: Any, bucket: str, prefix: str, artifact: ArtifactSpec) -> list[str]:
    if artifact.name:
        return [f"{prefix}/{artifact.name}" if prefix else artifact.name]
    found = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=f"{prefix}/" if prefix else ""):
        for item in page.get("Contents", []):
            relative = str(item["Key"])[len(prefix) + 1 if prefix else 0 :]
            if fnmatch.fnmatchcase(relative, artifact.glob or ""):
                found.append(str(item["Key"]))
    return sorted(found)


def _reported(response: Any, artifact: ArtifactSpec, key: str) -> dict[str, Any] | None:
    if not artifact.reported_in:
        return None
    listed = lookup(response, artifact.reported_in)
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
    body = _read_body(stored["Body"])
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
    scopes = [templates.expand(scope) for scope in spec.write]
    found: list[dict[str, Any]] = []
    problems: list[str] = []
    for artifact in spec.artifacts:
        if failed and _needs_response(artifact):
            where = artifact.prefix if "{response." in artifact.prefix else artifact.bucket
            problems.append(f"{artifact.label}: no response ({failed}), so {where} is unknown")
            continue
        bucket = templates.expand(artifact.bucket)
        prefix = templates.expand(artifact.prefix).strip("/")
        try:
            keys = _keys(s3, bucket, prefix, artifact)
        except botocore.exceptions.ClientError as exc:
            problems.append(f"{artifact.label}: cannot list s3://{bucket}/{prefix}/ ({exc})")
            continue
        if not keys:
            problems.append(f"{artifact.label}: nothing under s3://{bucket}/{prefix}/ matches")
        elif artifact.count is not None and len(keys) != as_number(
            templates.expand(artifact.count)
        ):
            problems.append(
                f"{artifact.label}: {len(keys)} objects under s3://{bucket}/{prefix}/ match, "
                f"not {templates.expand(artifact.count)}"
            )
        for key in keys:
            if not _within(bucket, key, scopes):
                problems.append(f"{key}: outside the prefixes the function may write")
                continue
            record, issues = _verify_object(s3, bucket, key, artifact, templates)
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
    for pattern in spec.log_patterns:
        expanded = re.compile(templates.expand(pattern, regex=True))
        count = sum(1 for line in lines if expanded.search(line))
        (matched if count else missing).append(f"{pattern!r}" + (f" x{count}" if count else ""))
    if missing:
        return Check("logs", False, "no log line matches " + ", ".join(missing))
    return Check("logs", True, "log lines match " + ", ".join(matched))


def check_all(outcome: Outcome, s3: Any, spec: ProofSpec, templates: Templates) -> ProofReport:
    """All three checks; the artifact check reads S3 with the caller's credentials."""
    templates = Templates(templates.values, templates.event, outcome.payload)
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
