"""Fan-out end to end: ``publish-and-invoke --shards N`` drives a Step Functions Distributed Map
on the moto server (which executes state machines and runs each Lambda task in Docker), and
``invoke-local --shards N`` runs the same map and reduce in parallel sandboxes. The merged
statistics equal the single-invocation statistics of the same rows; a shard that keeps failing
names itself and nothing is merged; a rerun of a run id is idempotent, one with other
parameters is refused, and an interrupted wait says what it leaves running on AWS; the states
a run carries, measured in its execution history, are what ``aws/quotas.py`` computes."""

from __future__ import annotations

import io
import json
import math
import os
import pty
import re
import select
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from analytics_payload.analysis import NUMERIC_COLUMNS, generate, generate_rows, summarise
from layerforge.aws.clients import AwsClients
from layerforge.aws.quotas import json_bytes, measure_fanout
from layerforge.fanout import FanOut
from tests.adversarial.harness import command, processes_in_session
from tests.conftest import run_cli
from tests.unit.test_fanout_quotas import validate_asl

pytestmark = [pytest.mark.slow]

REGION = "us-east-1"
ROWS, SEED, SHARDS = 8_000, 5, 4


def _argv(layer: str, bucket: str, endpoint: str, function: str, *extra: str) -> list[str]:
    """publish-and-invoke of the layer and the function to the moto server."""
    return [
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
        *extra,
    ]


def _fan_out(
    capsys: pytest.CaptureFixture[str],
    layer: str,
    bucket: str,
    endpoint: str,
    function: str,
    *extra: str,
) -> tuple[int, Any, str]:
    """publish-and-invoke, in this process, the function and its roles made."""
    return run_cli(
        capsys, *_argv(layer, bucket, endpoint, function, "--create-role", "--json", *extra)
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
    (name,) = clients.iam.list_role_policies(RoleName=role)["PolicyNames"]
    document = clients.iam.get_role_policy(RoleName=role, PolicyName=name)
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
        "s3:PutObject+s3:GetObject+s3:ListMultipartUploadParts+s3:AbortMultipartUpload",
        "states:StartExecution",
        "states:DescribeExecution+states:StopExecution",
    }
    reads = [
        s
        for s in _policy(clients, f"{function}-role")["Statement"]
        if "s3:GetObject" in str(s["Action"])
    ]
    assert _resources(reads) == [f"arn:aws:s3:::{bucket}/automated-analysis/*/shards/*"]

    # the states the run carried, measured in its execution history, are what the definition
    # and the run's parameters say (aws/quotas.py: the proof for 10,000 shards rests on it)
    assert_states_are_as_computed(clients, proof, run_id, bucket)

    # the same run id again: the succeeded execution is reused, nothing runs twice
    code, again, err = _fan_out(capsys, seed_build["output"], bucket, aws_env, function, *argv)
    assert code == 0, (again, err[-2000:])
    assert again["fanout"]["reused"] is True
    assert again["fanout"]["execution"] == proof["fanout"]["execution"]
    assert _executions(clients, proof["fanout"]["execution"]) == [run_id]

    # the same run id with other parameters: refused before any change, naming both
    other = [*argv[:5], "8", *argv[6:]]
    assert argv[4:6] == ["--shards", str(SHARDS)]
    code, refused, err = _fan_out(capsys, seed_build["output"], bucket, aws_env, function, *other)
    assert code == 2, (refused, err[-2000:])
    assert f"--run-id {run_id} already ran with shards={SHARDS}" in refused["error"]
    assert "this run asks for shards=8" in refused["error"]
    assert "rows=8000" in refused["details"] and "choose a new --run-id" in refused["hint"]
    assert _executions(clients, proof["fanout"]["execution"]) == [run_id]

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


def _executions(clients: AwsClients, execution: str) -> list[str]:
    """The names of every execution of the state machine ``execution`` belongs to."""
    machine = execution.rsplit(":", 1)[0].replace(":execution:", ":stateMachine:")
    found = clients.stepfunctions.list_executions(stateMachineArn=machine)["executions"]
    return [e["name"] for e in found]


def _events(clients: AwsClients, execution: str) -> list[dict[str, Any]]:
    pages = clients.stepfunctions.get_paginator("get_execution_history")
    return [e for page in pages.paginate(executionArn=execution) for e in page["events"]]


def _detail(events: list[dict[str, Any]], kind: str, field: str, name: str | None = None) -> Any:
    """The JSON of ``field`` in the first ``kind`` event (of the state ``name``)."""
    for event in events:
        details: dict[str, Any] = next(
            (v for k, v in event.items() if k.endswith("EventDetails")), {}
        )
        if event["type"] == kind and (name is None or details.get("name", name) == name):
            return json.loads(details[field])
    raise AssertionError(f"no {kind} event in {[e['type'] for e in events]}")


