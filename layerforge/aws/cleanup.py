"""cleanup: remove what layerforge made and no longer needs, safely and idempotently.

One plan is computed by reading only (``plan_cleanup``); a dry run reports it, a real run
carries it out (``cleanup``), so a dry run says exactly what the real run then does. Only what
layerforge made is ever deleted (``ownership.py``): anything without its marker is kept, and the
plan says why. A layer version that any function still uses (``$LATEST``, a published version,
or one an alias points to) is kept unless ``force``; a role that another function still uses
loses only this function's policy. Deletions run in dependency order (the function before the
layer versions and the role only it used); one that fails is reported, what depends on it is
kept, and the rest go on, so a rerun converges.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import botocore.exceptions

from layerforge.aws.clients import AWS_ERRORS, AwsClients, aws_error, error_code
from layerforge.aws.distributed_map import machine_arn, machine_exists
from layerforge.aws.ownership import (
    RoleFacts,
    function_policy_name,
    managed,
    read_function,
    read_role,
    role_refusal,
    tags_of_function,
    tags_of_machine,
)
from layerforge.aws.publish import STAGING_PREFIX, is_layerforge_version, is_staging_key
from layerforge.aws.publish import remove_staging as _remove_staging
from layerforge.aws.role import regional_role_name
from layerforge.aws_names import fanout_names
from layerforge.errors import UsageError

__all__ = ["CleanupPlan", "CleanupRequest", "CleanupResult", "Deletion", "cleanup", "plan_cleanup"]


@dataclass(frozen=True, kw_only=True)
class CleanupRequest:
    layer_name: str
    keep: int = 1
    function_name: str | None = None
    role_name: str | None = None
    staging_bucket: str | None = None
    force: bool = False
    dry_run: bool = False


@dataclass(frozen=True)
class Deletion:
    """One deletion of the plan: what it removes (as the report names it), and how."""

    kind: str  # function, state_machine, role_policy, role, layer_version, staging_object
    name: str
    action: Callable[[AwsClients], object] = field(compare=False, repr=False)
    needs: tuple[str, ...] = ()  # labels of deletions that must succeed first

    @property
    def label(self) -> str:
        return f"{self.kind.replace('_', ' ')} {self.name}"


@dataclass
class CleanupPlan:
    """What a cleanup deletes, in order, and what it keeps (with the reason)."""

    deletions: list[Deletion] = field(default_factory=list)
    kept_layer_versions: list[int] = field(default_factory=list)
    kept_in_use: dict[int, list[str]] = field(default_factory=dict)
    kept: dict[str, str] = field(default_factory=dict)  # what -> why it stays
    fanout_role: str = ""


@dataclass
class CleanupResult:
    dry_run: bool
    deleted_layer_versions: list[int] = field(default_factory=list)
    kept_layer_versions: list[int] = field(default_factory=list)
    kept_in_use: dict[int, list[str]] = field(default_factory=dict)
    deleted_function: bool = False
    deleted_role: bool = False  # a function's role (--role-name, or the one made for it)
    deleted_state_machine: bool = False  # the function's fan-out state machine
    deleted_fanout_role: bool = False  # and its role, when layerforge made it
    deleted_roles: list[str] = field(default_factory=list)
    removed_role_policies: list[str] = field(default_factory=list)  # "role/policy"
    deleted_staging_objects: list[str] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kept_in_use"] = {str(k): v for k, v in self.kept_in_use.items()}
        return data

    def record(self, deletion: Deletion, plan: CleanupPlan) -> None:
        """``deletion`` was done (or, in a dry run, would be)."""
        if deletion.kind == "layer_version":
            self.deleted_layer_versions.append(int(deletion.name))
        elif deletion.kind == "function":
            self.deleted_function = True
        elif deletion.kind == "state_machine":
            self.deleted_state_machine = True
        elif deletion.kind == "role_policy":
            self.removed_role_policies.append(deletion.name)
        elif deletion.kind == "role":
            self.deleted_roles.append(deletion.name)
            if deletion.name == plan.fanout_role:
                self.deleted_fanout_role = True
            else:
                self.deleted_role = True
        elif deletion.kind == "staging_object":
            self.deleted_staging_objects.append(deletion.name.split("/", 3)[3])


# -- reading (nothing here changes anything) ---------------------------------------------------


@dataclass
class _Account:
    """Who uses what: every function version's layers and role (one listing)."""

    layer_users: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # (fn, who)
    role_users: dict[str, set[str]] = field(default_factory=dict)  # role ARN -> functions


