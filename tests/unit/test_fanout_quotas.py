"""The fan-out within the service limits it promises, proven without AWS: from the definition
layerforge generates and a run's own execution input and items, the largest state every step
carries and the history every execution writes, for 10,000 shards, against the quotas AWS
documents (moto enforces none of them).
``tests/integration/fanout/test_fanout.py`` checks the computation
against the real state sizes in a moto execution's history.

The quotas, and the pages that state them:

* a task's, state's or execution's input or output: 262,144 bytes (UTF-8 JSON), and a standard
  execution's history: 25,000 events:
  https://docs.aws.amazon.com/step-functions/latest/dg/limits-overview.html
* a Distributed Map runs each item as a child execution with its own history, up to 10,000 in
  parallel (``MaxConcurrency``); exporting the results to S3 (``ResultWriter``) is how a map
  whose results exceed 256 KiB stays within the quota:
  https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html
  https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html
* the ItemReader reads at most 100,000,000 items (``MaxItems``):
  https://docs.aws.amazon.com/step-functions/latest/dg/input-output-itemreader.html
* a synchronous Lambda invoke's payload: 6 MB each way (6,291,456 bytes):
  https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from layerforge.aws.distributed_map import fanout_quotas, state_machine_definition
from layerforge.aws.quotas import (
    HISTORY_EVENTS,
    LAMBDA_PAYLOAD_BYTES,
    MAX_CHILD_CONCURRENCY,
    STATE_BYTES,
    QuotaReport,
    measure_fanout,
)
from layerforge.errors import CheckFailedError
from layerforge.fanout import MAX_SHARDS, FanOut, InputObject
from tests.conftest import sandbox_required

N = MAX_SHARDS  # what --shards and the README promise
MARGIN = 8  # every state stays under an eighth of its quota
# the longest names a run can have: a 64-character run id and function name, a 63-character
# bucket, a 200-character prefix (aws/names.py), S3's 1,024-byte keys, a 12-digit account
RUN_ID = "r" * 64
BUCKET = "b" * 63
PREFIX = "/".join(["p" * 49] * 4)
FUNCTION = f"arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:{'f' * 64}"
LONGEST_KEY = "k" * 1020 + ".csv"


def _synthetic() -> FanOut:
    return FanOut(
        run_id=RUN_ID,
        seed=2**32 - 1,
        shards=N,
        rows=5_000_000,
        max_concurrency=MAX_CHILD_CONCURRENCY,
        layer_sha256="a" * 64,
    )


def _reading() -> FanOut:
    objects = tuple(
        InputObject(f"{LONGEST_KEY[: -len(str(i)) - 4]}{i}.csv", f'"{"e" * 32}-9999"', 1)
        for i in range(N)
    )
    return FanOut(
        run_id=RUN_ID,
        seed=2**32 - 1,
        input_bucket=BUCKET,
        input_prefix="k" * 900,
        inputs=objects,
        max_concurrency=MAX_CHILD_CONCURRENCY,
        layer_sha256="a" * 64,
    )


@pytest.fixture(scope="module")
def responses(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The bundled function's own shard and reduce responses, made by running it (against the
    moto server's S3) with the longest names, then given 10,000 shards' numbers: its responses
    hold nothing per shard, so their size does not otherwise depend on the number of shards."""
    from analytics_payload import handler

    settings = {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "TMPDIR": str(tmp_path_factory.mktemp("lambda-tmp")),
    }
    bucket = f"q{uuid.uuid4().hex}{'b' * 30}"[:63]
    with pytest.MonkeyPatch.context() as patch:
        for name, value in settings.items():
            patch.setenv(name, value)
        patch.setattr(handler, "_CLIENT", None)
        boto3.client("s3").create_bucket(Bucket=bucket)
        common = {"run": RUN_ID, "shards": 2, "rows": 2_000, "seed": 7}
        common |= {"bucket": bucket, "prefix": PREFIX}
        shards = [
            handler.lambda_handler({"mode": "shard", **common, "shard": i, "input": None}, _Ctx())
            for i in range(2)
        ]
        reduced = handler.lambda_handler({"mode": "reduce", **common}, _Ctx())
        # with the default prefix and run id, as the issue measured it (about 557 bytes)
        usual = {**common, "run": "20261127T103500Z-1a2b3c", "prefix": "automated-analysis"}
        typical = handler.lambda_handler(
            {"mode": "shard", **usual, "shard": 1, "input": None}, _Ctx()
        )
    assert reduced["status"] == "ok" and reduced["shards"] == 2, reduced  # a count, not a list
    assert [a["name"] for a in reduced["artifacts"]] == ["stats.json", "plot.png"]
    shard = {**shards[1], "shard": N - 1, "rows": 5_000_000 // N, "input": LONGEST_KEY}
    return {
        "Shard": shard,
        "Reduce": {**reduced, "shards": N, "rows": 5_000_000},
        "typical shard": typical,
    }


class _Ctx:
    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())


