"""AWS names and identifiers, checked before anything is sent: each rule is AWS's own, so a bad
name fails here in a second with a clear message instead of after resources were created.

Every ARN layerforge writes is made by ``arn`` with the partition botocore's endpoint data gives
the region (``aws``, ``aws-cn``, ``aws-us-gov``, ``aws-iso``, ``aws-iso-b``, ``aws-eusc`` ...):
never a partition table of its own, which would miss the next one AWS opens."""

from __future__ import annotations

import functools
import re
from typing import Any

from layerforge.errors import UsageError

__all__ = [
    "arn",
    "check_bucket",
    "check_function_name",
    "check_layer_name",
    "check_role_arn",
    "check_role_name",
    "fanout_names",
    "normalise_prefix",
    "partition_of",
    "partition_of_arn",
    "role_name_of",
]

_LAYER = re.compile(r"^[a-zA-Z0-9_-]{1,140}$")
_FUNCTION = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_ROLE = re.compile(r"^[\w+=,.@-]{1,64}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/(?:[\w+=,.@/-]*/)?([\w+=,.@-]{1,64})$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX_SEGMENT = re.compile(r"^[A-Za-z0-9!_.*'()=-]+$")


def _bad(what: str, value: str, rule: str) -> UsageError:
    return UsageError(f"{what} {value!r} is not valid: {rule}", hint=f"choose another {what}")


def check_layer_name(name: str) -> str:
    if not _LAYER.match(name):
        raise _bad("--layer-name", name, "1-140 letters, digits, '-' or '_'")
    return name


def check_function_name(name: str) -> str:
    if not _FUNCTION.match(name):
        raise _bad("--function-name", name, "1-64 letters, digits, '-' or '_'")
    return name


def check_role_name(name: str) -> str:
    if not _ROLE.match(name):
        raise _bad("--role-name", name, "1-64 letters, digits and +=,.@_-")
    return name


def check_role_arn(arn: str) -> str:
    if not _ROLE_ARN.match(arn):
        raise UsageError(
            f"--role-arn {arn!r} is not an IAM role ARN",
            hint="arn:PARTITION:iam::<12-digit account>:role/<name> (PARTITION: aws, aws-cn, ...)",
        )
    return arn


def role_name_of(arn: str) -> str:
    match = _ROLE_ARN.match(arn)
    assert match is not None, "check_role_arn first"
    return match.group(1)


def check_bucket(name: str) -> str:
    if not _BUCKET.match(name) or ".." in name or re.match(r"^\d+\.\d+\.\d+\.\d+$", name):
        raise _bad("bucket", name, "3-63 lowercase letters, digits, '.' or '-'")
    return name


def normalise_prefix(prefix: str, *, what: str = "--prefix") -> str:
    """``runs/`` -> ``runs``; ``a//b`` -> ``a/b``; ``.`` and ``..`` segments are refused."""
    segments = [s for s in prefix.strip().split("/") if s]
    if not segments:
        raise UsageError(f"{what} {prefix!r} is empty", hint="give a key prefix such as 'runs'")
    for segment in segments:
        if segment in (".", "..") or not _PREFIX_SEGMENT.match(segment):
            raise UsageError(
                f"{what} {prefix!r}: segment {segment!r} is not allowed",
                hint="use letters, digits and !_.*'()=- between single slashes; "
                "no '.' or '..' segments",
            )
    normalised = "/".join(segments)
    if len(normalised) > 200:
        raise UsageError(f"{what} is over 200 characters")
    return normalised


def fanout_names(function: str) -> tuple[str, str]:
    """The state machine and its role that a fan-out of ``function`` uses (and cleanup finds)."""
    return f"{function}-fanout", f"{function[:52]}-fanout-role"


@functools.cache
def _endpoint_data() -> Any:
    """botocore's session (its endpoint data is loaded once, on the first question)."""
    import botocore.session

    return botocore.session.get_session()


@functools.cache
def partition_of(region: str) -> str:
    """The partition of ``region``, from botocore's endpoint data (``Session.
    get_partition_for_region``, in every botocore layerforge supports: boto3 >= 1.34)."""
    import botocore
    import botocore.exceptions

    try:
        return str(_endpoint_data().get_partition_for_region(region))
    except botocore.exceptions.UnknownRegionError:
        raise UsageError(
            f"region {region!r} is not known to botocore {botocore.__version__}, so its "
            "partition (and every ARN in it) is unknown",
            hint="check --region, or upgrade botocore (pip install --upgrade boto3)",
        ) from None


def partition_of_arn(value: str) -> str:
    """``arn:aws-cn:lambda:...`` -> ``aws-cn``."""
    parts = value.split(":", 2)
    if len(parts) < 3 or parts[0] != "arn" or not parts[1]:
        raise UsageError(f"{value!r} is not an ARN", hint="arn:PARTITION:SERVICE:...")
    return parts[1]


def arn(partition: str, service: str, resource: str, *, region: str = "", account: str = "") -> str:
    """``arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE``: the one place ARNs are spelled."""
    return f"arn:{partition}:{service}:{region}:{account}:{resource}"
