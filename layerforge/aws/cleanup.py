"""cleanup: remove what publish-and-invoke made and no longer needs, safely and idempotently.

A layer version that a function still uses is kept (unless ``force``); a role loses its inline
and managed policies before it is deleted; staging objects a killed run left behind are removed.
Each deletion that fails is reported and the rest go on, so a rerun converges.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

import botocore.exceptions

from layerforge.aws.clients import AWS_ERRORS, AwsClients, aws_error, error_code
from layerforge.aws.distributed_map import machine_arn, machine_exists
from layerforge.aws.publish import STAGING_PREFIX, remove_staging
from layerforge.aws_names import fanout_names
from layerforge.errors import UsageError

__all__ = ["CleanupRequest", "CleanupResult", "cleanup"]


@dataclass(frozen=True, kw_only=True)
class CleanupRequest:
    layer_name: str
    keep: int = 1
    function_name: str | None = None
    role_name: str | None = None
    staging_bucket: str | None = None
    force: bool = False
    dry_run: bool = False


@dataclass
class CleanupResult:
    dry_run: bool
    deleted_layer_versions: list[int] = field(default_factory=list)
    kept_layer_versions: list[int] = field(default_factory=list)
    kept_in_use: dict[int, list[str]] = field(default_factory=dict)
    deleted_function: bool = False
    deleted_role: bool = False
    deleted_state_machine: bool = False  # the function's fan-out state machine
    deleted_fanout_role: bool = False  # and its role, when layerforge made it
    deleted_staging_objects: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kept_in_use"] = {str(k): v for k, v in self.kept_in_use.items()}
        return data


def _layer_versions(lambda_: Any, name: str) -> list[tuple[int, str]]:
    paginator = lambda_.get_paginator("list_layer_versions")
    found = [
        (int(v["Version"]), str(v["LayerVersionArn"]))
        for page in paginator.paginate(LayerName=name)
        for v in page.get("LayerVersions", [])
    ]
    return sorted(found, reverse=True)


def _users(lambda_: Any) -> dict[str, list[str]]:
    """Layer version ARN -> the functions that list it."""
    users: dict[str, list[str]] = {}
    paginator = lambda_.get_paginator("list_functions")
    for page in paginator.paginate():
        for function in page.get("Functions", []):
            for layer in function.get("Layers", []) or []:
                users.setdefault(str(layer["Arn"]), []).append(str(function["FunctionName"]))
    return users


def _attempt(result: CleanupResult, doing: str, action: Callable[[], bool]) -> bool:
    """Run one deletion; a failure is recorded and the cleanup goes on."""
    if result.dry_run:
        return True
    try:
        return action()
    except AWS_ERRORS as exc:
        result.failures.append(aws_error(exc, doing).message)
        return False


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
        for attached in iam.list_attached_role_policies(RoleName=name).get("AttachedPolicies", []):
            iam.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
        for profile in iam.list_instance_profiles_for_role(RoleName=name).get(
            "InstanceProfiles", []
        ):
            iam.remove_role_from_instance_profile(
                InstanceProfileName=profile["InstanceProfileName"], RoleName=name
            )
        iam.delete_role(RoleName=name)

    return _gone(delete, "NoSuchEntity")


def _staging_keys(s3: Any, bucket: str) -> Iterator[str]:
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=f"{STAGING_PREFIX}/"):
        for item in page.get("Contents", []):
            yield str(item["Key"])
    uploads = s3.list_multipart_uploads(Bucket=bucket, Prefix=f"{STAGING_PREFIX}/")
    for upload in uploads.get("Uploads", []):
        yield str(upload["Key"])


def _delete_version(clients: AwsClients, name: str, version: int) -> bool:
    return _gone(
        lambda: clients.lambda_.delete_layer_version(LayerName=name, VersionNumber=version),
        "ResourceNotFoundException",
    )


def _remove_staging_object(clients: AwsClients, bucket: str, key: str) -> bool:
    remove_staging(clients.s3, bucket, key)
    return True


def _layers(clients: AwsClients, request: CleanupRequest, result: CleanupResult) -> None:
    versions = _layer_versions(clients.lambda_, request.layer_name)
    users = {} if request.force else _users(clients.lambda_)
    for index, (version, arn) in enumerate(versions):
        if index < request.keep:
            result.kept_layer_versions.append(version)
        elif arn in users:
            result.kept_in_use[version] = users[arn]
            result.kept_layer_versions.append(version)
        elif _attempt(
            result,
            f"deleting {arn}",
            partial(_delete_version, clients, request.layer_name, version),
        ):
            result.deleted_layer_versions.append(version)


def _function(clients: AwsClients, name: str) -> bool:
    return _gone(
        lambda: clients.lambda_.delete_function(FunctionName=name), "ResourceNotFoundException"
    )


def _state_machine(clients: AwsClients, name: str, *, delete: bool) -> bool:
    """Whether the state machine exists (and, unless a dry run, delete it)."""
    arn = machine_arn(clients, str(clients.sts.get_caller_identity()["Account"]), name)
    if not machine_exists(clients, arn):
        return False
    if delete:
        clients.stepfunctions.delete_state_machine(stateMachineArn=arn)
    return True


def _managed_role(clients: AwsClients, name: str, *, delete: bool) -> bool:
    """Whether layerforge made the role (tagged managed-by=layerforge); if so, delete it."""
    try:
        tags = clients.iam.list_role_tags(RoleName=name).get("Tags", [])
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return False
        raise
    if {"Key": "managed-by", "Value": "layerforge"} not in tags:
        return False
    return _delete_role(clients.iam, name) if delete else True


def _fanout(clients: AwsClients, function: str, result: CleanupResult) -> None:
    """The function's fan-out state machine and its role; a dry run reports what exists."""
    machine, role = fanout_names(function)
    delete = not result.dry_run
    try:
        result.deleted_state_machine = _state_machine(clients, machine, delete=delete)
    except AWS_ERRORS as exc:
        result.failures.append(aws_error(exc, f"deleting state machine {machine}").message)
    try:
        result.deleted_fanout_role = _managed_role(clients, role, delete=delete)
    except AWS_ERRORS as exc:
        result.failures.append(aws_error(exc, f"deleting role {role}").message)


def _staging(clients: AwsClients, bucket: str, result: CleanupResult) -> None:
    for key in sorted(set(_staging_keys(clients.s3, bucket))):
        if _attempt(
            result, f"removing {key}", partial(_remove_staging_object, clients, bucket, key)
        ):
            result.deleted_staging_objects.append(key)


def cleanup(clients: AwsClients, request: CleanupRequest) -> CleanupResult:
    """Delete what ``request`` names; returns what was (or, in a dry run, would be) deleted."""
    if request.keep < 0:
        raise UsageError("--keep must be 0 or more", hint="--keep 1 keeps the newest version")
    result = CleanupResult(dry_run=request.dry_run)
    try:
        _layers(clients, request, result)
        if request.function_name:
            result.deleted_function = _attempt(
                result,
                f"deleting function {request.function_name}",
                partial(_function, clients, request.function_name),
            )
            _fanout(clients, request.function_name, result)
        if request.role_name:
            result.deleted_role = _attempt(
                result,
                f"deleting role {request.role_name}",
                partial(_delete_role, clients.iam, request.role_name),
            )
        if request.staging_bucket:
            _staging(clients, request.staging_bucket, result)
    except AWS_ERRORS as exc:
        raise aws_error(exc, "cleaning up") from None
    return result
