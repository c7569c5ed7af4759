"""The proof's checks: bounded patterns, templates that say what is missing, and artifacts
found with one listing per prefix (against the real moto server, requests counted by botocore's
own event hooks)."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest

from layerforge.proof import Outcome, Templates, check_all
from layerforge.proof.checks import check_artifacts, check_execution, check_logs
from layerforge.proof.patterns import Search, count_matches
from layerforge.proof.spec import MAX_ARTIFACTS, parse_proof_spec

CATASTROPHIC = "(a+)+$"
LONG_LINE = "a" * 5000 + "b"


def _spec(**tables: Any) -> Any:
    return parse_proof_spec(tables, "t")


def test_a_catastrophic_pattern_is_bounded_and_the_others_still_run() -> None:
    lines = [LONG_LINE, "hello", "aaa"]
    started = time.monotonic()
    counts = count_matches(
        [Search("hello", lines), Search(CATASTROPHIC, lines), Search("a+", lines)], seconds=1.0
    )
    assert counts == [1, None, 2]
    assert time.monotonic() - started < 30  # one pattern's bound plus two interpreter starts


def test_all_the_patterns_of_a_check_share_one_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("layerforge.proof.patterns.CHECK_SECONDS", 2.0)
    started = time.monotonic()
    counts = count_matches([Search(CATASTROPHIC, [LONG_LINE])] * 5, seconds=1.0)
    assert counts == [None] * 5
    assert time.monotonic() - started < 30  # not five bounds: the check's two seconds


def test_a_lookahead_and_backreferences_keep_python_semantics() -> None:
    assert count_matches([Search(r"(?=x)x(y)\1", ["xyy", "xy"]), Search(r"\d+", ["٣"])]) == [1, 1]
    assert count_matches([]) == []


def test_the_checks_say_which_pattern_took_too_long(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("layerforge.proof.patterns.MATCH_SECONDS", 1.0)  # a shorter bound
    spec = _spec(
        response={
            "assert": [{"path": "s", "matches": CATASTROPHIC}, {"path": "s", "matches": "b$"}]
        },
        logs={"patterns": [CATASTROPHIC, "^a"]},
    )
    templates = Templates({})
    outcome = Outcome(200, None, {"s": LONG_LINE}, [LONG_LINE])
    execution = check_execution(outcome, spec, templates)
    assert not execution.passed
    assert execution.evidence.count("took too long") == 1, execution.evidence
    logs = check_logs(outcome.log_lines, spec, templates)
    assert not logs.passed and "'(a+)+$' (pattern took too long (over 1 s))" in logs.evidence
    assert "'^a'" not in logs.evidence  # it matched


def test_templates_naming_missing_fields_fail_saying_so() -> None:
    spec = _spec(
        response={
            "assert": [
                {"path": "status", "equals": "{response.nope}"},
                {"path": "status", "matches": "^{event.mode}$"},
                {"path": "status", "equals": "{run}"},
            ]
        },
        logs={"patterns": ["{response.prefix.deeper}"]},
    )
    outcome = Outcome(200, None, {"status": "ok", "prefix": "p"}, ["ok"])
    templates = Templates({"bucket": "b"}, event={})
    execution = check_execution(outcome, spec, templates)
    assert "{response.nope}: the response has no field 'nope'" in execution.evidence
    assert "{event.mode}: the event has no field 'mode'" in execution.evidence
    assert "{run}: this run has no run (only a fan-out run has it)" in execution.evidence
    logs = check_logs(outcome.log_lines, spec, Templates({}, response=outcome.payload))
    assert "the response has no field 'prefix.deeper'" in logs.evidence


@pytest.fixture
def s3(moto_endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _requests(client: Any) -> Counter[str]:
    """Every request the client sends, by operation (botocore's own event, nothing faked)."""
    seen: Counter[str] = Counter()
    client.meta.events.register(
        "before-call.s3.*", lambda model, **_: seen.update([model.name]), unique_id=str(id(seen))
    )
    return seen


def _bucket(s3: Any, objects: dict[str, bytes]) -> str:
    bucket = f"proof-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda kv: s3.put_object(Bucket=bucket, Key=kv[0], Body=kv[1]), objects.items()
            )
        )
    return bucket


def test_artifacts_are_listed_once_per_prefix(s3: Any) -> None:
    names = [f"part-{n:04d}.json" for n in range(MAX_ARTIFACTS - 1)]
    bucket = _bucket(
        s3, {**{f"run/{n}": b"{}" for n in names}, "run/sub/a.csv": b"x,y\n1,2\n", "other/z": b"z"}
    )
    spec = _spec(
        access={"write": ["{bucket}/"]},
        artifacts=[
            *({"name": n, "prefix": "run", "parser": "json"} for n in names),
            {"glob": "sub/*.csv", "prefix": "run", "parser": "csv", "count": 1},
        ],
    )
    seen = _requests(s3)
    started = time.monotonic()
    check, found = check_artifacts(s3, spec, Templates({"bucket": bucket}))
    assert check.passed, check.evidence
    assert len(found) == MAX_ARTIFACTS
    assert seen == {"ListObjectsV2": 1, "GetObject": MAX_ARTIFACTS}
    assert time.monotonic() - started < 120  # 1,000 reads, eight at a time, on a loaded machine


def test_missing_and_out_of_scope_artifacts_are_named(s3: Any) -> None:
    bucket = _bucket(s3, {"p/here.csv": b"a,b\n1,2\n", "q/there.csv": b"a,b\n1,2\n"})
    spec = _spec(
        artifacts=[
            {"name": "here.csv", "prefix": "p", "parser": "csv"},
            {"name": "gone.csv", "prefix": "p"},
            {"glob": "*.csv", "prefix": "q"},
            {"glob": "*.json", "prefix": "p"},
            {"name": "x", "prefix": "{response.nope}"},
        ],
    )
    seen = _requests(s3)
    templates = Templates({"bucket": bucket, "prefix": "p"}, response={})
    check, _ = check_artifacts(s3, spec, templates)
    assert not check.passed
    assert "p/gone.csv: not in s3://" in check.evidence
    assert "q/there.csv: outside the prefixes the function may write" in check.evidence
    assert "*.json: nothing under" in check.evidence
    assert "x: {response.nope}: the response has no field 'nope'" in check.evidence
    assert seen["ListObjectsV2"] == 2  # p and q, each once


def test_a_failed_invocation_has_no_response_to_fill_templates(s3: Any) -> None:
    bucket = _bucket(s3, {})
    spec = _spec(artifacts=[{"name": "summary.json", "prefix": "{response.prefix}"}])
    outcome = Outcome(200, "Unhandled", {"errorMessage": "boom"}, [])
    report = check_all(outcome, s3, spec, Templates({"bucket": bucket, "prefix": "p"}))
    artifacts = next(c for c in report.checks if c.name == "artifacts")
    assert (
        "summary.json: no response (FunctionError Unhandled), so {response.prefix} is unknown"
        in artifacts.evidence
    )
