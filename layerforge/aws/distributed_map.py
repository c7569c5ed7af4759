"""Fan-out on AWS Step Functions: a Distributed Map runs the function once per shard (or once
per CSV object of an S3 prefix), then a reduce step merges the partial statistics.

The state machine, its definition and both roles are data built here; ``run_fanout`` starts an
execution named by the run id and waits for it. A shard that fails is retried by the state
machine's own retry policy; one that keeps failing fails the run (with the shard named), and the
reduce step writes nothing unless every shard's partial statistics are there. A run id that
already succeeded is not run again: its result is reported (reruns are idempotent).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from layerforge.aws.clients import AwsClients, error_code
from layerforge.errors import AwsError
from layerforge.events import Event, EventKind, EventSink
from layerforge.fanout import SHARD_ATTEMPTS, FanOut

__all__ = [
    "STATES_TRUST_POLICY",
    "FanOutResult",
    "ensure_state_machine",
    "machine_arn",
    "machine_exists",
    "read_scopes",
    "run_fanout",
    "state_machine_definition",
    "state_machine_policy",
]

STATES_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "states.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
_LAMBDA_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]
_BACKOFF = {"IntervalSeconds": 2, "MaxAttempts": SHARD_ATTEMPTS - 1, "BackoffRate": 2.0}
# the function's own failures are retried too: a shard that raises is tried SHARD_ATTEMPTS times
_RETRY: list[dict[str, Any]] = [{"ErrorEquals": [*_LAMBDA_ERRORS, "States.TaskFailed"], **_BACKOFF}]
# the reduce refuses missing partials for good; only Lambda's own hiccups are worth a retry
_RETRY_SERVICE: list[dict[str, Any]] = [{"ErrorEquals": _LAMBDA_ERRORS, **_BACKOFF}]
_COMMON = ("run", "shards", "rows", "seed", "bucket", "prefix")


def _task(
    function_arn: str, payload: dict[str, Any] | str, *, retry: list[dict[str, Any]]
) -> dict[str, Any]:
    parameters: dict[str, Any] = {"FunctionName": function_arn}
    if isinstance(payload, str):
        parameters["Payload.$"] = payload
    else:
        parameters["Payload"] = payload
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": parameters,
        "OutputPath": "$.Payload",
        "Retry": retry,
    }


def state_machine_definition(function_arn: str, max_concurrency: int) -> dict[str, Any]:
    """A Distributed Map over the run's item list (read from S3), then the reduce task.

    The same definition serves every run (synthetic shards or input objects): what differs
    is the execution's input and the item list it names.
    """
    common = {f"{name}.$": f"$.{name}" for name in _COMMON}
    shard = {**_task(function_arn, "$", retry=_RETRY), "End": True}
    fan = {
        "Type": "Map",
        "ItemReader": {
            "Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": {"InputType": "JSON"},
            "Parameters": {"Bucket.$": "$.bucket", "Key.$": "$.items_key"},
        },
        "ItemSelector": {
            "mode": "shard",
            **common,
            "shard.$": "$$.Map.Item.Value.shard",
            "input.$": "$$.Map.Item.Value.input",
        },
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "Shard",
            "States": {"Shard": shard},
        },
        "MaxConcurrency": max_concurrency,
        "ResultPath": "$.shard_results",
        "Next": "Reduce",
    }
    reduce = {"mode": "reduce", **common, "shard_results.$": "$.shard_results"}
    return {
        "Comment": "layerforge fan-out: the function once per item, then a reduce",
        "StartAt": "Shards",
        "States": {
            "Shards": fan,
            "Reduce": {**_task(function_arn, reduce, retry=_RETRY_SERVICE), "End": True},
        },
    }


def state_machine_policy(
    *, function_arn: str, state_machine_arn: str, bucket: str, prefix: str, partition: str
) -> dict[str, Any]:
    """Invoke exactly this function, read exactly the runs' item lists, and run and watch
    this state machine's own child executions (what a Distributed Map needs)."""
    executions = _executions(state_machine_arn) + "/*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "InvokeTheFunction",
                "Effect": "Allow",
                "Action": "lambda:InvokeFunction",
                "Resource": [function_arn, f"{function_arn}:*"],
            },
            {
                "Sid": "ReadItemLists",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": f"arn:{partition}:s3:::{bucket}/{prefix}/*/items.json",
            },
            {
                "Sid": "RunOwnMap",
                "Effect": "Allow",
                "Action": "states:StartExecution",
                "Resource": state_machine_arn,
            },
            {
                "Sid": "WatchOwnMap",
                "Effect": "Allow",
                "Action": ["states:DescribeExecution", "states:StopExecution"],
                "Resource": executions,
            },
        ],
    }


def read_scopes(fanout: FanOut, *, bucket: str, prefix: str) -> list[str]:
    """What the function's role gains for a fan-out (``bucket/prefix/`` scopes for
    s3:GetObject): the shards' partials for the reduce, and the input objects."""
    scopes = [f"{bucket}/{prefix}/*/shards/"]
    if fanout.input_bucket:
        scopes.append(f"{fanout.input_bucket}/{fanout.input_prefix}")
    return scopes


@dataclass
class FanOutResult:
    status: str
    output: Any
    error: str | None
    cause: str | None
    execution_arn: str
    reused: bool
    seconds: float


def machine_arn(clients: AwsClients, account: str, name: str) -> str:
    return f"arn:{clients.partition}:states:{clients.region}:{account}:stateMachine:{name}"


def _executions(machine: str) -> str:
    """The prefix of the ARNs of a state machine's executions."""
    return machine.replace(":stateMachine:", ":execution:")


def machine_exists(clients: AwsClients, arn: str) -> bool:
    try:
        clients.stepfunctions.describe_state_machine(stateMachineArn=arn)
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) in ("StateMachineDoesNotExist", "ResourceNotFound"):
            return False
        raise
    return True


