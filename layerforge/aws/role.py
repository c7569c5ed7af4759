"""The function's execution role: trusted by Lambda, allowed exactly what the payload does."""

from __future__ import annotations

import json
from typing import Any

import botocore.exceptions

from layerforge.aws.clients import error_code

__all__ = ["TRUST_POLICY", "ensure_role", "execution_policy"]

POLICY_NAME = "layerforge-artifacts"
TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def execution_policy(
    *, bucket: str, prefix: str, function: str, region: str, account: str, partition: str = "aws"
) -> dict[str, Any]:
    """s3:PutObject under ``bucket/prefix/*`` and log writes to the function's own log group."""
    group = f"arn:{partition}:logs:{region}:{account}:log-group:/aws/lambda/{function}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PutArtifacts",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": f"arn:{partition}:s3:::{bucket}/{prefix}/*",
            },
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
        ],
    }


def ensure_role(iam: Any, name: str, policy: dict[str, Any]) -> tuple[str, bool]:
    """Create the role, or reuse the one a previous run made; its inline policy is (re)set.

    Returns (arn, created).
    """
    created = False
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) != "NoSuchEntity":
            raise
        role = iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(TRUST_POLICY),
            Description="layerforge publish-and-invoke execution role",
            Tags=[{"Key": "managed-by", "Value": "layerforge"}],
        )["Role"]
        created = True
    iam.put_role_policy(RoleName=name, PolicyName=POLICY_NAME, PolicyDocument=json.dumps(policy))
    return str(role["Arn"]), created
