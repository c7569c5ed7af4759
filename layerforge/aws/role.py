"""The function's execution role: trusted by Lambda, allowed exactly what its proof spec says
it reads and writes, and its own log group; nothing else.

A role layerforge makes is tagged as its own and holds one inline policy per function
(``layerforge-function-<name>``), so functions sharing a role (``--role-name``) never take each
other's permissions away. A role of the chosen name that layerforge did not make, or that holds
policies it did not write, is refused (``ownership.role_refusal``): ``--role-arn`` is how to use
one's own role.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import botocore.exceptions

from layerforge.aws.clients import error_code
from layerforge.aws.ownership import (
    RoleFacts,
    function_policy_name,
    iam_tags,
    policy_document,
    read_role,
    refuse_role,
)
from layerforge.aws_names import arn
from layerforge.errors import AwsError, UsageError

__all__ = [
    "LAMBDA_SERVICE",
    "STATES_SERVICE",
    "TRUST_POLICY",
    "EnsuredRole",
    "ensure_role",
    "execution_policy",
    "regional_role_name",
    "require_trust",
    "s3_object_arns",
    "trusts",
]

LAMBDA_SERVICE = "lambda.amazonaws.com"
STATES_SERVICE = "states.amazonaws.com"
_WHO = {LAMBDA_SERVICE: "Lambda", STATES_SERVICE: "Step Functions"}
TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": LAMBDA_SERVICE},
            "Action": "sts:AssumeRole",
        }
    ],
}


def s3_object_arns(scopes: Sequence[str], partition: str) -> list[str]:
    """``bucket/prefix/`` scopes as object ARNs ``arn:aws:s3:::bucket/prefix/*``."""
    return [arn(partition, "s3", f"{scope.rstrip('/')}/*") for scope in scopes]


def execution_policy(
    *,
    write: Sequence[str],
    read: Sequence[str] = (),
    function: str,
    region: str,
    account: str,
    partition: str = "aws",
) -> dict[str, Any]:
    """s3:PutObject on the ``write`` scopes, s3:GetObject on the ``read`` scopes (each a
    ``bucket/prefix/``), and log writes to the function's own log group."""
    group = arn(
        partition, "logs", f"log-group:/aws/lambda/{function}", region=region, account=account
    )
    statements: list[dict[str, Any]] = []
    if write:
        statements.append(
            {
                "Sid": "PutArtifacts",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": _one_or_many(s3_object_arns(write, partition)),
            }
        )
    if read:
        statements.append(
            {
                "Sid": "GetInputs",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": _one_or_many(s3_object_arns(read, partition)),
            }
        )
    statements += [
        {
            "Sid": "CreateOwnLogGroup",
            "Effect": "Allow",
            "Action": "logs:CreateLogGroup",
            "Resource": group,
        },
        {
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"{group}:*",
        },
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def _one_or_many(values: list[str]) -> str | list[str]:
    unique = list(dict.fromkeys(values))
    return unique[0] if len(unique) == 1 else unique


def trusts(role: dict[str, Any], service: str = LAMBDA_SERVICE) -> bool:
    """Whether the role's trust policy lets the service (Lambda unless named) assume it."""
    for statement in policy_document(role.get("AssumeRolePolicyDocument")).get("Statement", []):
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        services = (statement.get("Principal") or {}).get("Service", [])
        actions = statement.get("Action", [])
        services = [services] if isinstance(services, str) else services
        actions = [actions] if isinstance(actions, str) else actions
        if service in services and ("sts:AssumeRole" in actions or "sts:*" in actions):
            return True
    return False


def regional_role_name(base: str, region: str) -> str:
    """``<role>-<region>``: IAM is global, so each region's role names its own bucket."""
    return f"{base[: 63 - len(region)]}-{region}"


def service_of(trust: dict[str, Any]) -> str:
    principal = trust["Statement"][0]["Principal"]["Service"]
    return str(principal)


def require_trust(role: dict[str, Any], name: str, service: str) -> None:
    if not trusts(role, service):
        raise UsageError(
            f"role {name} does not let {_WHO.get(service, service)} assume it "
            f"(no {service} in its trust policy)",
            hint="fix the role's trust policy, or use another role",
        )


@dataclass(frozen=True)
class EnsuredRole:
    arn: str
    created: bool  # by this run
    fresh: bool  # made moments ago (by this run or one beside it): IAM may still propagate it


def _young(role: dict[str, Any], seconds: float = 120.0) -> bool:
    made = role.get("CreateDate")
    if not isinstance(made, datetime):
        return False
    return (datetime.now(timezone.utc) - made).total_seconds() < seconds


def _create(iam: Any, name: str, trust: dict[str, Any]) -> str | None:
    """CreateRole with the ownership tag: its ARN, or None when a run beside this one made it
    first (then it is read and judged like any existing role)."""
    try:
        role = iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(trust),
            Description="layerforge publish-and-invoke role",
            Tags=iam_tags(),
        )["Role"]
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) != "EntityAlreadyExists":
            raise
        return None
    return str(role["Arn"])


def _judged(facts: RoleFacts | None, name: str, trust: dict[str, Any]) -> RoleFacts:
    if facts is None:  # deleted between two calls: neither made here nor there to reuse
        raise AwsError(f"role {name} vanished while layerforge was reading it", hint="retry")
    refuse_role(facts)
    require_trust(facts.role, name, service_of(trust))
    return facts


def ensure_role(
    iam: Any,
    name: str,
    policy: dict[str, Any],
    *,
    function: str,
    trust: dict[str, Any] | None = None,
) -> EnsuredRole:
    """Create the role (trusted by Lambda unless ``trust`` says otherwise), or reuse the one
    layerforge made before (or that a run beside this one is making); then set this function's
    own inline policy on it. A role layerforge did not make, or one holding policies it did
    not write, is refused before anything changes."""
    trust = trust or TRUST_POLICY
    facts = read_role(iam, name)
    arn = _create(iam, name, trust) if facts is None else None
    if arn is None:  # it existed, or a run beside this one created it first
        facts = _judged(facts or read_role(iam, name), name, trust)
    iam.put_role_policy(
        RoleName=name, PolicyName=function_policy_name(function), PolicyDocument=json.dumps(policy)
    )
    if facts is None:
        assert arn is not None
        return EnsuredRole(arn, created=True, fresh=True)
    return EnsuredRole(facts.arn, created=False, fresh=_young(facts.role))