def _paged(client: Any, operation: str, key: str, **arguments: Any) -> Iterator[Any]:
    for page in client.get_paginator(operation).paginate(**arguments):
        yield from page.get(key, [])


def _account(lambda_: Any) -> _Account:
    """Every function and every published version (``FunctionVersion=ALL``: without it only
    ``$LATEST`` is listed, and versions that aliases point at would look unused)."""
    found = _Account()
    for function in _paged(lambda_, "list_functions", "Functions", FunctionVersion="ALL"):
        name, version = str(function["FunctionName"]), str(function.get("Version", "$LATEST"))
        who = name if version == "$LATEST" else f"{name}:{version}"
        for layer in function.get("Layers") or []:
            found.layer_users.setdefault(str(layer["Arn"]), []).append((name, who))
        found.role_users.setdefault(str(function.get("Role", "")), set()).add(name)
    return found


def _with_aliases(lambda_: Any, account: _Account, arns: set[str]) -> None:
    """Name the aliases that point at the versions using ``arns`` (and count any aliased
    version the listing did not show, from its own configuration)."""
    functions = {fn for arn in arns for fn, who in account.layer_users.get(arn, []) if ":" in who}
    for function in sorted(functions):
        for alias in _paged(lambda_, "list_aliases", "Aliases", FunctionName=function):
            weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights", {})
            for version in [str(alias["FunctionVersion"]), *weights]:
                _alias_user(lambda_, account, function, version, str(alias["Name"]))


def _alias_user(lambda_: Any, account: _Account, function: str, version: str, alias: str) -> None:
    who = function if version == "$LATEST" else f"{function}:{version}"
    listed = [
        (arn, i)
        for arn, users in account.layer_users.items()
        for i, (_, user) in enumerate(users)
        if user == who
    ]
    for arn, index in listed:
        account.layer_users[arn][index] = (function, f"{who} (alias {alias})")
    if listed:
        return
    configuration = lambda_.get_function_configuration(FunctionName=function, Qualifier=version)
    for layer in configuration.get("Layers") or []:
        users = account.layer_users.setdefault(str(layer["Arn"]), [])
        users.append((function, f"{who} (alias {alias})"))


def _layer_versions(lambda_: Any, name: str) -> list[dict[str, Any]]:
    found = list(_paged(lambda_, "list_layer_versions", "LayerVersions", LayerName=name))
    return sorted(found, key=lambda v: -int(v["Version"]))


def _plan_layers(
    clients: AwsClients,
    request: CleanupRequest,
    account: _Account,
    plan: CleanupPlan,
    deleted_function: str | None,
) -> None:
    versions = _layer_versions(clients.lambda_, request.layer_name)
    if not request.force:
        _with_aliases(clients.lambda_, account, {str(v["LayerVersionArn"]) for v in versions})
    for index, version in enumerate(versions):
        number, arn = int(version["Version"]), str(version["LayerVersionArn"])
        users = [] if request.force else account.layer_users.get(arn, [])
        others = sorted({who for fn, who in users if fn != deleted_function})
        if index < request.keep:
            plan.kept_layer_versions.append(number)
        elif not is_layerforge_version(version):
            plan.kept_layer_versions.append(number)
            plan.kept[f"layer version {number}"] = "not published by layerforge"
        elif others:
            plan.kept_in_use[number] = others
            plan.kept_layer_versions.append(number)
        else:
            needs = (f"function {deleted_function}",) if users else ()
            plan.deletions.append(
                Deletion("layer_version", str(number), _delete_version(request, number), needs)
            )


def _function(clients: AwsClients, name: str, plan: CleanupPlan) -> str | None:
    """Plan the function's deletion if layerforge deployed it: its role's ARN, else None."""
    answer = read_function(clients.lambda_, name)
    if answer is None:
        return None
    if not managed(tags_of_function(answer)):
        plan.kept[f"function {name}"] = "not deployed by layerforge (no managed-by tag)"
        return None
    plan.deletions.append(Deletion("function", name, _delete_function(name)))
    return str(answer["Configuration"].get("Role", ""))


