"""The fan-out model shared by Step Functions and the local sandboxes: what a run asks for, the
items and events, the state machine, the shards section, and the proof spec's run templates."""

from __future__ import annotations

import json
from typing import Any

import pytest

from layerforge.aws.distributed_map import (
    read_scopes,
    state_machine_definition,
    state_machine_policy,
)
from layerforge.errors import UsageError
from layerforge.fanout import (
    FanOut,
    InputObject,
    fanout_outcome,
    parse_s3_url,
    plan_fanout,
    seed_for,
    shard_errors,
    shard_section,
)
from layerforge.proof import Templates, bundled_spec
from layerforge.proof.checks import check_execution
from layerforge.proof.report import Outcome
from layerforge.proof.spec import parse_proof_spec

FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:fn"
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:fn-fanout"


def _plan(event: dict[str, Any] | None = None, **options: Any) -> FanOut | None:
    arguments: dict[str, Any] = {
        "shards": None,
        "input_url": None,
        "run_id": None,
        "max_concurrency": 10,
    }
    arguments.update(options)
    return plan_fanout(event or {}, **arguments)


def test_no_fan_out_unless_asked() -> None:
    assert _plan() is None
    with pytest.raises(UsageError, match="--run-id names a fan-out run"):
        _plan(run_id="abc")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"shards": 2, "input_url": "s3://bucket-a/p/"}, "not both"),
        ({"shards": 5, "event": {"rows": 3}}, "3 rows cannot fill 5 shards"),
        ({"shards": 2, "run_id": "has space"}, "is not valid"),
        ({"shards": 2, "run_id": "x" * 65}, "is not valid"),
        ({"input_url": "https://bucket/p/"}, "is not an S3 prefix"),
        ({"input_url": "s3://Bad_Bucket/p/"}, "is not an S3 prefix"),
        ({"shards": 2, "event": {"rows": "many"}}, "whole number"),
        ({"shards": 2, "event": {"seed": True}}, "whole number"),
    ],
)
def test_bad_requests_are_usage_errors(options: dict[str, Any], message: str) -> None:
    event = options.pop("event", {})
    with pytest.raises(UsageError, match=message):
        _plan(event, **options)


def test_the_seed_is_the_events_or_a_pure_function_of_the_run_id() -> None:
    given = _plan({"rows": 100, "seed": 9}, shards=4, run_id="r1")
    derived = _plan({"rows": 100}, shards=4, run_id="r1")
    assert given is not None and derived is not None
    assert given.seed == 9
    assert derived.seed == seed_for("r1") == _plan({}, shards=4, run_id="r1").seed  # type: ignore[union-attr]
    assert seed_for("r1") != seed_for("r2")


def test_parse_s3_url_normalises_the_prefix() -> None:
    assert parse_s3_url("s3://bucket-a/in") == ("bucket-a", "in/")
    assert parse_s3_url("s3://bucket-a/") == ("bucket-a", "")
    assert parse_s3_url("s3://bucket-a") == ("bucket-a", "")


def test_items_and_events_for_shards_and_inputs() -> None:
    synthetic = FanOut(run_id="r", seed=1, shards=3, rows=30)
    assert synthetic.items() == [{"shard": i, "input": None} for i in range(3)]
    common = synthetic.common(bucket="b-1", prefix="p")
    event = synthetic.shard_event(synthetic.items()[2], common)
    assert event == {
        "mode": "shard",
        "run": "r",
        "shards": 3,
        "rows": 30,
        "seed": 1,
        "bucket": "b-1",
        "prefix": "p",
        "shard": 2,
        "input": None,
    }
    assert synthetic.reduce_event(common, [None])["mode"] == "reduce"
    objects = (InputObject("in/a.csv", '"e1"', 10), InputObject("in/b.csv", '"e2"', 20))
    reading = FanOut(run_id="r", seed=1, input_bucket="in-b", input_prefix="in/", inputs=objects)
    assert reading.count == 2 and reading.templates() == {"run": "r", "shards": "2"}
    assert reading.items()[1] == {
        "shard": 1,
        "input": {"bucket": "in-b", "key": "in/b.csv", "etag": '"e2"'},
    }
    assert reading.items_key("p") == "p/r/items.json"