def assert_states_are_as_computed(
    clients: AwsClients, proof: dict[str, Any], run_id: str, bucket: str
) -> None:
    """The execution input and every state in the parent execution's history, measured,
    against ``measure_fanout`` on the state machine's definition and the run's own input."""
    execution = proof["fanout"]["execution"]
    machine = execution.rsplit(":", 1)[0].replace(":execution:", ":stateMachine:")
    described = clients.stepfunctions.describe_state_machine(stateMachineArn=machine)
    definition = json.loads(described["definition"])
    events = _events(clients, execution)
    started = _detail(events, "ExecutionStarted", "input")
    fanout = FanOut(
        run_id=run_id, seed=SEED, shards=SHARDS, rows=ROWS, layer_sha256=proof["layer"]["sha256"]
    )
    assert started == fanout.execution_input(bucket=bucket, prefix="automated-analysis")
    reduced = _detail(events, "TaskStateExited", "output", "Reduce")
    report = measure_fanout(
        definition, execution_input=started, items=fanout.items(), responses={"Reduce": reduced}
    )
    measured = {
        "execution input": started,
        "Shards: input": _detail(events, "MapStateEntered", "input"),
        "Shards: output": _detail(events, "MapStateExited", "output"),
        "Reduce: input": _detail(events, "TaskStateEntered", "input", "Reduce"),
        "Reduce: task input (Parameters)": _detail(events, "TaskScheduled", "parameters"),
        "Reduce: output": reduced,
        "execution output": _detail(events, "ExecutionSucceeded", "output"),
    }
    for what, document in measured.items():
        assert report.get(what).value == json_bytes(document), (what, document)
    result = json_bytes(_detail(events, "TaskSucceeded", "output"))
    assert result <= report.get("Reduce: task result (with the invoke's metadata)").value
    assert len(events) <= report.get("execution history").value
    assert report.exceeded == []


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
    clients.s3.put_object(Bucket=bucket, Key="in/part-3.csv", Body=b"")  # skipped, and said
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
    assert proof["fanout"]["skipped"] == ["in/part-3.csv"]
    assert "skipped 1 empty CSV object under" in err and "in/part-3.csv" in err
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
    validate_asl(fanout["state_machine"]["definition"])
    assert fanout["execution"].startswith("start arn:aws:states:us-east-1:")
    assert fanout["quotas"]["within_quotas"] is True
    assert fanout["quotas"]["largest_state"]["bytes"] < 262_144 // 8
    assert fanout["parameters"]["shards"] == 3
    assert fanout["states_role"] == f"create {function}-fanout-role"
    assert {s["Sid"] for s in fanout["states_policy"]["Statement"]} >= {"InvokeTheFunction"}
    assert any("/shards/" in str(s["Resource"]) for s in plan["policy"]["Statement"])
    machines = clients.stepfunctions.list_state_machines()["stateMachines"]
    assert not [m for m in machines if m["name"] == f"{function}-fanout"]
    with pytest.raises(clients.iam.exceptions.NoSuchEntityException):
        clients.iam.get_role(RoleName=f"{function}-fanout-role")


def _role(clients: AwsClients, service: str) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        ],
    }
    name = f"given-{uuid.uuid4().hex[:8]}"
    created = clients.iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    return str(created["Role"]["Arn"])


