"""publish-and-invoke: pre-flight, then publish (deduplicated), role, deploy, invoke and prove.

Each step reuses what a rerun finds (the layer version with the same sha256, the role, the
function, all of them only when layerforge made them), so a failed run leaves nothing that the
next run cannot pick up, and two runs that meet converge. Where the same inputs were already
proven, a rerun reports that proof and changes nothing (``aws/proven.py``), as ``publish``
publishes only where the layer is missing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import botocore.exceptions

from layerforge.aws.clients import AWS_ERRORS, AwsClients, aws_error, aws_step, error_code
from layerforge.aws.deploy import DeployedFunction, deploy_function
from layerforge.aws.distributed_map import (
    STATES_TRUST_POLICY,
    FanOutResult,
    ensure_state_machine,
    machine_arn,
    run_fanout,
    state_machine_definition,
)
from layerforge.aws.invoke import InvocationResult, invoke_function
from layerforge.aws.ownership import refuse_machine, tags_of_machine
from layerforge.aws.preflight import (
    Preflight,
    ProofRun,
    function_arn,
    policy_for,
    preflight,
)
from layerforge.aws.proven import forget_proof, record_proof
from layerforge.aws.publish import PublishedLayer, publish_layer
from layerforge.aws.regions import regions_failed
from layerforge.aws.role import EnsuredRole, ensure_role
from layerforge.errors import EXIT_CHECK_FAILED, EXIT_OK, LayerforgeError, RegionsFailedError
from layerforge.events import Event, EventKind, EventSink, emit_to
from layerforge.fanout import (
    FanOut,
    fanout_outcome,
    missing_partials,
    shard_errors,
    shard_reports,
    shard_section,
)
from layerforge.interrupts import WorkerPool
from layerforge.proof import Check, Outcome, ProofReport, check_all, check_logs
from layerforge.proof.inputs import upload_inputs

__all__ = [
    "RegionsProof",
    "dry_run_plan",
    "proof_log_lines",
    "prove_everywhere",
    "publish_and_invoke",
]

_TAIL_LIMIT = 4000  # Lambda returns the last 4 KB of the log with LogType=Tail


def _step(sink: EventSink, name: str, message: str) -> None:
    sink(Event(EventKind.NOTE, "aws", f"{name}: {message}"))


def dry_run_plan(run: ProofRun, clients: AwsClients) -> dict[str, Any]:
    """What publish-and-invoke would do, after the same pre-flight; nothing is changed."""
    return preflight(run, clients).plan(run)


def _role(run: ProofRun, clients: AwsClients, checked: Preflight) -> EnsuredRole:
    if run.role_arn:
        return EnsuredRole(run.role_arn, created=False, fresh=False)
    policy = checked.policy or policy_for(run, clients, checked.account, checked.fanout)
    return ensure_role(clients.iam, run.effective_role_name, policy, function=run.function_name)


def _cloudwatch_lines(
    clients: AwsClients, function: str, term: str, *, since_ms: int | None = None
) -> list[str]:
    """The function's log lines that mention ``term`` (a request or run id)."""
    arguments: dict[str, Any] = {
        "logGroupName": f"/aws/lambda/{function}",
        "filterPattern": f'"{term}"',
    }
    if since_ms is not None:
        arguments["startTime"] = since_ms
    lines: list[str] = []
    try:
        for page in clients.logs.get_paginator("filter_log_events").paginate(**arguments):
            lines += [str(e.get("message", "")).rstrip("\n") for e in page.get("events", [])]
            if len(lines) > 100_000:
                break
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
        return lines
    return lines


def proof_log_lines(run: ProofRun, clients: AwsClients, result: InvocationResult) -> list[str]:
    """The tail, or CloudWatch Logs when the 4 KB tail was cut before the milestones."""
    lines = result.log_lines
    enough = check_logs(lines, run.proof, run.templates(clients.region)).passed
    if enough or len(result.log_tail) < _TAIL_LIMIT or not result.request_id:
        return lines
    return _cloudwatch_lines(clients, run.function_name, result.request_id) or lines


def _common_details(
    layer: PublishedLayer, function: DeployedFunction, role: EnsuredRole, run: ProofRun
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
        "role": {"arn": role.arn, "created": role.created},
        "proof_spec": run.proof.source,
        **({"notes": list(run.proof.notes)} if run.proof.notes else {}),
    }


