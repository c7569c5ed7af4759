"""Fan-out on AWS Step Functions: a Distributed Map runs the function once per shard (or once
per CSV object of an S3 prefix), then a reduce step merges the partial statistics.

The state machine, its definition and both roles are data built here; ``run_fanout`` starts an
execution named by the run id and waits for it. A shard that fails is retried by the state
machine's own retry policy; one that keeps failing fails the run (with the shard named), and the
reduce step writes nothing unless every shard's partial statistics are there. A run id that
already succeeded is not run again: its result is reported (reruns are idempotent); one still
running is waited for, never doubled; one started with other parameters is refused.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from layerforge.aws.clients import AWS_ERRORS, AwsClients, error_code
from layerforge.aws.quotas import QuotaReport, measure_fanout
from layerforge.aws_names import arn, partition_of_arn
from layerforge.errors import AwsError, CheckFailedError, ExecutionInterrupted, Interrupted
from layerforge.events import Event, EventKind, EventSink
from layerforge.fanout import SHARD_ATTEMPTS, FanOut, check_same_parameters, run_parameters
from layerforge.interrupts import deferred

__all__ = [
    "STATES_TRUST_POLICY",
    "FanOutResult",
    "check_rerun",
    "ensure_state_machine",
    "fanout_quotas",
    "machine_arn",
    "machine_exists",
    "read_scopes",
    "run_fanout",
    "state_machine_definition",
    "state_machine_policy",
    "stop_execution",
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
# AWS's recommended Retry set for Lambda tasks: its transient service errors (the page
# https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html), and
# throttling when the account's concurrency is reached
_LAMBDA_ERRORS = [
    "Lambda.ClientExecutionTimeoutException",
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


def _integration(partition: str, action: str) -> str:
    """A Step Functions service integration, ``arn:PARTITION:states:::lambda:invoke``."""
    return arn(partition, "states", action)


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
        "Resource": _integration(partition_of_arn(function_arn), "lambda:invoke"),
        "Parameters": parameters,
        "OutputPath": "$.Payload",
        "Retry": retry,
    }


def state_machine_definition(function_arn: str, max_concurrency: int) -> dict[str, Any]:
    """A Distributed Map over the run's item list (read from S3), then the reduce task.

    The same definition serves every run (synthetic shards or input objects): what differs
    is the execution's input and the item list it names. The shards' results are written to S3
    by the map's ResultWriter and dropped from the state (``ResultPath: null``), so no state
    grows with the number of shards; the reduce reads the partials from S3 by key. Every
    resource is in the function's own partition.
    """
    partition = partition_of_arn(function_arn)
    common = {f"{name}.$": f"$.{name}" for name in _COMMON}
    shard = {**_task(function_arn, "$", retry=_RETRY), "End": True}
    fan = {
        "Type": "Map",
        "ItemReader": {
            "Resource": _integration(partition, "s3:getObject"),
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
        "ResultWriter": {
            "Resource": _integration(partition, "s3:putObject"),
            # the context object: ResultWriter paths are read after the map, not from its input
            "Parameters": {
                "Bucket.$": "$$.Execution.Input.bucket",
                "Prefix.$": "$$.Execution.Input.results_prefix",
            },
        },
        "ResultPath": None,
        "Next": "Reduce",
    }
    reduce = {"mode": "reduce", **common}
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
    """Invoke exactly this function, read exactly the runs' item lists, write exactly the runs'
    map results, and run and watch this state machine's own child executions (what a
    Distributed Map needs)."""
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
                "Resource": arn(partition, "s3", f"{bucket}/{prefix}/*/items.json"),
            },
            {
                # the ResultWriter's own needs (AWS's Distributed Map policy examples)
                "Sid": "WriteMapResults",
                "Effect": "Allow",
                "Action": [
                    "s3:PutObject",
                    "s3:GetObject",
                    "s3:ListMultipartUploadParts",
                    "s3:AbortMultipartUpload",
                ],
                "Resource": arn(partition, "s3", f"{bucket}/{prefix}/*/map-results/*"),
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


def fanout_quotas(
    definition: dict[str, Any],
    fanout: FanOut,
    *,
    bucket: str,
    prefix: str,
    responses: dict[str, Any] | None = None,
) -> QuotaReport:
    """The run's states against Step Functions' and Lambda's quotas (what moto does not
    enforce), computed from the definition, the execution input and the items (and the
    functions' responses by state name, when known); a run that would exceed one is refused
    before anything is changed."""
    report = measure_fanout(
        definition,
        execution_input=fanout.execution_input(bucket=bucket, prefix=prefix),
        items=fanout.items(),
        responses=responses,
    )
    if report.exceeded:
        worst = report.exceeded[0]
        raise CheckFailedError(
            f"the fan-out over {fanout.label} would exceed a service quota: {worst.what} is "
            f"{worst.value:,} {worst.unit}, over {worst.quota:,}",
            hint="use fewer shards, shorter names (--prefix, --run-id) or smaller inputs",
            details="\n".join(f"{m.what}: {m.value:,} > {m.quota:,}" for m in report.exceeded),
        )
    return report


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
    return arn(
        clients.partition, "states", f"stateMachine:{name}", region=clients.region, account=account
    )


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


_GOING = ("RUNNING", "PENDING_REDRIVE")  # an execution that goes on: picked up, never doubled


@dataclass(frozen=True)
class _Previous:
    """What a run id already has on this state machine: the execution this run uses (a fresh
    attempt's name after failures), its status (None: to be started), and the parameters
    the run id's first execution was started with (None: no execution yet)."""

    execution: str
    status: str | None
    parameters: dict[str, Any] | None


def _previous(sfn: Any, machine: str, name: str) -> _Previous:
    base = f"{_executions(machine)}:{name}"
    parameters: dict[str, Any] | None = None
    for attempt in range(1, 100):
        execution = base if attempt == 1 else f"{base}-attempt{attempt}"
        try:
            found = sfn.describe_execution(executionArn=execution)
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) not in (
                "ExecutionDoesNotExist",
                "ResourceNotFound",
                "StateMachineDoesNotExist",
            ):
                raise
            return _Previous(execution, None, parameters)
        if parameters is None:
            parameters = run_parameters(json.loads(found.get("input") or "{}"))
        status = str(found["status"])
        if status == "SUCCEEDED" or status in _GOING:
            return _Previous(execution, status, parameters)
    raise AwsError(f"run {name} has failed 99 times", hint="choose another --run-id")


def _checked(sfn: Any, machine: str, fanout: FanOut, *, bucket: str, prefix: str) -> _Previous:
    """The run id's execution on this state machine; one started with other parameters than
    this run's is refused, naming both."""
    previous = _previous(sfn, machine, fanout.run_id)
    if previous.parameters is not None:
        check_same_parameters(
            fanout.run_id,
            previous.parameters,
            fanout.parameters(bucket=bucket, prefix=prefix),
            where=previous.execution.rsplit(":", 1)[1],
        )
    return previous


def check_rerun(
    clients: AwsClients, *, machine: str, fanout: FanOut, bucket: str, prefix: str
) -> str:
    """What a run of ``fanout.run_id`` will do on this state machine (start, reuse or wait);
    a run id whose earlier execution had other parameters is refused, naming both."""
    previous = _checked(clients.stepfunctions, machine, fanout, bucket=bucket, prefix=prefix)
    if previous.status is None:
        return f"start {previous.execution}"
    verb = "reuse the succeeded" if previous.status == "SUCCEEDED" else "wait for the running"
    return f"{verb} {previous.execution}"


def _put_items(clients: AwsClients, fanout: FanOut, *, bucket: str, prefix: str) -> None:
    clients.s3.put_object(
        Bucket=bucket,
        Key=fanout.items_key(prefix),
        Body=json.dumps(fanout.items()).encode(),
        ContentType="application/json",
    )


def stop_execution(clients: AwsClients, interrupted: ExecutionInterrupted) -> ExecutionInterrupted:
    """Stop the execution an interrupt left running (StopExecution): the interrupt, now saying
    whether it was stopped. A further signal waits for the stop call, which is never cut off."""
    failure: str | None = None
    try:
        with deferred():
            try:
                clients.stepfunctions.stop_execution(
                    executionArn=interrupted.execution,
                    error="layerforge.Interrupted",
                    cause=f"layerforge was interrupted by {interrupted.name}",
                )
            except AWS_ERRORS as exc:
                failure = str(exc)
    except Interrupted:
        pass  # held until the call returned; the first signal is the one reported
    return ExecutionInterrupted(
        interrupted.signum,
        execution=interrupted.execution,
        run_id=interrupted.run_id,
        stopped=failure is None,
        stop_error=failure,
    )


_POLL_SECONDS = 2.0  # a signal ends the sleep at once: the wait reacts in well under 2 s


def _wait(
    sfn: Any,
    execution: str,
    fanout: FanOut,
    *,
    deadline: float,
    wait_seconds: float,
    poll: Callable[[float], None],
) -> dict[str, Any]:
    """Poll the execution (in this thread: a signal ends the wait at once) until it ends."""
    while True:
        found: dict[str, Any] = sfn.describe_execution(executionArn=execution)
        if found["status"] not in _GOING:
            return found
        if time.monotonic() > deadline:
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
        poll(_POLL_SECONDS)


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
    execution: never a second one beside it), then wait for it, bounded by ``wait_seconds``.

    A signal during the wait raises ``ExecutionInterrupted``, which names the execution that
    goes on running on AWS (``stop_execution`` stops it)."""
    sfn = clients.stepfunctions
    started = time.monotonic()
    previous = _checked(sfn, machine, fanout, bucket=bucket, prefix=prefix)
    execution, status = previous.execution, previous.status
    note = fanout.skipped_note()
    if note:
        sink(Event(EventKind.NOTE, "fanout", note))
    going = status is not None
    try:
        if not going:
            _put_items(clients, fanout, bucket=bucket, prefix=prefix)
            with deferred():  # the start completes or never begins; a signal is raised after
                sfn.start_execution(
                    stateMachineArn=machine,
                    name=execution.rsplit(":", 1)[1],
                    input=json.dumps(fanout.execution_input(bucket=bucket, prefix=prefix)),
                )
                going = True
        how = "reusing the " + status.lower() if status else "started"
        sink(Event(EventKind.NOTE, "fanout", f"{how} execution {execution}"))
        found = _wait(
            sfn,
            execution,
            fanout,
            deadline=started + wait_seconds,
            wait_seconds=wait_seconds,
            poll=poll,
        )
    except Interrupted as signal_error:
        if not going:
            raise  # nothing was started: nothing goes on
        raise ExecutionInterrupted(
            signal_error.signum, execution=execution, run_id=fanout.run_id
        ) from None
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
