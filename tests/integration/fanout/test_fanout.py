"""Fan-out end to end: ``publish-and-invoke --shards N`` drives a Step Functions Distributed Map
on the moto server (which executes state machines and runs each Lambda task in Docker), and
``invoke-local --shards N`` runs the same map and reduce in parallel sandboxes. The merged
statistics equal the single-invocation statistics of the same rows; a shard that keeps failing
names itself and nothing is merged; a rerun of a run id is idempotent."""

from __future__ import annotations

import io
import json
import math
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from analytics_payload.analysis import NUMERIC_COLUMNS, generate, generate_rows, summarise
from layerforge.aws.clients import AwsClients
from layerforge.aws.role import POLICY_NAME
from tests.conftest import run_cli

pytestmark = [pytest.mark.slow]

REGION = "us-east-1"
ROWS, SEED, SHARDS = 8_000, 5, 4


def _fan_out(
    capsys: pytest.CaptureFixture[str],
    layer: str,
    bucket: str,
    endpoint: str,
    function: str,
    *extra: str,
) -> tuple[int, Any, str]:
    """publish-and-invoke of the layer to the moto server, the function and its roles made."""
    return run_cli(
        capsys,
        "publish-and-invoke",
        "--layer",
        layer,
        "--bucket",
        bucket,
        "--region",
        REGION,
        "--endpoint-url",
        endpoint,
        "--function-name",
        function,
        "--create-role",
        "--json",
        *extra,
    )


def _close(a: float | None, b: float | None) -> bool:
    return (a is None and b is None) or (
        a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=2e-6)
    )


def assert_equals_single_run(stats: dict[str, Any], rows: int, seed: int) -> None:
    """The merged stats.json against the statistics of one invocation over the same rows."""
    single = summarise(generate(rows, seed), seed=seed, generated_at=datetime.now(timezone.utc))
    assert stats["rows"] == single["rows"] == rows
    assert stats["missing"] == single["missing"]
    for column in NUMERIC_COLUMNS:
        ours, theirs = stats["summary"][column], single["summary"][column]
        assert ours["count"] == theirs["count"], column
        for key in ("mean", "std", "min", "max"):
            assert _close(ours[key], theirs[key]), (column, key, ours[key], theirs[key])
    for a in NUMERIC_COLUMNS:
        for b in NUMERIC_COLUMNS:
            assert _close(stats["correlation"][a][b], single["correlation"][a][b]), (a, b)