def _report(fanout: FanOut, responses: dict[str, Any]) -> QuotaReport:
    return measure_fanout(
        state_machine_definition(FUNCTION, fanout.max_concurrency),
        execution_input=fanout.execution_input(bucket=BUCKET, prefix=PREFIX),
        items=fanout.items(),
        responses=responses,
    )


@pytest.mark.parametrize("make", [_synthetic, _reading], ids=["shards", "input objects"])
def test_ten_thousand_shards_stay_within_every_quota_with_margin(
    make: Any, responses: dict[str, Any]
) -> None:
    report = _report(make(), responses)
    assert report.exceeded == []
    states = [m for m in report.measures if m.quota == STATE_BYTES]
    # every state the run carries: execution input, the map's input, items, each item's
    # (child execution's) input, the Lambda payloads and results, the map's output, the
    # reduce's input and output, the execution's output
    assert {m.what for m in states} >= {
        "execution input",
        "Shards: input",
        "Shards: largest item",
        "Shards: child execution input",
        "Shards > Shard: task input (Parameters)",
        "Shards > Shard: task result (with the invoke's metadata)",
        "Shards > child execution output",
        "Shards: map result",
        "Shards: output",
        "Reduce: input",
        "Reduce: task input (Parameters)",
        "Reduce: task result (with the invoke's metadata)",
        "Reduce: output",
        "execution output",
    }
    assert report.largest_state.value * MARGIN < STATE_BYTES, report.largest_state
    for name in ("execution history", "Shards > child execution history"):
        assert report.get(name).value * MARGIN < HISTORY_EVENTS, report.get(name)
    payloads = [m for m in report.measures if m.quota == LAMBDA_PAYLOAD_BYTES]
    assert len(payloads) == 4 and all(m.value * MARGIN < m.quota for m in payloads)
    assert report.get("Shards: items").value == N
    assert report.get("Shards: MaxConcurrency").within


def test_the_state_does_not_grow_with_the_shards(responses: dict[str, Any]) -> None:
    """Two shards or ten thousand: the same states, a few digits apart."""
    few = _report(FanOut(run_id=RUN_ID, seed=1, shards=2, rows=5_000_000), responses)
    many = _report(FanOut(run_id=RUN_ID, seed=1, shards=N, rows=5_000_000), responses)
    for measure in few.measures:
        if measure.unit == "bytes":
            assert many.get(measure.what).value - measure.value < 16, measure.what


def _collecting(definition: dict[str, Any]) -> dict[str, Any]:
    """The definition before issue 20: every shard's result collected into the state
    (``ResultPath: $.shard_results``) and handed to the reduce."""
    old = copy.deepcopy(definition)
    fan = old["States"]["Shards"]
    del fan["ResultWriter"]
    fan["ResultPath"] = "$.shard_results"
    old["States"]["Reduce"]["Parameters"]["Payload"]["shard_results.$"] = "$.shard_results"
    return old


