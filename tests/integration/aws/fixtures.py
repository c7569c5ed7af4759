"""Helpers of the tests that talk to the moto server: real zips, real roles and functions, some
made the way layerforge makes them and some the way someone else would."""

from __future__ import annotations

import json
import uuid
import zipfile
from pathlib import Path
from typing import Any

from layerforge.archive import sha256_of
from layerforge.aws.clients import AwsClients
from layerforge.aws.publish import PublishedLayer, publish_layer
from layerforge.aws.role import TRUST_POLICY, execution_policy
from layerforge.runtimes import Architecture, get_runtime

__all__ = [
    "ADMIN",
    "HANDLER_CODE",
    "PY311",
    "REGION",
    "X86",
    "foreign_function",
    "foreign_role",
    "policy_for",
    "publish_zip",
    "small_zip",
    "unique",
]

REGION = "us-east-1"
PY311, X86 = get_runtime("python3.11"), Architecture.X86_64
ADMIN = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
HANDLER_CODE = "def handler(event, context):\n    return 1\n"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def small_zip(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return path


def policy_for(function: str, bucket: str = "bucket-x") -> dict[str, Any]:
    return execution_policy(
        write=[f"{bucket}/{function}/"], function=function, region=REGION, account="123456789012"
    )


def publish_zip(
    clients: AwsClients, layer: Path, name: str, staging_bucket: str | None = None
) -> PublishedLayer:
    """``layer`` published as layerforge publishes it (python3.11, x86_64)."""
    return publish_layer(
        clients.lambda_,
        clients.s3,
        layer=layer,
        sha256=sha256_of(layer),
        name=name,
        runtimes=[PY311],
        architectures=[X86],
        staging_bucket=staging_bucket,
    )


def foreign_role(clients: AwsClients, name: str, *, admin: bool = True) -> str:
    """A role someone else made: no layerforge tag (and, unless not ``admin``, an inline
    policy allowing everything)."""
    role = clients.iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST_POLICY))
    if admin:
        document = json.dumps(ADMIN)
        clients.iam.put_role_policy(RoleName=name, PolicyName="admin", PolicyDocument=document)
    return str(role["Role"]["Arn"])


def foreign_function(clients: AwsClients, name: str, role: str, folder: Path) -> None:
    """A function someone else deployed: no layerforge tag."""
    code = small_zip(folder / f"{name}.zip", {"code.py": HANDLER_CODE})
    clients.lambda_.create_function(
        FunctionName=name,
        Role=role,
        Runtime="python3.11",
        Handler="code.handler",
        Code={"ZipFile": code.read_bytes()},
    )