def _machine(clients: AwsClients, name: str, plan: CleanupPlan) -> str | None:
    """Plan the state machine's deletion if layerforge made it: its role's ARN, else None."""
    account = str(clients.sts.get_caller_identity()["Account"])
    arn = machine_arn(clients, account, name)
    if not machine_exists(clients, arn):
        return None
    if not managed(tags_of_machine(clients.stepfunctions, arn)):
        plan.kept[f"state machine {name}"] = "not made by layerforge (no managed-by tag)"
        return None
    plan.deletions.append(Deletion("state_machine", name, _delete_machine(arn)))
    described = clients.stepfunctions.describe_state_machine(stateMachineArn=arn)
    return str(described.get("roleArn", ""))


def _plan_role(
    clients: AwsClients,
    name: str,
    *,
    function: str | None,
    users: set[str],
    needs: tuple[str, ...],
    plan: CleanupPlan,
) -> None:
    """A role is deleted only if layerforge made it, it holds nothing layerforge did not
    write, and no other function uses it; otherwise it loses only ``function``'s policy."""
    facts = read_role(clients.iam, name)
    if facts is None:
        return
    refusal = role_refusal(facts)
    if refusal is not None:
        plan.kept[f"role {name}"] = refusal
        return
    if users:
        plan.kept[f"role {name}"] = f"still used by {', '.join(sorted(users))}"
        policy = function_policy_name(function) if function else None
        if policy in facts.inline:
            plan.deletions.append(
                Deletion("role_policy", f"{name}/{policy}", _delete_policy(name, str(policy)))
            )
        return
    plan.deletions.append(Deletion("role", name, _delete_role(facts), needs))


def _role_users(account: _Account, facts_arn: str, deleted: str | None) -> set[str]:
    return {fn for fn in account.role_users.get(facts_arn, set()) if fn != deleted}


def _plan_roles(
    clients: AwsClients,
    request: CleanupRequest,
    account: _Account,
    plan: CleanupPlan,
    found: dict[str, str],
) -> None:
    """The roles to look at: the function's own (as configured, and the names --create-role
    gives it, in this region too), its fan-out's, and --role-name; each judged once."""
    function = request.function_name
    candidates: dict[str, tuple[str, ...]] = {}
    if function:
        for name in (
            _name_of(found.get("function", "")),
            f"{function}-role",
            regional_role_name(f"{function}-role", clients.region),
        ):
            candidates.setdefault(name, (f"function {function}",) if name else ())
        plan.fanout_role = _name_of(found.get("machine", "")) or fanout_names(function)[1]
        candidates.setdefault(plan.fanout_role, (f"state machine {fanout_names(function)[0]}",))
    if request.role_name:
        candidates.setdefault(request.role_name, ())
    deleted = function if _deleting(plan, "function") else None
    for name, needs in candidates.items():
        if not name:
            continue
        arn = _arn_like(account, name)
        needed = tuple(n for n in needs if any(d.label == n for d in plan.deletions))
        users = _role_users(account, arn, deleted) if arn else set()
        _plan_role(clients, name, function=function, users=users, needs=needed, plan=plan)


def _deleting(plan: CleanupPlan, kind: str) -> bool:
    return any(d.kind == kind for d in plan.deletions)


def _name_of(arn: str) -> str:
    return arn.rsplit("/", 1)[-1] if arn else ""


def _arn_like(account: _Account, name: str) -> str:
    """The ARN, among the roles functions use, of the role called ``name`` ("" if unused)."""
    return next((arn for arn in account.role_users if _name_of(arn) == name), "")


def _plan_staging(clients: AwsClients, bucket: str, plan: CleanupPlan) -> None:
    prefix = f"{STAGING_PREFIX}/"
    listed = _paged(clients.s3, "list_objects_v2", "Contents", Bucket=bucket, Prefix=prefix)
    keys = {str(item["Key"]) for item in listed}
    uploads = clients.s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix)
    keys |= {str(u["Key"]) for u in uploads.get("Uploads", [])}
    for key in sorted(keys):
        if is_staging_key(key):
            plan.deletions.append(
                Deletion("staging_object", f"s3://{bucket}/{key}", _delete_staging(bucket, key))
            )
        else:
            plan.kept[f"s3://{bucket}/{key}"] = "not a staging object layerforge names"


