"""The function's execution role: trusted by Lambda, allowed exactly what its proof spec says
it reads and writes, and its own log group; nothing else."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

import botocore.exceptions

from layerforge.aws.clients import error_code
from layerforge.aws.names import arn

__all__ = [
    "POLICY_NAME",
    "TRUST_POLICY",
    "ensure_role",
    "execution_policy",
    "s3_object_arns",
    "trusts",
]

POLICY_NAME = "layerforge-artifacts"
LAMBDA_SERVICE = "lambda.amazonaws.com"
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


def _document(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        try:
            parsed = json.loads(unquote(raw))
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return raw if isinstance(raw, dict) else {}


def trusts(role: dict[str, Any], service: str = LAMBDA_SERVICE) -> bool:
    """Whether the role's trust policy lets the service (Lambda unless named) assume it."""
    for statement in _document(role.get("AssumeRolePolicyDocument")).get("Statement", []):
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        services = (statement.get("Principal") or {}).get("Service", [])
        actions = statement.get("Action", [])
        services = [services] if isinstance(services, str) else services
        actions = [actions] if isinstance(actions, str) else actions
        if service in services and ("sts:AssumeRole" in actions or "sts:*" in actions):
            return True
    return False


def ensure_role(
    iam: Any, name: str, policy: dict[str, Any], trust: dict[str, Any] | None = None
) -> tuple[str, bool]:
    """Create the role (trusted by Lambda unless ``trust`` says otherwise), or reuse the one a
    previous run made; its inline policy is (re)set. Returns (arn, created)."""
    created = False
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) != "NoSuchEntity":
            raise
        role = iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(trust or TRUST_POLICY),
            Description="layerforge publish-and-invoke role",
            Tags=[{"Key": "managed-by", "Value": "layerforge"}],
        )["Role"]
        created = True
    iam.put_role_policy(RoleName=name, PolicyName=POLICY_NAME, PolicyDocument=json.dumps(policy))
    return str(role["Arn"]), created