def _read_json(clients: AwsClients, bucket: str, key: str) -> Any:
    return json.loads(clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def _resources(statements: list[dict[str, Any]]) -> list[str]:
    found: list[str] = []
    for statement in statements:
        resource = statement["Resource"]
        found += [resource] if isinstance(resource, str) else list(resource)
    return found


def _policy(clients: AwsClients, role: str) -> dict[str, Any]:
    document = clients.iam.get_role_policy(RoleName=role, PolicyName=POLICY_NAME)
    found = document["PolicyDocument"]
    return json.loads(found) if isinstance(found, str) else dict(found)


def test_shards_on_step_functions_merge_to_the_single_run_and_rerun_is_idempotent(
    seed_build: dict[str, Any],
    clients: AwsClients,
    bucket: str,
    aws_env: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    function = f"fan-{uuid.uuid4().hex[:8]}"
    run_id = f"run-{uuid.uuid4().hex[:8]}"
    argv = [
        "--layer-name",
        f"layer-{function}",
        "--event",
        json.dumps({"rows": ROWS, "seed": SEED}),
        "--shards",
        str(SHARDS),
        "--run-id",
        run_id,
    ]
    code, proof, err = _fan_out(capsys, seed_build["output"], bucket, aws_env, function, *argv)
    assert code == 0, (json.dumps(proof, indent=1)[:4000], err[-3000:])
    assert proof["passed"] is True
    assert proof["proof_spec"] == "analytics_payload/proof-fanout.toml"
    assert proof["fanout"]["status"] == "SUCCEEDED" and proof["fanout"]["reused"] is False
    assert [s["status"] for s in proof["shards"]] == ["ok"] * SHARDS
    assert sum(s["rows"] for s in proof["shards"]) == ROWS
    assert all(s["seconds"] is not None for s in proof["shards"])
    stats = _read_json(clients, bucket, f"automated-analysis/{run_id}/stats.json")
    assert stats["shards"] == SHARDS
    assert_equals_single_run(stats, ROWS, SEED)
    keys = {a["key"] for a in proof["artifacts"]}
    assert f"automated-analysis/{run_id}/plot.png" in keys
    assert {f"automated-analysis/{run_id}/shards/{i}/data.csv" for i in range(SHARDS)} <= keys

    # least privilege: the state machine may invoke exactly this function and read item lists;
    # the function gains reading the shards' partials, nothing else
    states = _policy(clients, f"{function}-fanout-role")
    invoke = next(s for s in states["Statement"] if s["Action"] == "lambda:InvokeFunction")
    assert all(f":function:{function}" in r for r in invoke["Resource"])
    assert {
        s["Action"] if isinstance(s["Action"], str) else "+".join(s["Action"])
        for s in states["Statement"]
    } == {
        "lambda:InvokeFunction",
        "s3:GetObject",
        "states:StartExecution",
        "states:DescribeExecution+states:StopExecution",
    }
    reads = [
        s
        for s in _policy(clients, f"{function}-role")["Statement"]
        if "s3:GetObject" in str(s["Action"])
    ]
    assert _resources(reads) == [f"arn:aws:s3:::{bucket}/automated-analysis/*/shards/*"]

    # the same run id again: the succeeded execution is reused, nothing runs twice
    code, again, err = _fan_out(capsys, seed_build["output"], bucket, aws_env, function, *argv)
    assert code == 0, (again, err[-2000:])
    assert again["fanout"]["reused"] is True
    assert again["fanout"]["execution"] == proof["fanout"]["execution"]
    executions = clients.stepfunctions.list_executions(
        stateMachineArn=proof["fanout"]["execution"]
        .rsplit(":", 1)[0]
        .replace(":execution:", ":stateMachine:")
    )["executions"]
    assert [e["name"] for e in executions] == [run_id]

    # cleanup --function-name takes the fan-out's state machine and its (managed) role along
    code, cleaned, err = run_cli(
        capsys,
        "cleanup",
        "--layer-name",
        f"layer-{function}",
        "--keep",
        "0",
        "--function-name",
        function,
        "--role-name",
        f"{function}-role",
        "--region",
        REGION,
        "--endpoint-url",
        aws_env,
        "--json",
    )
    assert code == 0, (cleaned, err)
    assert cleaned["deleted_state_machine"] is True and cleaned["deleted_fanout_role"] is True
    with pytest.raises(clients.iam.exceptions.NoSuchEntityException):
        clients.iam.get_role(RoleName=f"{function}-fanout-role")


def _csv(rows: tuple[int, int]) -> bytes:
    buffer = io.StringIO()
    generate_rows(*rows, SEED).to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def test_a_shard_that_keeps_failing_names_itself_and_nothing_is_merged(
    seed_build: dict[str, Any],
    clients: AwsClients,
    bucket: str,
    aws_env: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Input mode: one CSV object per shard; the third object lacks the columns, for real."""
    for i in range(2):
        clients.s3.put_object(
            Bucket=bucket, Key=f"in/part-{i}.csv", Body=_csv((i * 500, i * 500 + 500))
        )
    clients.s3.put_object(Bucket=bucket, Key="in/part-2.csv", Body=b"a,b\n1,2\n")
    clients.s3.put_object(Bucket=bucket, Key="in/notes.txt", Body=b"not an input")
    function = f"fan-{uuid.uuid4().hex[:8]}"
    run_id = f"bad-{uuid.uuid4().hex[:6]}"
    code, proof, err = _fan_out(
        capsys,
        seed_build["output"],
        bucket,
        aws_env,
        function,
        "--layer-name",
        f"layer-{function}",
        "--input",
        f"s3://{bucket}/in/",
        "--run-id",
        run_id,
    )
    assert code == 1, (proof, err[-2000:])
    assert proof["passed"] is False
    execution = next(c for c in proof["checks"] if c["name"] == "execution")
    assert "shard 2 of 3 failed" in execution["evidence"]
    assert [s["status"] for s in proof["shards"]] == ["ok", "ok", "failed"]
    assert proof["shards"][2]["shard"] == 2
    listed = clients.s3.list_objects_v2(Bucket=bucket, Prefix=f"automated-analysis/{run_id}/")
    names = {item["Key"].split(f"{run_id}/", 1)[1] for item in listed.get("Contents", [])}
    assert "stats.json" not in names and "plot.png" not in names  # nothing merged
    assert "shards/2/partial.json" not in names
    # the function's role reads exactly the input prefix besides the partials
    reads = [
        s
        for s in _policy(clients, f"{function}-role")["Statement"]
        if "s3:GetObject" in str(s["Action"])
    ]
    assert sorted(_resources(reads)) == sorted(
        [f"arn:aws:s3:::{bucket}/automated-analysis/*/shards/*", f"arn:aws:s3:::{bucket}/in/*"]
    )


def test_dry_run_prints_the_definition_and_both_policies_and_changes_nothing(
    seed_build: dict[str, Any],
    clients: AwsClients,
    bucket: str,
    aws_env: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    function = f"fan-{uuid.uuid4().hex[:8]}"
    code, plan, err = _fan_out(
        capsys, seed_build["output"], bucket, aws_env, function, "--shards", "3", "--dry-run"
    )
    assert code == 0, (plan, err)
    fanout = plan["fanout"]
    shards = fanout["state_machine"]["definition"]["States"]["Shards"]
    assert shards["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert shards["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
    assert fanout["states_role"] == f"create {function}-fanout-role"
    assert {s["Sid"] for s in fanout["states_policy"]["Statement"]} >= {"InvokeTheFunction"}
    assert any("/shards/" in str(s["Resource"]) for s in plan["policy"]["Statement"])
    machines = clients.stepfunctions.list_state_machines()["stateMachines"]
    assert not [m for m in machines if m["name"] == f"{function}-fanout"]
    with pytest.raises(clients.iam.exceptions.NoSuchEntityException):
        clients.iam.get_role(RoleName=f"{function}-fanout-role")


def test_invoke_local_shards_merge_to_the_single_run(
    seed_build: dict[str, Any],
    clients: AwsClients,
    bucket: str,
    aws_env: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No AWS account: the map and the reduce in sandboxes; S3 is the moto server here (so the
    merged stats.json can be read back), the embedded one by default."""
    run_id = f"local-{uuid.uuid4().hex[:6]}"
    code, proof, err = run_cli(
        capsys,
        "invoke-local",
        "--layer",
        seed_build["output"],
        "--shards",
        str(SHARDS),
        "--run-id",
        run_id,
        "--endpoint-url",
        aws_env,
        "--bucket",
        bucket,
        "--event",
        json.dumps({"rows": ROWS, "seed": SEED}),
        "--json",
    )
    assert code == 0, (proof, err[-3000:])
    assert [s["status"] for s in proof["shards"]] == ["ok"] * SHARDS
    assert 1 <= proof["fanout"]["workers"] <= SHARDS
    stats = _read_json(clients, bucket, f"automated-analysis/{run_id}/stats.json")
    assert_equals_single_run(stats, ROWS, SEED)


def test_invoke_local_input_folder_names_the_failing_shard(
    seed_build: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "inputs"
    folder.mkdir()
    (folder / "a.csv").write_bytes(_csv((0, 400)))
    (folder / "b.csv").write_bytes(b"no,columns\n1,2\n")
    (folder / "c.csv").write_bytes(_csv((400, 800)))
    code, proof, err = run_cli(
        capsys, "invoke-local", "--layer", seed_build["output"], "--input", str(folder), "--json"
    )
    assert code == 1, (proof, err[-2000:])
    assert [s["status"] for s in proof["shards"]] == ["ok", "failed", "ok"]
    assert "b.csv" not in json.dumps(proof["shards"][0])
    execution = next(c for c in proof["checks"] if c["name"] == "execution")
    assert "shard 1 of 3 failed" in execution["evidence"]
    stored = [a["key"] for a in proof["artifacts"] if "bytes" in a]  # found in S3, not just sought
    assert not any(key.endswith(("/stats.json", "/plot.png")) for key in stored)