def test_dry_run_of_an_input_run_with_given_roles_plans_a_valid_definition(
    seed_build: dict[str, Any],
    clients: AwsClients,
    bucket: str,
    aws_env: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Input mode, both roles given (no --create-role): the same valid definition, no states
    policy of layerforge's, the inputs' parameters in the plan."""
    clients.s3.put_object(Bucket=bucket, Key="in/a.csv", Body=_csv((0, 100)))
    function = f"fan-{uuid.uuid4().hex[:8]}"
    code, plan, err = run_cli(
        capsys,
        *_argv(seed_build["output"], bucket, aws_env, function),
        "--role-arn",
        _role(clients, "lambda.amazonaws.com"),
        "--states-role-arn",
        (states_role := _role(clients, "states.amazonaws.com")),
        "--input",
        f"s3://{bucket}/in/",
        "--dry-run",
        "--json",
    )
    assert code == 0, (plan, err)
    fanout = plan["fanout"]
    validate_asl(fanout["state_machine"]["definition"])
    assert fanout["states_role"] == states_role and "states_policy" not in fanout
    assert fanout["parameters"]["input"] == f"s3://{bucket}/in/"
    assert fanout["quotas"]["within_quotas"] is True


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
    (folder / "d.csv").write_bytes(b"")  # empty: no shard, and the report says so
    code, proof, err = run_cli(
        capsys, "invoke-local", "--layer", seed_build["output"], "--input", str(folder), "--json"
    )
    assert code == 1, (proof, err[-2000:])
    assert [s["status"] for s in proof["shards"]] == ["ok", "failed", "ok"]
    assert "b.csv" not in json.dumps(proof["shards"][0])
    assert [key.rsplit("/", 1)[-1] for key in proof["fanout"]["skipped"]] == ["d.csv"]
    assert "skipped 1 empty CSV object" in err
    execution = next(c for c in proof["checks"] if c["name"] == "execution")
    assert "shard 1 of 3 failed" in execution["evidence"]
    stored = [a["key"] for a in proof["artifacts"] if "bytes" in a]  # found in S3, not just sought
    assert not any(key.endswith(("/stats.json", "/plot.png")) for key in stored)


@dataclass
class _Interrupted:
    code: int
    out: str
    err: str
    reaction: float  # seconds from the signal to the exit

    def document(self) -> Any:
        return json.loads(self.out)


def _interrupt_when(
    args: list[str], pattern: str, *, answer: str | None = None, timeout: float = 900.0
) -> _Interrupted:
    """The installed ``layerforge ARGS`` in its own session, sent a real SIGINT when its
    stderr matches ``pattern``; with ``answer``, its stdin is a terminal (a pty) and the
    answer is typed when it asks. Nothing of its session may be left running."""
    stdin: int = subprocess.DEVNULL
    terminal = None
    if answer is not None:
        terminal, stdin = pty.openpty()
    process = subprocess.Popen(
        [*command(), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=stdin,
        start_new_session=True,
    )
    if terminal is not None:
        os.close(stdin)
    assert process.stderr is not None and process.stdout is not None
    err, signalled, deadline = "", 0.0, time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([process.stderr], [], [], 0.1)[0]:
            chunk = os.read(process.stderr.fileno(), 65536)
            if not chunk:
                break
            err += chunk.decode(errors="replace")
        if not signalled and re.search(pattern, err):
            os.kill(process.pid, signal.SIGINT)
            signalled = time.monotonic()
        if terminal is not None and answer and signalled and "stop it?" in err:
            os.write(terminal, f"{answer}\n".encode())
            answer = None
    else:
        os.killpg(process.pid, signal.SIGKILL)
    out = process.stdout.read().decode(errors="replace")
    process.wait()
    ended = time.monotonic()
    process.stdout.close()
    process.stderr.close()
    if terminal is not None:
        os.close(terminal)
    assert signalled, err[-3000:]
    time.sleep(0.2)
    assert processes_in_session(process.pid) == []
    return _Interrupted(process.returncode, out, err, ended - signalled)


def test_an_interrupted_wait_says_what_it_leaves_and_a_rerun_picks_it_up(
    seed_build: dict[str, Any],
    clients: AwsClients,
    bucket: str,
    aws_env: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Ctrl-C while the fan-out runs on AWS (a real SIGINT to the installed command): exit
    130 within 2 s, naming the execution that keeps running and how to stop it; a rerun of
    the run id waits for that execution instead of starting a second; with
    --stop-on-interrupt, or a yes at the terminal's question, the execution is stopped."""
    function = f"fan-{uuid.uuid4().hex[:8]}"
    run_id = f"sig-{uuid.uuid4().hex[:8]}"
    argv = _argv(
        seed_build["output"],
        bucket,
        aws_env,
        function,
        *("--layer-name", f"layer-{function}", "--create-role", "--shards", "2"),
        *("--event", json.dumps({"rows": 2_000, "seed": SEED})),
    )
    run = _interrupt_when([*argv, "--run-id", run_id, "--json"], "started exec")
    assert run.code == 130, run
    execution = f"arn:aws:states:{REGION}:123456789012:execution:{function}-fanout:{run_id}"
    document = run.document()
    assert document["error"] == (
        f"interrupted by SIGINT: the execution {execution} keeps running on AWS"
    )
    assert f"aws stepfunctions stop-execution --execution-arn {execution}" in document["hint"]
    assert f"rerun with --run-id {run_id} to wait for it" in document["hint"]
    assert run.reaction < 2.0, run.reaction
    assert _executions(clients, execution) == [run_id]

    # the rerun waits for the execution still running (or reports it, had it finished)
    code, proof, err = run_cli(capsys, *argv, "--run-id", run_id, "--json")
    assert code == 0, (proof, err[-3000:])
    assert proof["fanout"]["reused"] is True and proof["fanout"]["execution"] == execution
    assert re.search(r"reusing the (running|succeeded) execution", err)
    assert _executions(clients, execution) == [run_id]

    # --stop-on-interrupt stops it, and so does a yes at a terminal
    for how, extra, answer in (
        ("flag", ["--stop-on-interrupt", "--json"], None),
        ("asked", [], "y"),
    ):
        stopped_id = f"{how}-{uuid.uuid4().hex[:8]}"
        run = _interrupt_when(
            [*argv, "--run-id", stopped_id, *extra], "started exec", answer=answer
        )
        assert run.code == 130, run
        aborted = execution.replace(f":{run_id}", f":{stopped_id}")
        message = f"interrupted by SIGINT: the execution {aborted} was stopped (StopExecution)"
        assert f"ERROR {message}" in run.err, run.err[-3000:]
        if answer is None:
            assert run.document()["error"] == message and run.reaction < 2.0, run.reaction
        else:
            assert f"the execution {aborted} keeps running on AWS: stop it? [y/N]" in run.err
        status = clients.stepfunctions.describe_execution(executionArn=aborted)["status"]
        # the message above is printed once StopExecution answered; moto's Map executor, stopped
        # mid-iteration, sometimes ends FAILED ("pop from empty list") instead of ABORTED
        assert status in ("ABORTED", "FAILED"), status
