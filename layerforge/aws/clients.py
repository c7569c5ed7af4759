"""boto3 clients: one place for region, profile, endpoint and retries; and one translation of
AWS failures into errors that say what failed and what to do.

Throttling and transient errors are retried by botocore's standard retry mode; the same code
talks to AWS, or to a moto server when ``endpoint_url`` names one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import boto3.exceptions
import botocore.exceptions
from botocore.config import Config

from layerforge.aws_names import partition_of
from layerforge.errors import AwsError, UsageError
from layerforge.interrupts import refuse_once_cancelled

__all__ = [
    "AWS_ERRORS",
    "AwsClients",
    "AwsTarget",
    "aws_error",
    "aws_step",
    "connect_aws",
    "error_code",
]

#: What a failed AWS call raises: each becomes one clear error line.
AWS_ERRORS = (
    botocore.exceptions.ClientError,
    botocore.exceptions.BotoCoreError,
    boto3.exceptions.Boto3Error,
)

RETRIES = Config(
    retries={"mode": "standard", "max_attempts": 8}, connect_timeout=10, read_timeout=120
)
#: A synchronous Invoke is not retried: a retry after a read timeout would run the analysis
#: again. The read timeout outlasts Lambda's 900-second maximum.
INVOKE = Config(retries={"mode": "standard", "max_attempts": 1}, read_timeout=960)


@dataclass(frozen=True)
class AwsTarget:
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None


@dataclass(frozen=True)
class AwsClients:
    """The clients one run needs in one region; tests may build this from their own clients."""

    lambda_: Any
    lambda_invoke: Any
    s3: Any
    iam: Any
    sts: Any
    logs: Any
    region: str
    stepfunctions: Any = None

    @property
    def partition(self) -> str:
        return partition_of(self.region)


def connect_aws(target: AwsTarget) -> AwsClients:
    try:
        session = boto3.Session(profile_name=target.profile, region_name=target.region)
    except botocore.exceptions.ProfileNotFound as exc:
        raise UsageError(str(exc), hint="check --profile or ~/.aws/config") from None
    region = session.region_name
    if not region:
        raise UsageError("no AWS region", hint="pass --region or set AWS_REGION")
    session.events.register("before-call", refuse_once_cancelled)  # nothing after a signal

    def client(name: str, config: Config = RETRIES) -> Any:
        return session.client(name, endpoint_url=target.endpoint_url, config=config)

    return AwsClients(
        lambda_=client("lambda"),
        lambda_invoke=client("lambda", INVOKE),
        s3=client("s3"),
        iam=client("iam"),
        sts=client("sts"),
        logs=client("logs"),
        region=region,
        stepfunctions=client("stepfunctions"),
    )


def error_code(exc: botocore.exceptions.ClientError) -> str:
    """The AWS error code of a failed call (``NoSuchEntity``, ``ResourceNotFoundException`` ...)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


_HINTS = {
    "AccessDenied": "the credentials lack a permission this step needs",
    "AccessDeniedException": "the credentials lack a permission this step needs",
    "NoSuchBucket": "create the bucket first, or pass an existing one with {bucket_option}",
    "TooManyRequestsException": "AWS is throttling: retry in a minute",
    "ExpiredToken": "the credentials expired: refresh them",
    "InvalidClientTokenId": "the credentials are not valid here: check --profile and --region",
}


def aws_error(exc: Exception, doing: str, *, bucket_option: str = "--bucket") -> AwsError:
    """One clear line for an AWS failure, with what to do about it; ``bucket_option`` is the
    option that named the bucket the step uses (a hint about a missing bucket names it)."""
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return AwsError(
            f"{doing}: no AWS credentials",
            hint="configure credentials (aws configure, --profile, or env)",
        )
    if isinstance(exc, botocore.exceptions.ClientError):
        code = error_code(exc) or "Error"
        message = exc.response.get("Error", {}).get("Message", str(exc))
        hint = _HINTS.get(code)
        return AwsError(
            f"{doing}: {code}: {message}", hint=hint and hint.format(bucket_option=bucket_option)
        )
    if isinstance(exc, boto3.exceptions.S3UploadFailedError):
        hint = "check that the bucket exists and is yours" if "NoSuchBucket" in str(exc) else None
        return AwsError(f"{doing}: {exc}", hint=hint and f"{hint} ({bucket_option})")
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return AwsError(f"{doing}: {exc}", hint="check the network and --endpoint-url")
    return AwsError(f"{doing}: {exc}")


@contextmanager
def aws_step(doing: str) -> Iterator[None]:
    """Inside the block, an AWS failure becomes one AwsError that says what was being done."""
    try:
        yield
    except AWS_ERRORS as exc:
        raise aws_error(exc, doing) from None