def _details(
    layer: PublishedLayer,
    function: DeployedFunction,
    role: EnsuredRole,
    result: InvocationResult,
    run: ProofRun,
) -> dict[str, Any]:
    return {
        **_common_details(layer, function, role, run),
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
    """Pre-flight, publish (deduplicated), role, deploy, invoke, and check the proof."""
    sink = emit_to(on_event)
    checked = preflight(run, clients)
    _step(sink, "pre-flight", checked.verification)
    if checked.proven is not None:
        _step(sink, "proof", checked.proof_action())
        return _already_proven(run, checked)
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
    _step(sink, "role", f"{'created' if role.created else 'using'} {role.arn}")
    config = run.function_config(role.arn, layer.version_arn)
    with aws_step("deploying the function"):
        if checked.recorded and checked.function_arn:  # it changes: its old proof is void
            forget_proof(clients.lambda_, checked.function_arn)
        function = deploy_function(clients.lambda_, config, checked.code, new_role=role.fresh)
    _step(sink, "function", f"{'created' if function.created else 'updated'} {function.arn}")
    if checked.fanout is not None:
        deployed = (layer, function, role)
        return _fan_out(run, clients, checked, checked.fanout, sink=sink, deployed=deployed)
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
    if report.passed:
        _record(clients, function.arn, checked.digest, result.request_id, sink)
    return report


def _record(clients: AwsClients, arn: str, digest: str, request_id: str, sink: EventSink) -> None:
    """The proof passed: say so on the function, so a rerun need not invoke it again. A
    record that cannot be written costs only that (a rerun proves again), never the proof."""
    try:
        record_proof(clients.lambda_, arn, digest, request_id)
    except AWS_ERRORS as exc:
        why = aws_error(exc, "recording the proof on the function").message
        _step(sink, "proof", f"{why}; a rerun will invoke the function again")


def _already_proven(run: ProofRun, checked: Preflight) -> ProofReport:
    """The report of a proof these inputs already passed here (nothing was changed)."""
    assert checked.proven is not None and checked.existing_layer is not None
    assert checked.function_arn is not None and checked.role_arn is not None
    proven = checked.proven
    layer = PublishedLayer(
        name=run.layer_name,
        layer_arn=checked.existing_layer.rsplit(":", 1)[0],
        version_arn=checked.existing_layer,
        version=int(checked.existing_layer.rsplit(":", 1)[1]),
        sha256=checked.sha256,
        reused=True,
        via_s3=False,
    )
    function = DeployedFunction(run.function_name, checked.function_arn, created=False)
    role = EnsuredRole(checked.role_arn, created=False, fresh=False)
    evidence = (
        f"already proven with these inputs at {proven.at} (request {proven.request_id}); "
        "not updated or invoked again (--prove-again does)"
    )
    report = ProofReport(checks=[Check("proof", True, evidence)])
    report.details = {**_common_details(layer, function, role, run), "proven": proven.to_dict()}
    return report


def _states_role(run: ProofRun, clients: AwsClients, checked: Preflight) -> EnsuredRole:
    if run.states_role_arn:
        return EnsuredRole(run.states_role_arn, created=False, fresh=False)
    assert checked.fanout_plan is not None
    policy = checked.fanout_plan["states_policy"]
    return ensure_role(
        clients.iam,
        run.states_role_name,
        policy,
        function=run.function_name,
        trust=STATES_TRUST_POLICY,
    )


def _machine(
    run: ProofRun, clients: AwsClients, checked: Preflight, role: EnsuredRole, fanout: FanOut
) -> str:
    """The state machine; a role made moments ago may take seconds to reach Step Functions,
    and one a run beside this one created first is reused (once it is known to be ours)."""
    definition = state_machine_definition(
        function_arn(run, clients, checked.account), fanout.max_concurrency
    )
    attempts = 12 if role.fresh else 2
    for attempt in range(1, attempts + 1):
        try:
            arn, _ = ensure_state_machine(
                clients,
                name=run.state_machine_name,
                account=checked.account,
                definition=definition,
                role_arn=role.arn,
            )
            return arn
        except botocore.exceptions.ClientError as exc:
            if attempt == attempts:
                raise
            if error_code(exc) == "StateMachineAlreadyExists":
                # created beside this run: the next attempt updates it, if it is ours
                arn = machine_arn(clients, checked.account, run.state_machine_name)
                refuse_machine(run.state_machine_name, tags_of_machine(clients.stepfunctions, arn))
                continue
            propagating = "AccessDenied" in str(exc) or "not authorized to assume" in str(exc)
            if not (role.fresh and propagating):
                raise
            time.sleep(5.0)
    raise AssertionError("unreachable")


def _fan_out(
    run: ProofRun,
    clients: AwsClients,
    checked: Preflight,
    fanout: FanOut,
    *,
    sink: EventSink,
    deployed: tuple[PublishedLayer, DeployedFunction, EnsuredRole],
) -> ProofReport:
    layer, function, role = deployed
    run = replace(run, fanout=fanout)  # with its input objects listed: {shards} counts them
    with aws_step("preparing the state machine's role"):
        states_role = _states_role(run, clients, checked)
    _step(sink, "states role", f"{'created' if states_role.created else 'using'} {states_role.arn}")
    with aws_step("creating the state machine"):
        machine = _machine(run, clients, checked, states_role, fanout)
    _step(sink, "state machine", machine)
    since_ms = int(time.time() * 1000) - 60_000
    with aws_step(f"running the fan-out over {fanout.label}"):
        result = run_fanout(
            clients,
            machine=machine,
            fanout=fanout,
            bucket=run.bucket,
            prefix=run.prefix,
            sink=sink,
            wait_seconds=run.fanout_wait_s,
        )
    _step(sink, "fan-out", f"{result.status} in {result.seconds:.1f} s ({result.execution_arn})")
    with aws_step("checking the proof"):
        missing = missing_partials(clients.s3, run.bucket, run.prefix, fanout)
        lines = _cloudwatch_lines(
            clients, run.function_name, fanout.run_id, since_ms=None if result.reused else since_ms
        )
        reasons = shard_errors(lines, fanout.run_id)
        outcome, failures = fanout_outcome(
            fanout,
            succeeded=result.status == "SUCCEEDED",
            output=result.output,
            why=next(iter(reasons.values()), None) or result.error or result.status.lower(),
            missing=missing,
            log_lines=lines,
        )
        report = check_all(outcome, clients.s3, run.proof, run.templates(clients.region))
    report.details = _fanout_details(run, fanout, result, (layer, function, role), states_role)
    failures = {shard: reasons.get(shard, why) for shard, why in failures.items()}
    # per-shard results are in the function's log lines (the state carries none: bounded)
    report.details["shards"] = shard_section(fanout, shard_reports(lines, fanout.run_id), failures)
    return report


def _fanout_details(
    run: ProofRun,
    fanout: FanOut,
    result: FanOutResult,
    deployed: tuple[PublishedLayer, DeployedFunction, EnsuredRole],
    states_role: EnsuredRole,
) -> dict[str, Any]:
    layer, function, role = deployed
    details = _common_details(layer, function, role, run)
    details["fanout"] = {
        "run": fanout.run_id,
        "what": fanout.label,
        "execution": result.execution_arn,
        "status": result.status,
        "reused": result.reused,
        "seconds": round(result.seconds, 3),
        "state_machine": run.state_machine_name,
        "states_role": {"arn": states_role.arn, "created": states_role.created},
        **({"skipped": list(fanout.skipped)} if fanout.skipped else {}),
        **({"error": result.error, "cause": (result.cause or "")[:2000]} if result.error else {}),
    }
    return details


@dataclass
class RegionsProof:
    """publish-and-invoke in several regions: each region's proof, or why it failed."""

    reports: dict[str, ProofReport] = field(default_factory=dict)
    failed: dict[str, LayerforgeError] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.failed and all(r.passed for r in self.reports.values())

    def exit_code(self) -> int:
        if self.failed:
            return self.failure().exit_code
        return EXIT_OK if self.passed else EXIT_CHECK_FAILED

    def failure(self) -> RegionsFailedError:
        """The regions that could not run, as one error (every region's result in details)."""
        return regions_failed(
            self.failed,
            self.to_dict(),
            rerun="rerun the same command: regions already proven with these inputs are "
            "reported, not invoked again",
        )

    def to_dict(self) -> dict[str, Any]:
        regions: dict[str, Any] = {r: p.to_dict() for r, p in sorted(self.reports.items())}
        for region, error in sorted(self.failed.items()):
            regions[region] = {"passed": False, "error": error.message, "hint": error.hint}
        return {"passed": self.passed, "regions": regions}


def prove_everywhere(
    runs: Mapping[str, ProofRun],
    clients_for: Callable[[str], AwsClients],
    *,
    on_event: EventSink | None = None,
) -> RegionsProof:
    """Every region's pre-flight first (nothing changes anywhere unless all pass), then the
    regions concurrently; one region's failure is reported and undoes nothing elsewhere."""
    sink = emit_to(on_event)
    clients = {region: clients_for(region) for region in runs}
    for region, run in runs.items():
        checked = preflight(run, clients[region])
        _step(sink, f"pre-flight {region}", checked.verification)

    def one(region: str) -> ProofReport:
        def note(event: Event) -> None:
            sink(Event(event.kind, event.step, f"{region}: {event.message}"))

        return publish_and_invoke(runs[region], clients[region], on_event=note)

    outcome = RegionsProof()
    with WorkerPool(min(8, len(runs))) as pool:  # an interrupt stops it at once
        futures = {region: pool.submit(one, region) for region in runs}
        for region, future in futures.items():
            try:
                outcome.reports[region] = future.result()
            except LayerforgeError as error:
                outcome.failed[region] = error
    return outcome
