"""AWS names and identifiers, checked before anything is sent: each rule is AWS's own, so a bad
name fails here in a second with a clear message instead of after resources were created."""

from __future__ import annotations

import re

from layerforge.errors import UsageError

__all__ = [
    "check_bucket",
    "check_function_name",
    "check_layer_name",
    "check_role_arn",
    "check_role_name",
    "fanout_names",
    "normalise_prefix",
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
            hint="arn:aws:iam::<12-digit account>:role/<name>",
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
