"""publish-and-invoke: pre-flight, then publish (deduplicated), role, deploy, invoke and prove.

Each step reuses what a rerun finds (the layer version with the same sha256, the role, the
function), so a failed run leaves nothing that the next run cannot pick up.
"""

from __future__ import annotations

from typing import Any

import botocore.exceptions

from layerforge.aws.clients import AwsClients, aws_step
from layerforge.aws.deploy import DeployedFunction, FunctionConfig, deploy_function
from layerforge.aws.invoke import InvocationResult, invoke_function
from layerforge.aws.preflight import Preflight, ProofRun, policy_for, preflight
from layerforge.aws.publish import PublishedLayer, publish_layer
from layerforge.aws.role import ensure_role
from layerforge.events import Event, EventKind, EventSink, emit_to
from layerforge.proof import Outcome, ProofReport, check_all, check_logs
from layerforge.proof.inputs import upload_inputs

__all__ = ["dry_run_plan", "proof_log_lines", "publish_and_invoke"]

_TAIL_LIMIT = 4000  # Lambda returns the last 4 KB of the log with LogType=Tail


def _step(sink: EventSink, name: str, message: str) -> None:
    sink(Event(EventKind.NOTE, "aws", f"{name}: {message}"))


def dry_run_plan(run: ProofRun, clients: AwsClients) -> dict[str, Any]:
    """What publish-and-invoke would do, after the same pre-flight; nothing is changed."""
    return preflight(run, clients).plan(run)


def _role(run: ProofRun, clients: AwsClients, checked: Preflight) -> tuple[str, bool]:
    if run.role_arn:
        return run.role_arn, False
    policy = checked.policy or policy_for(run, clients, checked.account)
    return ensure_role(clients.iam, run.effective_role_name, policy)


def _cloudwatch_lines(clients: AwsClients, function: str, request_id: str) -> list[str]:
    try:
        found = clients.logs.filter_log_events(
            logGroupName=f"/aws/lambda/{function}", filterPattern=f'"{request_id}"'
        )
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
        return []
    return [str(e.get("message", "")).rstrip("\n") for e in found.get("events", [])]


def proof_log_lines(run: ProofRun, clients: AwsClients, result: InvocationResult) -> list[str]:
    """The tail, or CloudWatch Logs when the 4 KB tail was cut before the milestones."""
    lines = result.log_lines
    enough = check_logs(lines, run.proof, run.templates(clients.region)).passed
    if enough or len(result.log_tail) < _TAIL_LIMIT or not result.request_id:
        return lines
    return _cloudwatch_lines(clients, run.function_name, result.request_id) or lines


def _details(
    layer: PublishedLayer,
    function: DeployedFunction,
    role: tuple[str, bool],
    result: InvocationResult,
    run: ProofRun,
) -> dict[str, Any]:
    return {
        "layer": {
            "arn": layer.version_arn,
            "version": layer.version,
            "sha256": layer.sha256,
            "reused": layer.reused,
            "via_s3": layer.via_s3,
        },
        "function": {
            "name": function.name,
            "arn": function.arn,
            "created": function.created,
            "code": run.function.label,
        },
        "role": {"arn": role[0], "created": role[1]},
        "invocation": {
            "request_id": result.request_id,
            "status_code": result.status_code,
            "function_error": result.function_error,
            **result.metrics,
        },
        "proof_spec": run.proof.source,
        **({"notes": list(run.proof.notes)} if run.proof.notes else {}),
    }


def publish_and_invoke(
    run: ProofRun, clients: AwsClients, *, on_event: EventSink | None = None
) -> ProofReport:
    """Pre-flight, publish (deduplicated), role, deploy, invoke, and check the proof."""
    sink = emit_to(on_event)
    checked = preflight(run, clients)
    _step(sink, "pre-flight", checked.verification)
    with aws_step("uploading the function's inputs"):
        uploaded = upload_inputs(clients.s3, run.proof, run.templates(clients.region))
    for item in uploaded:
        _step(sink, "input", f"s3://{item['bucket']}/{item['key']} from {item['file']}")
    with aws_step("publishing the layer"):
        layer = publish_layer(
            clients.lambda_,
            clients.s3,
            layer=run.layer,
            sha256=checked.sha256,
            name=run.layer_name,
            runtimes=[run.runtime],
            architectures=[run.architecture],
            staging_bucket=run.bucket,
            region=clients.region,
        )
    how = "reused" if layer.reused else ("published via S3" if layer.via_s3 else "published")
    _step(sink, "layer", f"{how} {layer.version_arn}")
    with aws_step("preparing the execution role"):
        role = _role(run, clients, checked)
    _step(sink, "role", f"{'created' if role[1] else 'using'} {role[0]}")
    config = FunctionConfig(
        name=run.function_name,
        role_arn=role[0],
        runtime=run.runtime,
        architecture=run.architecture,
        handler=run.function.handler,
        memory_mb=run.memory_mb,
        timeout_s=run.timeout_s,
        ephemeral_mb=run.ephemeral_mb,
        environment=run.function_environment(),
        layers=(layer.version_arn,),
    )
    with aws_step("deploying the function"):
        function = deploy_function(clients.lambda_, config, run.function.code(), new_role=role[1])
    _step(sink, "function", f"{'created' if function.created else 'updated'} {function.arn}")
    with aws_step("invoking the function"):
        result = invoke_function(clients.lambda_invoke, run.function_name, run.event)
    _step(sink, "invoke", f"status {result.status_code}, request {result.request_id}")
    with aws_step("checking the proof"):
        outcome = Outcome(
            result.status_code,
            result.function_error,
            result.payload,
            proof_log_lines(run, clients, result),
        )
        report = check_all(outcome, clients.s3, run.proof, run.templates(clients.region))
    report.details = _details(layer, function, role, result, run)
    return report
