"""The pre-flight of publish-and-invoke: everything that can be checked before AWS changes.

It runs first in the real run and in ``--dry-run`` alike, and reads only: the names and ARNs are
valid, the event passes the function's own rules and stays inside the role's scope, the layer
will load, the bucket exists and can stage the layer, a given role exists and Lambda may assume
it. A dry run reports the same plan the real run would follow, and fails where it would fail.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import botocore.exceptions

from layerforge.archive import sha256_of
from layerforge.aws.clients import AWS_ERRORS, AwsClients, aws_error, aws_step, error_code
from layerforge.aws.deploy import FunctionConfig, check_environment
from layerforge.aws.distributed_map import (
    check_rerun,
    fanout_quotas,
    machine_arn,
    machine_exists,
    read_scopes,
    state_machine_definition,
    state_machine_policy,
)
from layerforge.aws.ownership import (
    function_policy_name,
    read_function,
    read_role,
    refuse_function,
    refuse_machine,
    refuse_role,
    tags_of_function,
    tags_of_machine,
)
from layerforge.aws.proven import (
    Proven,
    code_sha256,
    has_record,
    inputs_digest,
    previous_proof,
)
from layerforge.aws.publish import find_layer_version
from layerforge.aws.role import LAMBDA_SERVICE, STATES_SERVICE, execution_policy, require_trust
from layerforge.aws_names import (
    arn,
    check_bucket,
    check_function_name,
    check_layer_name,
    check_role_arn,
    check_role_name,
    fanout_names,
    role_name_of,
)
from layerforge.errors import CheckFailedError, UsageError
from layerforge.fanout import FanOut
from layerforge.functions import FunctionSource
from layerforge.proof import ProofSpec, Templates, access_of, planned_uploads, proof_plan
from layerforge.runtimes import LIMITS, Architecture, Runtime
from layerforge.verify import Severity, verify_layer

__all__ = ["Preflight", "ProofRun", "function_arn", "preflight"]


@dataclass(frozen=True, kw_only=True)
class ProofRun:
    """Everything publish-and-invoke needs to know."""

    layer: Path
    bucket: str
    runtime: Runtime
    architecture: Architecture
    function: FunctionSource
    proof: ProofSpec
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
    fanout: FanOut | None = None  # a Step Functions Distributed Map run instead of one invoke
    states_role_arn: str | None = None  # the state machine's role, when not --create-role
    fanout_wait_s: float = 3600.0
    prove_again: bool = False  # invoke even where these inputs were already proven

    @property
    def state_machine_name(self) -> str:
        return fanout_names(self.function_name)[0]

    @property
    def states_role_name(self) -> str:
        if self.states_role_arn:
            return role_name_of(self.states_role_arn)
        return fanout_names(self.function_name)[1]

    @property
    def effective_role_name(self) -> str:
        if self.role_arn:
            return role_name_of(self.role_arn)
        return self.role_name or f"{self.function_name}-role"

    def templates(self, region: str) -> Templates:
        values = {
            "bucket": self.bucket,
            "prefix": self.prefix,
            "function": self.function_name,
            "region": region,
            **(self.fanout.templates() if self.fanout else {}),
        }
        return Templates(values, event=dict(self.event))

    def function_environment(self) -> dict[str, str]:
        return {**self.environment, "ARTIFACT_BUCKET": self.bucket, "ARTIFACT_PREFIX": self.prefix}

    def function_config(self, role_arn: str, layer_arn: str) -> FunctionConfig:
        """The function as this run deploys it, with its role and the layer version."""
        return FunctionConfig(
            name=self.function_name,
            role_arn=role_arn,
            runtime=self.runtime,
            architecture=self.architecture,
            handler=self.function.handler,
            memory_mb=self.memory_mb,
            timeout_s=self.timeout_s,
            ephemeral_mb=self.ephemeral_mb,
            environment=self.function_environment(),
            layers=(layer_arn,),
        )


@dataclass
class Preflight:
    """What the pre-flight found: the plan a run follows."""

    sha256: str
    verification: str
    account: str
    policy: dict[str, Any] | None
    role: str
    existing_layer: str | None
    function_exists: bool
    staging: bool
    code: bytes = b""  # the function's deployment package
    digest: str = ""  # of every input of the proof (aws/proven.py)
    proven: Proven | None = None  # these inputs already passed here: nothing to do again
    recorded: bool = False  # the function carries the record of an earlier passed proof
    role_arn: str | None = None  # the role the function would run with, when it exists
    function_arn: str | None = None  # the function, when it exists
    fanout: FanOut | None = None  # with its input objects listed
    fanout_plan: dict[str, Any] | None = None
    proof_plan: dict[str, Any] = field(default_factory=dict)  # uploads, access scopes

    def plan(self, run: ProofRun) -> dict[str, Any]:
        return {
            "layer": {
                "path": str(run.layer),
                "sha256": self.sha256,
                "name": run.layer_name,
                "verification": self.verification,
                "publish": f"reuse {self.existing_layer}"
                if self.existing_layer
                else ("publish through S3 staging" if self.staging else "publish"),
            },
            "function": {
                "name": run.function_name,
                "code": run.function.label,
                "handler": run.function.handler,
                "action": "update" if self.function_exists else "create",
            },
            "role": self.role,
            "policy_name": function_policy_name(run.function_name) if self.policy else None,
            "policy": self.policy,
            "environment": run.function_environment(),
            "event": dict(run.event),
            "proof_spec": run.proof.source,
            **self.proof_plan,
            "proof": self.proof_action(),
            **({"fanout": self.fanout_plan} if self.fanout_plan else {}),
            **({"notes": list(run.proof.notes)} if run.proof.notes else {}),
        }

    def proof_action(self) -> str:
        if self.fanout is not None:
            return "run the fan-out (a succeeded --run-id is reported, not run again)"
        if self.proven is None:
            return "deploy, invoke and check the proof"
        return (
            f"already proven with these inputs at {self.proven.at} (request "
            f"{self.proven.request_id}): nothing is updated or invoked (--prove-again does)"
        )


def _check_names(run: ProofRun) -> None:
    check_layer_name(run.layer_name)
    check_function_name(run.function_name)
    check_bucket(run.bucket)
    if bool(run.role_arn) == bool(run.create_role):
        raise UsageError(
            "give exactly one of --role-arn and --create-role",
            hint="--create-role makes a least-privilege role (see --dry-run)",
        )
    if run.role_arn:
        check_role_arn(run.role_arn)
    else:
        check_role_name(run.effective_role_name)
    if run.fanout and not run.create_role and not run.states_role_arn:
        raise UsageError(
            "a fan-out run needs a role for its state machine",
            hint="use --create-role (both roles least-privilege), or give --states-role-arn",
        )
    if run.states_role_arn:
        check_role_arn(run.states_role_arn)
    check_environment(run.environment)


def _check_event(run: ProofRun) -> None:
    """The bundled function's own event rules, and the event inside the role's scope."""
    bucket = run.event.get("bucket")
    if bucket is not None and bucket != run.bucket:
        raise UsageError(
            f"the event's bucket {bucket!r} is not --bucket {run.bucket!r}",
            hint="the function's role may write only to --bucket",
        )
    prefix = run.event.get("prefix")
    if isinstance(prefix, str) and prefix != run.prefix and not prefix.startswith(f"{run.prefix}/"):
        raise UsageError(
            f"the event's prefix {prefix!r} is outside --prefix {run.prefix!r}",
            hint="the function's role may write only below --prefix",
        )
    if run.function.bundled:
        # the bundled function's own rules (issue 21 §2: a protocol)
        from analytics_payload.event import InvalidEventError, parse_event

        try:
            parse_event(dict(run.event), run.function_environment())
        except InvalidEventError as invalid:
            raise UsageError(
                f"the event would be refused by the function: {invalid}", hint="fix --event"
            ) from None


def _check_layer(run: ProofRun) -> str:
    report = verify_layer([run.layer], run.runtime, run.architecture)
    if not report.passed:
        errors = [f"{f.file}: {f.message}" for f in report.findings if f.severity is Severity.ERROR]
        raise CheckFailedError(
            f"{run.layer} would not load on {run.runtime.name}/{run.architecture.value}; "
            "nothing was sent to AWS",
            hint="see layerforge verify-abi for every finding",
            details="\n".join(errors[:10]),
        )
    return report.summary


def check_bucket_reachable(
    clients: AwsClients, bucket: str, *, staging: bool, option: str = "--bucket"
) -> None:
    """The bucket exists and answers; a staging bucket must be in the function's region.
    ``option`` is how the user named the bucket, so the hint says what to change."""
    try:
        clients.s3.head_bucket(Bucket=bucket)
    except botocore.exceptions.ClientError as exc:
        code = error_code(exc)
        if code in ("404", "NoSuchBucket", "NotFound"):
            raise UsageError(
                f"bucket {bucket} does not exist (NoSuchBucket)",
                hint=f"create it first, or pass an existing one with {option}",
            ) from None
        raise CheckFailedError(
            f"bucket {bucket} is not in reach ({code or exc})",
            hint="check the bucket's owner and your permissions",
        ) from None
    if staging:
        with aws_step(f"reading the region of bucket {bucket}"):
            location = clients.s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
        region = location or "us-east-1"
        if region != clients.region:
            raise UsageError(
                f"bucket {bucket} is in {region}, but the layer (over 50 MiB) must be staged in "
                f"{clients.region}, where it is published",
                hint=f"pass a bucket in {clients.region} with {option}",
            )


def _check_role(
    clients: AwsClients,
    *,
    name: str,
    given: str | None,
    service: str = LAMBDA_SERVICE,
) -> str | None:
    """The role's ARN, or None when there is none yet. A given role (``--role-arn``, the
    user's deliberate choice) must exist and let the service assume it; a role
    ``--create-role`` would reuse must also be one layerforge made, holding only policies
    layerforge wrote."""
    doing = f"reading the role {name}"
    try:
        if given:
            role = clients.iam.get_role(RoleName=name)["Role"]
        else:
            facts = read_role(clients.iam, name)
            if facts is None:
                return None
            refuse_role(facts)
            role = facts.role
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) != "NoSuchEntity":
            raise aws_error(exc, doing) from None
        if not given:  # deleted while it was read: --create-role makes it again
            return None
        raise UsageError(
            f"role {given} does not exist", hint="check the role's ARN, or use --create-role"
        ) from None
    except AWS_ERRORS as exc:
        raise aws_error(exc, doing) from None
    require_trust(role, name, service)
    return str(role["Arn"])


def _account(clients: AwsClients) -> str:
    with aws_step("reading the account (sts:GetCallerIdentity)"):
        return str(clients.sts.get_caller_identity()["Account"])


def _function(clients: AwsClients, name: str) -> dict[str, Any] | None:
    """GetFunction's answer, None when there is no such function; one that layerforge did
    not deploy is refused."""
    answer = read_function(clients.lambda_, name)
    if answer is not None:
        arn = str(answer["Configuration"]["FunctionArn"])
        refuse_function(name, arn, tags_of_function(answer))
    return answer


def policy_for(
    run: ProofRun, clients: AwsClients, account: str, fanout: FanOut | None = None
) -> dict[str, Any]:
    access = access_of(run.proof.read, run.proof.write, run.templates(clients.region))
    extra = read_scopes(fanout, bucket=run.bucket, prefix=run.prefix) if fanout else []
    return execution_policy(
        write=list(access.write),
        read=[*access.read, *extra],
        function=run.function_name,
        region=clients.region,
        account=account,
        partition=clients.partition,
    )


def preflight(run: ProofRun, clients: AwsClients) -> Preflight:
    """Every check that needs no change; raises the error the real run would hit."""
    _check_names(run)
    _check_event(run)
    verification = _check_layer(run)
    sha256 = sha256_of(run.layer)
    staging = run.layer.stat().st_size > LIMITS.direct_upload_zip_bytes
    account = _account(clients)
    check_bucket_reachable(clients, run.bucket, staging=staging)
    templates = run.templates(clients.region)
    planned = proof_plan(run.proof, templates, run.bucket)  # uploads and scopes, checked
    for bucket in sorted({u.bucket for u in planned_uploads(run.proof, templates)} - {run.bucket}):
        check_bucket_reachable(clients, bucket, staging=False, option="the proof spec's inputs")
    role_arn = _check_role(clients, name=run.effective_role_name, given=run.role_arn)
    with aws_step("reading the layer and the function"):
        existing = find_layer_version(clients.lambda_, run.layer_name, sha256)
        function = _function(clients, run.function_name)
    fanout, fanout_plan = (
        _fanout_plan(run, clients, account, sha256) if run.fanout else (None, None)
    )
    policy = policy_for(run, clients, account, fanout) if run.create_role else None
    role = run.role_arn or (
        f"reuse {run.effective_role_name}" if role_arn else f"create {run.effective_role_name}"
    )
    checked = Preflight(
        sha256=sha256,
        verification=verification,
        account=account,
        policy=policy,
        role=role,
        existing_layer=str(existing["LayerVersionArn"]) if existing else None,
        function_exists=function is not None,
        staging=staging,
        code=run.function.code(),
        role_arn=role_arn,
        function_arn=str(function["Configuration"]["FunctionArn"]) if function else None,
        recorded=function is not None and has_record(function),
        fanout=fanout,
        fanout_plan=fanout_plan,
        proof_plan=planned,
    )
    checked.digest = _inputs_digest(run, clients.region, checked)
    if function is not None and fanout is None and not run.prove_again:
        checked.proven = _proven(run, checked, function)
    return checked


def _inputs_digest(run: ProofRun, region: str, checked: Preflight) -> str:
    """Every input of the proof (aws/proven.py): what a passed proof is recorded under."""
    return inputs_digest(
        {
            "region": region,
            "layer": {"name": run.layer_name, "sha256": checked.sha256},
            "code": code_sha256(checked.code),
            "function": run.function_config(run.effective_role_name, run.layer_name),
            "role": run.role_arn or run.effective_role_name,
            "policy": checked.policy,
            "event": dict(run.event),
            "proof": run.proof,
            "inputs": [sha256_of(item.file) for item in run.proof.inputs],
        }
    )


def _proven(run: ProofRun, checked: Preflight, function: dict[str, Any]) -> Proven | None:
    if checked.existing_layer is None or checked.role_arn is None:
        return None
    config = run.function_config(checked.role_arn, checked.existing_layer)
    return previous_proof(function, checked.digest, config, checked.code)


def function_arn(run: ProofRun, clients: AwsClients, account: str) -> str:
    return arn(
        clients.partition,
        "lambda",
        f"function:{run.function_name}",
        region=clients.region,
        account=account,
    )


def _fanout_plan(
    run: ProofRun, clients: AwsClients, account: str, sha256: str
) -> tuple[FanOut, dict[str, Any]]:
    """The fan-out's inputs listed, its state machine's role checked, a rerun of its run id
    checked against the run's stored parameters, and the plan: the definition and the state
    machine's policy (the function's is the run's policy)."""
    assert run.fanout is not None
    fanout = replace(run.fanout, layer_sha256=sha256)
    if fanout.input_bucket:
        check_bucket_reachable(clients, fanout.input_bucket, staging=False, option="--input")
        with aws_step(f"listing the CSV objects of s3://{fanout.input_bucket}/"):
            fanout = fanout.listed(clients.s3)
    states_role = _check_role(
        clients,
        name=run.states_role_name,
        given=run.states_role_arn,
        service=STATES_SERVICE,
    )
    target = function_arn(run, clients, account)
    machine = machine_arn(clients, account, run.state_machine_name)
    with aws_step(f"reading the state machine {run.state_machine_name}"):
        if machine_exists(clients, machine):
            refuse_machine(run.state_machine_name, tags_of_machine(clients.stepfunctions, machine))
    with aws_step(f"reading the executions of run {fanout.run_id}"):
        execution = check_rerun(
            clients, machine=machine, fanout=fanout, bucket=run.bucket, prefix=run.prefix
        )
    definition = state_machine_definition(target, fanout.max_concurrency)
    quotas = fanout_quotas(definition, fanout, bucket=run.bucket, prefix=run.prefix)
    plan: dict[str, Any] = {
        **fanout.plan(bucket=run.bucket, prefix=run.prefix),
        "execution": execution,
        "state_machine": {
            "name": run.state_machine_name,
            "arn": machine,
            "definition": definition,
        },
        "quotas": quotas.summary(),
        "states_role": run.states_role_arn
        or (f"{'reuse' if states_role else 'create'} {run.states_role_name}"),
    }
    if not run.states_role_arn:
        plan["states_policy"] = state_machine_policy(
            function_arn=target,
            state_machine_arn=machine,
            bucket=run.bucket,
            prefix=run.prefix,
            partition=clients.partition,
        )
    return fanout, plan