def test_the_state_machine_is_a_distributed_map_then_a_reduce() -> None:
    definition = state_machine_definition(FUNCTION, 7)
    fan = definition["States"]["Shards"]
    assert fan["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert fan["MaxConcurrency"] == 7
    assert fan["ItemReader"]["Parameters"] == {"Bucket.$": "$.bucket", "Key.$": "$.items_key"}
    assert fan["ItemSelector"]["shard.$"] == "$$.Map.Item.Value.shard"
    shard = fan["ItemProcessor"]["States"]["Shard"]
    assert "States.TaskFailed" in shard["Retry"][0]["ErrorEquals"]
    reduce = definition["States"]["Reduce"]
    assert reduce["Parameters"]["Payload"]["mode"] == "reduce"
    # the reduce refuses missing partials for good: only Lambda's hiccups are retried
    assert "States.TaskFailed" not in reduce["Retry"][0]["ErrorEquals"]
    json.dumps(definition)  # plain data


def test_both_policies_are_least_privilege() -> None:
    policy = state_machine_policy(
        function_arn=FUNCTION, state_machine_arn=MACHINE, bucket="b-1", prefix="p", partition="aws"
    )
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["InvokeTheFunction"]["Resource"] == [FUNCTION, f"{FUNCTION}:*"]
    assert by_sid["ReadItemLists"]["Resource"] == "arn:aws:s3:::b-1/p/*/items.json"
    resources = json.dumps([s["Resource"] for s in policy["Statement"]])
    assert '"*"' not in resources  # no statement on every resource
    synthetic = FanOut(run_id="r", seed=1, shards=2)
    assert read_scopes(synthetic, bucket="b-1", prefix="p") == ["b-1/p/*/shards/"]
    reading = FanOut(run_id="r", seed=1, input_bucket="in-b", input_prefix="data/")
    assert read_scopes(reading, bucket="b-1", prefix="p") == ["b-1/p/*/shards/", "in-b/data/"]


def test_a_failed_run_names_the_shards_whose_partials_are_missing() -> None:
    fanout = FanOut(run_id="r", seed=1, shards=4)
    outcome, failures = fanout_outcome(
        fanout, succeeded=False, output=None, why="boom", missing=[1, 3], log_lines=[]
    )
    assert outcome.function_error == "Unhandled"
    assert "shards 1, 3 of 4 failed (boom)" in outcome.payload["errorMessage"]
    assert failures == {1: "boom", 3: "boom"}
    section = shard_section(fanout, [{"shard": 0, "status": "ok", "rows": 5}], failures)
    assert [s["status"] for s in section] == ["ok", "failed", "ok", "failed"]
    assert section[0]["rows"] == 5 and section[1]["error"] == "boom"
    # a run that succeeded but lost a partial is still refused
    _, failures = fanout_outcome(
        fanout, succeeded=True, output={"status": "ok"}, why="x", missing=[2], log_lines=[]
    )
    assert failures == {2: "x"}


def test_shard_errors_come_from_the_functions_own_log_lines() -> None:
    lines = [
        "START RequestId: 1",
        '{"event": "shard_failed", "run": "r", "shard": 2, "error": "bad columns"}',
        '2026-11-27T10:00:00Z 1 {"event": "shard_failed", "run": "r", "shard": 3, "error": "x"}',
        '{"event": "shard_failed", "run": "other", "shard": 1, "error": "not this run"}',
        '{"event": "shard_failed", broken',
    ]
    assert shard_errors(lines, "r") == {2: "bad columns", 3: "x"}


def test_numeric_templates_and_glob_counts_in_proof_specs() -> None:
    spec = bundled_spec("proof-fanout.toml")
    templates = Templates({"run": "r", "shards": "3", "bucket": "b-1", "prefix": "p"})
    payload = {
        "status": "ok",
        "run": "r",
        "bucket": "b-1",
        "prefix": "p/r",
        "backend": "agg",
        "rows": 9,
        "shards": [{}, {}, {}],
        "artifacts": [{}, {}],
    }
    assert check_execution(Outcome(200, None, payload, []), spec, templates).passed
    short = {**payload, "shards": [{}, {}]}
    failed = check_execution(Outcome(200, None, short, []), spec, templates)
    assert not failed.passed and "shards length_at_least" in failed.evidence
    assert [a.count for a in spec.artifacts if a.glob] == ["{shards}", "{shards}"]
    with pytest.raises(UsageError, match="needs a number"):
        parse_proof_spec({"response": {"assert": [{"path": "a", "at_least": "many"}]}}, "t")
    with pytest.raises(UsageError, match="goes with a glob"):
        parse_proof_spec({"artifacts": [{"name": "a.csv", "count": 2}]}, "t")