def ensure_state_machine(
    clients: AwsClients, *, name: str, account: str, definition: dict[str, Any], role_arn: str
) -> tuple[str, bool]:
    """Create the state machine, or update the one a previous run made. (arn, created)"""
    sfn = clients.stepfunctions
    arn = machine_arn(clients, account, name)
    if machine_exists(clients, arn):
        sfn.update_state_machine(
            stateMachineArn=arn, definition=json.dumps(definition), roleArn=role_arn
        )
        return arn, False
    created = sfn.create_state_machine(
        name=name,
        definition=json.dumps(definition),
        roleArn=role_arn,
        type="STANDARD",
        tags=[{"key": "managed-by", "value": "layerforge"}],
    )
    return str(created["stateMachineArn"]), True


def _previous(sfn: Any, machine: str, name: str) -> tuple[str, str | None]:
    """The execution this run would start (a fresh attempt name after failures), or the one
    that already succeeded or still runs: (arn, its status or None)."""
    base = f"{_executions(machine)}:{name}"
    for attempt in range(1, 100):
        execution = base if attempt == 1 else f"{base}-attempt{attempt}"
        try:
            status = str(sfn.describe_execution(executionArn=execution)["status"])
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) not in ("ExecutionDoesNotExist", "ResourceNotFound"):
                raise
            return execution, None
        if status in ("SUCCEEDED", "RUNNING"):
            return execution, status
    raise AwsError(f"run {name} has failed 99 times", hint="choose another --run-id")


def run_fanout(
    clients: AwsClients,
    *,
    machine: str,
    fanout: FanOut,
    bucket: str,
    prefix: str,
    sink: EventSink,
    wait_seconds: float,
    poll: Callable[[float], None] = time.sleep,
) -> FanOutResult:
    """Write the item list and start the run (or reuse the run id's finished or running
    execution), then wait for it, bounded by ``wait_seconds``."""
    sfn = clients.stepfunctions
    started = time.monotonic()
    execution, status = _previous(sfn, machine, fanout.run_id)
    if status is None:
        clients.s3.put_object(
            Bucket=bucket,
            Key=fanout.items_key(prefix),
            Body=json.dumps(fanout.items()).encode(),
            ContentType="application/json",
        )
        document = fanout.common(bucket=bucket, prefix=prefix)
        document["items_key"] = fanout.items_key(prefix)
        sfn.start_execution(
            stateMachineArn=machine,
            name=execution.rsplit(":", 1)[1],
            input=json.dumps(document),
        )
    how = "started" if status is None else f"reusing the {status.lower()}"
    sink(Event(EventKind.NOTE, "fanout", f"{how} execution {execution}"))
    while True:
        found = sfn.describe_execution(executionArn=execution)
        if found["status"] != "RUNNING":
            break
        if time.monotonic() - started > wait_seconds:
            sfn.stop_execution(
                executionArn=execution,
                error="layerforge.Timeout",
                cause=f"no result within {wait_seconds:.0f} s",
            )
            raise AwsError(
                f"the fan-out run {fanout.run_id} did not finish within {wait_seconds:.0f} s; "
                "it was stopped",
                hint="rerun with the same --run-id (finished shards are rewritten identically), "
                "or use more shards",
            )
        poll(2.0)
    output = json.loads(found["output"]) if found.get("output") else None
    return FanOutResult(
        status=str(found["status"]),
        output=output,
        error=found.get("error"),
        cause=found.get("cause"),
        execution_arn=execution,
        reused=status is not None,
        seconds=time.monotonic() - started,
    )
