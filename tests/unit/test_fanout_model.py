"""The fan-out model shared by Step Functions and the local sandboxes: what a run asks for, the
items and events, the state machine, the shards section, and the proof spec's run templates."""

from __future__ import annotations

import ast
import json
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest

from layerforge.aws.clients import AwsClients
from layerforge.aws.distributed_map import (
    machine_arn,
    read_scopes,
    state_machine_definition,
    state_machine_policy,
)
from layerforge.aws.role import execution_policy
from layerforge.aws_names import arn, partition_of
from layerforge.errors import UsageError
from layerforge.fanout import (
    FanOut,
    InputObject,
    check_same_parameters,
    fanout_outcome,
    parse_s3_url,
    plan_fanout,
    run_parameters,
    seed_for,
    shard_errors,
    shard_reports,
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
    # the reduce is told nothing per shard: it reads the partials from S3 by key
    assert synthetic.reduce_event(common) == {"mode": "reduce", **common}
    objects = (InputObject("in/a.csv", '"e1"', 10), InputObject("in/b.csv", '"e2"', 20))
    reading = FanOut(run_id="r", seed=1, input_bucket="in-b", input_prefix="in/", inputs=objects)
    assert reading.count == 2 and reading.templates() == {"run": "r", "shards": "2"}
    assert reading.items()[1] == {
        "shard": 1,
        "input": {"bucket": "in-b", "key": "in/b.csv", "etag": '"e2"'},
    }
    assert reading.items_key("p") == "p/r/items.json"


# AWS's recommended Retry set for Lambda tasks (its transient service errors):
# https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html
AWS_LAMBDA_RETRY_SET = {
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
}


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
    for task in (shard, reduce):
        assert set(task["Retry"][0]["ErrorEquals"]) >= AWS_LAMBDA_RETRY_SET
    json.dumps(definition)  # plain data


def test_the_shards_results_go_to_s3_not_into_the_state() -> None:
    """The map's results are written by its ResultWriter and dropped from the state; the
    reduce is told nothing per shard (it reads the partials by key)."""
    fan = state_machine_definition(FUNCTION, 7)["States"]["Shards"]
    assert fan["ResultWriter"]["Resource"] == "arn:aws:states:::s3:putObject"
    assert fan["ResultWriter"]["Parameters"] == {
        "Bucket.$": "$$.Execution.Input.bucket",
        "Prefix.$": "$$.Execution.Input.results_prefix",
    }
    assert "ResultPath" in fan and fan["ResultPath"] is None
    reduce = state_machine_definition(FUNCTION, 7)["States"]["Reduce"]["Parameters"]["Payload"]
    assert not any("shard_results" in key for key in reduce)
    synthetic = FanOut(run_id="r", seed=1, shards=2)
    document = synthetic.execution_input(bucket="b-1", prefix="p")
    assert document["results_prefix"] == "p/r/map-results"
    assert document["items_key"] == "p/r/items.json"


def _arns(document: Any) -> list[str]:
    text = json.dumps(document)
    return [part.strip('"') for part in text.split('"') if part.startswith("arn:")]


@pytest.mark.parametrize(
    ("region", "partition"),
    [
        ("us-east-1", "aws"),
        ("cn-north-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
        ("us-iso-east-1", "aws-iso"),
        ("us-isob-east-1", "aws-iso-b"),
    ],
)
def test_every_arn_takes_the_regions_partition_from_botocore(region: str, partition: str) -> None:
    """No AWS call: the definition, both policies and the state machine's, function's and
    log group's ARNs, built the way a run in ``region`` builds them."""
    assert partition_of(region) == partition
    clients = AwsClients(
        lambda_=None, lambda_invoke=None, s3=None, iam=None, sts=None, logs=None, region=region
    )
    function = arn(clients.partition, "lambda", "function:fn", region=region, account="1" * 12)
    machine = machine_arn(clients, "1" * 12, "fn-fanout")
    definition = state_machine_definition(function, 10)
    states_policy = state_machine_policy(
        function_arn=function,
        state_machine_arn=machine,
        bucket="b-1",
        prefix="p",
        partition=clients.partition,
    )
    reading = FanOut(run_id="r", seed=1, input_bucket="in-b", input_prefix="data/")
    function_policy = execution_policy(
        write=["b-1/p/"],
        read=read_scopes(reading, bucket="b-1", prefix="p"),
        function="fn",
        region=region,
        account="1" * 12,
        partition=clients.partition,
    )
    found = _arns([definition, states_policy, function_policy, machine])
    assert len(found) >= 10
    assert all(a.startswith(f"arn:{partition}:") for a in found), found
    assert f"arn:{partition}:states:::lambda:invoke" in found
    assert f"arn:{partition}:logs:{region}:111111111111:log-group:/aws/lambda/fn" in found


def test_an_unknown_region_is_a_usage_error_naming_botocore() -> None:
    with pytest.raises(UsageError, match="not known to botocore"):
        partition_of("xx-nowhere-9")


def test_no_arn_is_spelled_with_a_fixed_partition_in_the_aws_code() -> None:
    """Every ARN goes through ``names.arn``: no string literal starts with ``arn:aws:``."""
    import layerforge.aws

    folder = Path(layerforge.aws.__file__).parent
    literals = []
    for source in sorted(folder.glob("*.py")):
        tree = ast.parse(source.read_text())
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        literals += [
            f"{source.name}: {node.value}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and "arn:aws:" in node.value
        ]
    assert literals == []


def test_the_run_parameters_are_stored_and_a_different_rerun_is_refused_naming_both() -> None:
    four = FanOut(run_id="r1", seed=5, shards=4, rows=8000, layer_sha256="a" * 64)
    stored = four.execution_input(bucket="b-1", prefix="p")
    before = run_parameters(stored)
    assert before == {
        "shards": 4,
        "rows": 8000,
        "seed": 5,
        "bucket": "b-1",
        "prefix": "p",
        "layer_sha256": "a" * 64,
    }
    check_same_parameters("r1", before, four.parameters(bucket="b-1", prefix="p"), where="r1")
    eight = FanOut(run_id="r1", seed=5, shards=8, rows=8000, layer_sha256="a" * 64)
    with pytest.raises(UsageError) as refused:
        check_same_parameters("r1", before, eight.parameters(bucket="b-1", prefix="p"), where="r1")
    assert "already ran with shards=4" in refused.value.message
    assert "this run asks for shards=8" in refused.value.message
    assert refused.value.exit_code == 2
    assert "layer_sha256=aaaaaaaaaaaa" in refused.value.details
    rebuilt = FanOut(run_id="r1", seed=5, shards=4, rows=8000, layer_sha256="b" * 64)
    with pytest.raises(UsageError, match="layer_sha256=aaaaaaaaaaaa"):
        check_same_parameters(
            "r1", before, rebuilt.parameters(bucket="b-1", prefix="p"), where="r1"
        )
    # an execution started before parameters were stored: what its input held is compared
    legacy = {"run": "r1", "shards": 4, "rows": 8000, "seed": 5, "bucket": "b-1", "prefix": "p"}
    with pytest.raises(UsageError, match="shards=4"):
        check_same_parameters(
            "r1", run_parameters(legacy), eight.parameters(bucket="b-1", prefix="p"), where="r1"
        )


def test_input_runs_store_which_objects_they_read() -> None:
    objects = (InputObject("in/a.csv", '"e1"', 10), InputObject("in/b.csv", '"e2"', 20))
    reading = FanOut(run_id="r", seed=1, input_bucket="in-b", input_prefix="in/", inputs=objects)
    parameters = reading.parameters(bucket="b-1", prefix="p")
    assert parameters["input"] == "s3://in-b/in/" and parameters["shards"] == 2
    changed = replace(reading, inputs=(objects[0], InputObject("in/b.csv", '"e3"', 20)))
    assert (
        changed.parameters(bucket="b-1", prefix="p")["inputs_sha256"]
        != (parameters["inputs_sha256"])
    )


def test_shard_reports_come_from_the_functions_shard_done_lines() -> None:
    lines = [
        '{"event": "shard_done", "run": "r", "shard": 1, "rows": 5, "seconds": 0.5}',
        'ts {"event": "shard_done", "run": "r", "shard": 0, "rows": 4, "seconds": 0.4}',
        '{"event": "shard_done", "run": "other", "shard": 2, "rows": 9}',
        '{"event": "uploaded", "run": "r", "shard": 3}',
    ]
    reports = shard_reports(lines, "r")
    assert sorted(r["shard"] for r in reports) == [0, 1]
    section = shard_section(FanOut(run_id="r", seed=1, shards=2), reports)
    assert [s["rows"] for s in section] == [4, 5] and section[1]["seconds"] == 0.5


def test_both_policies_are_least_privilege() -> None:
    policy = state_machine_policy(
        function_arn=FUNCTION, state_machine_arn=MACHINE, bucket="b-1", prefix="p", partition="aws"
    )
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["InvokeTheFunction"]["Resource"] == [FUNCTION, f"{FUNCTION}:*"]
    assert by_sid["ReadItemLists"]["Resource"] == "arn:aws:s3:::b-1/p/*/items.json"
    # the ResultWriter writes exactly the runs' map results
    assert by_sid["WriteMapResults"]["Resource"] == "arn:aws:s3:::b-1/p/*/map-results/*"
    assert "s3:PutObject" in by_sid["WriteMapResults"]["Action"]
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
        "shards": 3,  # a count, not a list: the response does not grow with the shards
        "artifacts": [{}, {}],
    }
    assert check_execution(Outcome(200, None, payload, []), spec, templates).passed
    for wrong, operator in ((2, "at_least"), (4, "at_most")):
        failed = check_execution(
            Outcome(200, None, {**payload, "shards": wrong}, []), spec, templates
        )
        assert not failed.passed and f"shards {operator}" in failed.evidence
    assert [a.count for a in spec.artifacts if a.glob] == ["{shards}", "{shards}"]
    with pytest.raises(UsageError, match="needs a number"):
        parse_proof_spec({"response": {"assert": [{"path": "a", "at_least": "many"}]}}, "t")
    with pytest.raises(UsageError, match="goes with a glob"):
        parse_proof_spec({"artifacts": [{"name": "a.csv", "count": 2}]}, "t")


def test_empty_csv_objects_are_skipped_and_said(aws_env: str) -> None:
    """A 0-byte CSV object gets no shard (there is nothing to read), and the run says so:
    in its notes, its plan and its report (the moto server's S3)."""
    s3 = boto3.client("s3")
    bucket = f"in-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    for key, body in (("in/a.csv", b"x,y\n1,2\n"), ("in/empty.CSV", b""), ("in/notes.txt", b"")):
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    fanout = FanOut(run_id="r", seed=1, input_bucket=bucket, input_prefix="in/").listed(s3)
    assert [o.key for o in fanout.inputs] == ["in/a.csv"]
    assert fanout.skipped == ("in/empty.CSV",)
    note = fanout.skipped_note()
    assert note is not None and "skipped 1 empty CSV object" in note and "in/empty.CSV" in note
    assert fanout.plan(bucket="b-1", prefix="p")["skipped"] == ["in/empty.CSV"]
    assert FanOut(run_id="r", seed=1, shards=2).listed(s3).skipped_note() is None
    s3.put_object(Bucket=bucket, Key="only-empty/z.csv", Body=b"")
    with pytest.raises(
        UsageError, match=r"no non-empty CSV objects .* \(1 empty: only-empty/z.csv"
    ):
        FanOut(run_id="r", seed=1, input_bucket=bucket, input_prefix="only-empty/").listed(s3)
