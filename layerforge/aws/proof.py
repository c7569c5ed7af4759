"""The proof that the analysis ran: execution success, artifacts in S3, and the logs saying so.

Shared by publish-and-invoke (real Lambda) and invoke-local (the sandbox).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import botocore.exceptions

__all__ = ["ARTIFACTS", "Check", "Outcome", "ProofReport", "check_all"]

ARTIFACTS = ("data.csv", "stats.json", "plot.png")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_RUN_PREFIX = re.compile(r"/\d{8}T\d{6}Z-[0-9a-zA-Z]{1,12}$")


@dataclass(frozen=True)
class Outcome:
    """What an invocation returned, wherever it ran."""

    status_code: int
    function_error: str | None
    payload: Any
    log_lines: list[str]


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    evidence: str


@dataclass
class ProofReport:
    checks: list[Check]
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    log_lines: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            **self.details,
            "artifacts": self.artifacts,
            "checks": [asdict(c) for c in self.checks],
        }


def check_execution(outcome: Outcome) -> Check:
    payload = outcome.payload if isinstance(outcome.payload, dict) else {}
    problems = []
    if outcome.status_code != 200:
        problems.append(f"status {outcome.status_code}")
    if outcome.function_error:
        problems.append(f"FunctionError {outcome.function_error}")
    if payload.get("status") != "ok":
        error = payload.get("error") or payload.get("errorMessage") or outcome.payload
        problems.append(f"function reported: {json.dumps(error)[:300]}")
    if problems:
        return Check("execution", False, "; ".join(problems))
    return Check(
        "execution", True, f"status 200, no FunctionError, request {payload.get('request_id')}"
    )


def _inspect(name: str, body: bytes) -> str | None:
    """Why ``body`` is not a valid ``name``, or None."""
    try:
        if name == "data.csv":
            rows = list(csv.reader(io.StringIO(body.decode("utf-8"))))
            return None if len(rows) > 1 else "CSV has no data rows"
        if name == "stats.json":
            return None if "schema_version" in json.loads(body) else "no schema_version"
        return None if body.startswith(PNG_SIGNATURE) else "not a PNG (bad signature)"
    except (UnicodeDecodeError, ValueError, csv.Error) as exc:
        return f"does not parse: {exc}"


def _verify_artifact(
    s3: Any, bucket: str, reported: dict[str, Any]
) -> tuple[dict[str, Any], str | None]:
    key = reported["key"]
    try:
        stored = s3.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    except botocore.exceptions.ClientError as exc:
        return {"key": key}, f"{key}: {exc.response.get('Error', {}).get('Code', 'missing')}"
    body = stored["Body"].read()
    digest = hashlib.sha256(body).hexdigest()
    found = {
        "key": key,
        "bytes": len(body),
        "sha256": digest,
        "content_type": stored.get("ContentType"),
    }
    if len(body) != reported.get("bytes") or digest != reported.get("sha256"):
        return found, f"{key}: size/sha256 differ from what the function reported"
    s3_checksum = stored.get("ChecksumSHA256")
    if s3_checksum and base64.b64decode(s3_checksum).hex() != digest:
        return found, f"{key}: S3's SHA-256 checksum does not match the content"
    problem = _inspect(key.rsplit("/", 1)[-1], body)
    return found, (f"{key}: {problem}" if problem else None)


def check_artifacts(s3: Any, payload: Any, prefix: str) -> tuple[Check, list[dict[str, Any]]]:
    if not isinstance(payload, dict) or payload.get("status") != "ok":
        return Check("artifacts", False, "the function reported no artifacts"), []
    bucket, run_prefix = payload.get("bucket", ""), str(payload.get("prefix", ""))
    if not run_prefix.startswith(prefix + "/") or not _RUN_PREFIX.search(run_prefix):
        return Check("artifacts", False, f"unexpected prefix {run_prefix!r}"), []
    reported = {a.get("name"): a for a in payload.get("artifacts", [])}
    found, problems = [], []
    for name in ARTIFACTS:
        if name not in reported:
            problems.append(f"{name}: not reported by the function")
            continue
        artifact, problem = _verify_artifact(s3, bucket, reported[name])
        found.append(artifact)
        if problem:
            problems.append(problem)
    if problems:
        return Check("artifacts", False, "; ".join(problems)), found
    evidence = f"s3://{bucket}/{run_prefix}/ holds " + ", ".join(
        f"{a['key'].rsplit('/', 1)[-1]} ({a['bytes']:,} B)" for a in found
    )
    return Check("artifacts", True, evidence + "; sizes and sha256 match, all parse"), found


def _log_events(lines: Sequence[str]) -> list[dict[str, Any]]:
    events = []
    for line in lines:
        start = line.find("{")
        if start < 0:
            continue
        try:
            event = json.loads(line[start:])
        except ValueError:
            continue
        if isinstance(event, dict) and "event" in event:
            events.append(event)
    return events


def check_logs(lines: Sequence[str]) -> Check:
    events = _log_events(lines)
    headless = [e for e in events if e["event"] == "headless"]
    uploaded = sorted({str(e.get("name")) for e in events if e["event"] == "uploaded"})
    problems = []
    if not headless or headless[-1].get("backend") != "agg":
        problems.append("no log line confirms the headless (Agg) backend")
    missing = sorted(set(ARTIFACTS) - set(uploaded))
    if missing:
        problems.append(f"no upload logged for {', '.join(missing)}")
    if problems:
        return Check("logs", False, "; ".join(problems))
    return Check(
        "logs", True, f"backend agg (DISPLAY unset); uploads logged: {', '.join(uploaded)}"
    )


def check_all(outcome: Outcome, s3: Any, prefix: str) -> ProofReport:
    """All three checks; the artifact check reads S3 with the caller's credentials."""
    artifacts_check, artifacts = check_artifacts(s3, outcome.payload, prefix)
    return ProofReport(
        checks=[check_execution(outcome), artifacts_check, check_logs(outcome.log_lines)],
        artifacts=artifacts,
        log_lines=list(outcome.log_lines),
    )
