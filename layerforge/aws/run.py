"""publish-and-invoke and cleanup: the steps in order, each one reusing what a rerun finds."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.exceptions

from layerforge.aws.clients import AWS_ERRORS, AwsClients, aws_error, error_code
from layerforge.aws.deploy import FunctionConfig, check_environment, deploy_function
from layerforge.aws.invoke import InvocationResult, invoke_function
from layerforge.aws.proof import Outcome, ProofReport, check_all, check_logs
from layerforge.aws.publish import PublishedLayer, publish_layer
from layerforge.aws.role import POLICY_NAME, ensure_role, execution_policy
from layerforge.errors import CheckFailedError, UsageError
from layerforge.events import Event, EventKind, EventSink, emit_to
from layerforge.functions import HANDLER, package_function
from layerforge.runtimes import Architecture, Runtime
from layerforge.verify import Severity, verify_layer

__all__ = [
    "CleanupResult",
    "ProofRun",
    "cleanup",
    "dry_run_plan",
    "proof_log_lines",
    "publish_and_invoke",
]

_TAIL_LIMIT = 4000  # Lambda returns the last 4 KB of the log with LogType=Tail


@dataclass(frozen=True, kw_only=True)
class ProofRun:
    """Everything publish-and-invoke needs to know."""

    layer: Path
    bucket: str
    runtime: Runtime
    architecture: Architecture
    function_name: str = "layerforge-analytics"
    layer_name: str = "layerforge-analytics"
    prefix: str = "automated-analysis"
    role_arn: str | None = None
    create_role: bool = False
    role_name: str | None = None
    memory_mb: int = 1024
    timeout_s: int = 300
    ephemeral_mb: int = 512
    event: Mapping[str, Any] = field(default_factory=lambda: {"rows": 10_000})
    environment: Mapping[str, str] = field(default_factory=dict)
    function_zip: Path | None = None
    handler: str = HANDLER

    @property
    def effective_role_name(self) -> str:
        return self.role_name or f"{self.function_name}-role"


def _account(clients: AwsClients) -> str:
    try:
        return str(clients.sts.get_caller_identity()["Account"])
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
        return "ACCOUNT_ID"


def _policy(run: ProofRun, clients: AwsClients) -> dict[str, Any]:
    return execution_policy(
        bucket=run.bucket,
        prefix=run.prefix,
        function=run.function_name,
        region=clients.region,
        account=_account(clients),
        partition=clients.partition,
    )


def dry_run_plan(run: ProofRun, clients: AwsClients) -> dict[str, Any]:
    """What publish-and-invoke would do, with the generated policy; nothing is changed."""
    _validate(run)
    return {
        "layer": str(run.layer),
        "layer_name": run.layer_name,
        "function_name": run.function_name,
        "role": run.role_arn or f"create or reuse {run.effective_role_name}",
        "policy_name": POLICY_NAME,
        "policy": _policy(run, clients),
        "environment": _environment(run),
        "event": dict(run.event),
    }


def _environment(run: ProofRun) -> dict[str, str]:
    return {**run.environment, "ARTIFACT_BUCKET": run.bucket, "ARTIFACT_PREFIX": run.prefix}


def _validate(run: ProofRun) -> None:
    if bool(run.role_arn) == bool(run.create_role):
        raise UsageError("give exactly one of --role-arn and --create-role")
    check_environment(run.environment)


def _step(sink: EventSink, name: str, message: str) -> None:
    sink(Event(EventKind.NOTE, "aws", f"{name}: {message}"))


def _verify(run: ProofRun, sink: EventSink) -> None:
    report = verify_layer([run.layer], run.runtime, run.architecture)
    if not report.passed:
        errors = [f"{f.file}: {f.message}" for f in report.findings if f.severity is Severity.ERROR]
        raise CheckFailedError(
            f"{run.layer} would not load on {run.runtime.name}/{run.architecture.value}; "
            "nothing was sent to AWS",
            hint="see layerforge verify-abi for every finding",
            details="\n".join(errors[:10]),
        )
    _step(sink, "verify", report.summary)


def _function_code(run: ProofRun) -> bytes:
    if run.function_zip is not None:
        return run.function_zip.read_bytes()
    with tempfile.TemporaryDirectory(prefix="layerforge-function-") as scratch:
        archive = package_function(Path(scratch) / "function.zip")
        return archive.path.read_bytes()


def _role(run: ProofRun, clients: AwsClients) -> tuple[str, bool]:
    if run.role_arn:
        return run.role_arn, False
    return ensure_role(clients.iam, run.effective_role_name, _policy(run, clients))


def _cloudwatch_lines(clients: AwsClients, function: str, request_id: str) -> list[str]:
    try:
        found = clients.logs.filter_log_events(
            logGroupName=f"/aws/lambda/{function}", filterPattern=f'"{request_id}"'
        )
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
        return []
    return [str(e.get("message", "")).rstrip("\n") for e in found.get("events", [])]


def proof_log_lines(clients: AwsClients, function: str, result: InvocationResult) -> list[str]:
    """The tail, or CloudWatch Logs when the 4 KB tail was cut before the milestones."""
    lines = result.log_lines
    if check_logs(lines).passed or len(result.log_tail) < _TAIL_LIMIT or not result.request_id:
        return lines
    return _cloudwatch_lines(clients, function, result.request_id) or lines


def _details(
    layer: PublishedLayer, function: Any, role: tuple[str, bool], result: InvocationResult
) -> dict[str, Any]:
    return {
        "layer": {
            "arn": layer.version_arn,
            "version": layer.version,
            "sha256": layer.sha256,
            "reused": layer.reused,
            "via_s3": layer.via_s3,
        },
        "function": {"name": function.name, "arn": function.arn, "created": function.created},
        "role": {"arn": role[0], "created": role[1]},
        "invocation": {
            "request_id": result.request_id,
            "status_code": result.status_code,
            "function_error": result.function_error,
            **result.metrics,
        },
    }


def publish_and_invoke(
    run: ProofRun, clients: AwsClients, *, on_event: EventSink | None = None
) -> ProofReport:
    """Verify, publish (deduplicated), role, deploy, invoke, and check the proof."""
    sink = emit_to(on_event)
    _validate(run)
    _verify(run, sink)
    doing = "publishing the layer"
    try:
        layer = publish_layer(
            clients.lambda_,
            clients.s3,
            layer=run.layer,
            name=run.layer_name,
            runtime=run.runtime,
            arch=run.architecture,
            staging_bucket=run.bucket,
        )
        how = "reused" if layer.reused else ("published via S3" if layer.via_s3 else "published")
        _step(sink, "layer", f"{how} {layer.version_arn}")
        doing = "preparing the execution role"
        role = _role(run, clients)
        _step(sink, "role", f"{'created' if role[1] else 'using'} {role[0]}")
        doing = "deploying the function"
        config = FunctionConfig(
            name=run.function_name,
            role_arn=role[0],
            runtime=run.runtime,
            architecture=run.architecture,
            handler=run.handler,
            memory_mb=run.memory_mb,
            timeout_s=run.timeout_s,
            ephemeral_mb=run.ephemeral_mb,
            environment=_environment(run),
            layers=(layer.version_arn,),
        )
        function = deploy_function(clients.lambda_, config, _function_code(run))
        _step(sink, "function", f"{'created' if function.created else 'updated'} {function.arn}")
        doing = "invoking the function"
        result = invoke_function(clients.lambda_invoke, run.function_name, run.event)
        _step(sink, "invoke", f"status {result.status_code}, request {result.request_id}")
        doing = "checking the artifacts"
        outcome = Outcome(
            result.status_code,
            result.function_error,
            result.payload,
            proof_log_lines(clients, run.function_name, result),
        )
        report = check_all(outcome, clients.s3, run.prefix)
    except AWS_ERRORS as exc:
        raise aws_error(exc, doing) from None
    report.details = _details(layer, function, role, result)
    return report


@dataclass(frozen=True)
class CleanupResult:
    deleted_layer_versions: list[int]
    kept_layer_versions: list[int]
    deleted_function: bool
    deleted_role: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "deleted_layer_versions": self.deleted_layer_versions,
            "kept_layer_versions": self.kept_layer_versions,
            "deleted_function": self.deleted_function,
            "deleted_role": self.deleted_role,
        }


def _gone(delete: Callable[[], object], missing: str) -> bool:
    """Run ``delete``; False when the thing was already gone (error code ``missing``)."""
    try:
        delete()
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) == missing:
            return False
        raise
    return True


def _delete_role(iam: Any, name: str) -> bool:
    def delete() -> None:
        for policy in iam.list_role_policies(RoleName=name).get("PolicyNames", []):
            iam.delete_role_policy(RoleName=name, PolicyName=policy)
        iam.delete_role(RoleName=name)

    return _gone(delete, "NoSuchEntity")


def _delete_function(lambda_: Any, name: str) -> bool:
    return _gone(lambda: lambda_.delete_function(FunctionName=name), "ResourceNotFoundException")


def cleanup(
    clients: AwsClients,
    *,
    layer_name: str,
    keep: int,
    function_name: str | None = None,
    role_name: str | None = None,
) -> CleanupResult:
    """Delete layer versions older than the newest ``keep``; optionally the function and role."""
    if keep < 0:
        raise UsageError("--keep must be 0 or more")
    try:
        paginator = clients.lambda_.get_paginator("list_layer_versions")
        versions = sorted(
            (
                int(v["Version"])
                for page in paginator.paginate(LayerName=layer_name)
                for v in page.get("LayerVersions", [])
            ),
            reverse=True,
        )
        doomed = versions[keep:]
        for version in doomed:
            clients.lambda_.delete_layer_version(LayerName=layer_name, VersionNumber=version)
        deleted_function = (
            _delete_function(clients.lambda_, function_name) if function_name else False
        )
        deleted_role = _delete_role(clients.iam, role_name) if role_name else False
    except AWS_ERRORS as exc:
        raise aws_error(exc, "cleaning up") from None
    return CleanupResult(doomed, versions[:keep], deleted_function, deleted_role)


def parse_event(text: str | None) -> dict[str, Any]:
    if not text:
        return {"rows": 10_000}
    try:
        event = json.loads(Path(text[1:]).read_text() if text.startswith("@") else text)
    except (OSError, ValueError) as exc:
        raise UsageError(f"--event is not a JSON object: {exc}") from None
    if not isinstance(event, dict):
        raise UsageError("--event must be a JSON object")
    return event