def test_the_computation_sees_the_limit_the_old_definition_hit(
    responses: dict[str, Any],
) -> None:
    """Collecting each shard's ~557-byte result, a real run failed (States.DataLimitExceeded)
    above about 450 shards: the computation finds that limit."""
    shard = responses["typical shard"]
    assert 500 < json.dumps(shard, separators=(",", ":")).__len__() < 650
    old = _collecting(state_machine_definition(FUNCTION, 10))

    def fails(shards: int) -> bool:
        fanout = FanOut(run_id="r-1", seed=1, shards=shards, rows=5_000_000)
        report = measure_fanout(
            old,
            execution_input=fanout.execution_input(bucket="bucket-1", prefix="runs"),
            items=fanout.items(),
            responses={"Shard": shard},
        )
        return bool(report.exceeded)

    low, high = 1, N
    while low < high:  # the fewest shards that exceed a quota
        middle = (low + high) // 2
        low, high = (low, middle) if fails(middle) else (middle + 1, high)
    assert 350 < low < 500, low
    with pytest.raises(CheckFailedError, match="Shards: map result is"):
        fanout_quotas(old, _synthetic(), bucket=BUCKET, prefix=PREFIX, responses={"Shard": shard})


def test_the_preflight_check_passes_the_generated_definition_for_any_run() -> None:
    for fanout in (_synthetic(), _reading()):
        definition = state_machine_definition(FUNCTION, fanout.max_concurrency)
        summary = fanout_quotas(definition, fanout, bucket=BUCKET, prefix=PREFIX).summary()
        assert summary["within_quotas"] is True and summary["exceeded"] == []
        assert summary["largest_state"]["bytes"] * MARGIN < STATE_BYTES


def test_a_concurrency_beyond_the_distributed_maps_is_flagged() -> None:
    fanout = FanOut(run_id="r-1", seed=1, shards=2, max_concurrency=MAX_CHILD_CONCURRENCY + 1)
    report = measure_fanout(
        state_machine_definition(FUNCTION, fanout.max_concurrency),
        execution_input=fanout.execution_input(bucket="bucket-1", prefix="runs"),
        items=fanout.items(),
    )
    assert [m.what for m in report.exceeded] == ["Shards: MaxConcurrency"]


# asl-validator (npm, https://github.com/ChristopheBougere/asl-validator): the Amazon States
# Language schema and its paths. scripts/test.sh installs it; CI must not skip it.
def asl_validator() -> list[str]:
    found = os.environ.get("LAYERFORGE_ASL_VALIDATOR") or shutil.which("asl-validator")
    if not found:
        default = Path("/var/tmp/layerforge-ci/asl-validator/node_modules/.bin/asl-validator")
        found = str(default) if default.exists() else None
    if not found:
        message = "asl-validator is missing: scripts/test.sh installs it (npm)"
        if sandbox_required():
            pytest.fail(message)
        pytest.skip(message)
    return [found]


def validate_asl(*definitions: dict[str, Any]) -> None:
    """asl-validator on each definition (one process for all: node starts slowly)."""
    command = asl_validator()
    for definition in definitions:
        command += ["--json-definition", json.dumps(definition)]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("is valid") == len(definitions), result.stdout


def test_asl_validator_accepts_every_definition() -> None:
    """The definition is the same for synthetic shards and input objects, with or without a
    states role (those change the execution's input and the policy, not the definition):
    every partition and concurrency. asl-validator's schema knows ARNs of aws, aws-cn and
    aws-us-gov only: in the others the definition is validated with its partition written
    as aws (the same document otherwise; the partitions are tested in test_fanout.py)."""
    definitions = []
    for partition in ("aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-eusc"):
        for concurrency in (1, 10, MAX_CHILD_CONCURRENCY):
            function = f"arn:{partition}:lambda:xx-east-1:123456789012:function:fn"
            text = json.dumps(state_machine_definition(function, concurrency))
            if partition not in ("aws", "aws-cn", "aws-us-gov"):
                text = text.replace(f"arn:{partition}:", "arn:aws:")
            definitions.append(json.loads(text))
    validate_asl(*definitions)