def plan_cleanup(clients: AwsClients, request: CleanupRequest) -> CleanupPlan:
    """Everything ``request`` would delete, in order, and what it keeps; reads only."""
    if request.keep < 0:
        raise UsageError("--keep must be 0 or more", hint="--keep 1 keeps the newest version")
    plan = CleanupPlan()
    try:
        account = _account(clients.lambda_)
        found: dict[str, str] = {}
        if request.function_name:
            found["function"] = _function(clients, request.function_name, plan) or ""
            machine = fanout_names(request.function_name)[0]
            found["machine"] = _machine(clients, machine, plan) or ""
        deleted = request.function_name if _deleting(plan, "function") else None
        _plan_roles(clients, request, account, plan, found)
        _plan_layers(clients, request, account, plan, deleted)
        if request.staging_bucket:
            _plan_staging(clients, request.staging_bucket, plan)
    except AWS_ERRORS as exc:
        raise aws_error(exc, "reading what to clean up", bucket_option="--staging-bucket") from None
    return plan


# -- deleting ---------------------------------------------------------------------------------


def _gone(delete: Callable[[], object], missing: str) -> None:
    """Run ``delete``; a thing already gone (error code ``missing``) is as good as deleted."""
    try:
        delete()
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) != missing:
            raise


def _delete_version(request: CleanupRequest, number: int) -> Callable[[AwsClients], None]:
    def run(clients: AwsClients) -> None:
        _gone(
            lambda: clients.lambda_.delete_layer_version(
                LayerName=request.layer_name, VersionNumber=number
            ),
            "ResourceNotFoundException",
        )

    return run


def _delete_function(name: str) -> Callable[[AwsClients], None]:
    def run(clients: AwsClients) -> None:
        _gone(
            lambda: clients.lambda_.delete_function(FunctionName=name), "ResourceNotFoundException"
        )

    return run


def _delete_machine(arn: str) -> Callable[[AwsClients], None]:
    def run(clients: AwsClients) -> None:
        clients.stepfunctions.delete_state_machine(stateMachineArn=arn)

    return run


def _delete_policy(role: str, policy: str) -> Callable[[AwsClients], None]:
    def run(clients: AwsClients) -> None:
        _gone(
            lambda: clients.iam.delete_role_policy(RoleName=role, PolicyName=policy),
            "NoSuchEntity",
        )

    return run


def _delete_role(facts: RoleFacts) -> Callable[[AwsClients], None]:
    """Its inline policies (all layerforge's: the plan refused any other), then the role."""

    def run(clients: AwsClients) -> None:
        def delete() -> None:
            for policy in facts.inline:
                _delete_policy(facts.name, policy)(clients)
            clients.iam.delete_role(RoleName=facts.name)

        _gone(delete, "NoSuchEntity")

    return run


def _delete_staging(bucket: str, key: str) -> Callable[[AwsClients], None]:
    def run(clients: AwsClients) -> None:
        _remove_staging(clients.s3, bucket, key)

    return run


def cleanup(clients: AwsClients, request: CleanupRequest) -> CleanupResult:
    """Plan, then (unless a dry run) delete; returns what was (or would be) deleted and what
    was kept, and why. A dry run's result is the real run's, had nothing failed."""
    plan = plan_cleanup(clients, request)
    result = CleanupResult(
        dry_run=request.dry_run,
        kept_layer_versions=plan.kept_layer_versions,
        kept_in_use=plan.kept_in_use,
        kept=dict(plan.kept),
    )
    failed: set[str] = set()
    for deletion in plan.deletions:
        blocked = [need for need in deletion.needs if need in failed]
        if blocked:
            failed.add(deletion.label)
            result.failures.append(f"kept {deletion.label}: {blocked[0]} could not be deleted")
            continue
        if not request.dry_run:
            try:
                deletion.action(clients)
            except AWS_ERRORS as exc:
                failed.add(deletion.label)
                result.failures.append(aws_error(exc, f"deleting {deletion.label}").message)
                continue
        result.record(deletion, plan)
    return result
