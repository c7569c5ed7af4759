"""The S3 scopes a function may read and write (the spec's ``access``), as the role's policy
will name them: ``BUCKET/PREFIX/``, a valid bucket name (or a template such as ``{bucket}`` or
``{bucket}-logs``) and a key prefix without wildcards, policy variables or ``.``/``..``
segments. ``write = ["*"]`` would otherwise become ``s3:PutObject`` on every bucket.

A scope is checked twice: as written when the spec loads (templates stand for a placeholder
name), and once its templates are expanded for a run (an event or ``--prefix`` value must not
bring in what the spec could not say itself).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from layerforge.aws_names import check_bucket
from layerforge.errors import UsageError
from layerforge.proof.templates import TEMPLATE, Templates

__all__ = ["SCOPE_HINT", "Access", "access_of", "check_scope_as_written", "scope_problem"]

SCOPE_HINT = (
    "a scope is BUCKET/PREFIX/: a bucket name or template ({bucket}, {bucket}-logs) and a key "
    "prefix, with no '*', '?', '${', '.' or '..'"
)
_PLACEHOLDER = "xxx"  # what a template stands for while the spec is checked as written


def scope_problem(scope: str) -> str | None:
    """What makes ``scope`` (templates expanded, or replaced by a placeholder) unfit for an IAM
    resource; None when it is fit."""
    bucket, _, prefix = scope.partition("/")
    for wildcard in ("*", "?", "${"):
        if wildcard in scope:
            return f"{wildcard!r} is a wildcard or policy variable in IAM"
    if "{" in scope or "}" in scope:
        return "braces that are not a template"
    try:
        check_bucket(bucket)
    except UsageError:
        return f"{bucket!r} is not a bucket name (3-63 lowercase letters, digits, '.' or '-')"
    segments = prefix.split("/")
    if prefix.endswith("/"):
        segments = segments[:-1]
    for segment in segments if prefix else ():
        if not segment:
            return "the prefix has an empty segment ('//')"
        if segment in (".", ".."):
            return f"the prefix has a {segment!r} segment"
    return None


def check_scope_as_written(scope: str) -> str | None:
    """``scope_problem`` for a scope as the spec writes it (each template a placeholder)."""
    return scope_problem(TEMPLATE.sub(_PLACEHOLDER, scope))


def _normalised(scope: str) -> str:
    return scope if scope.endswith("/") else scope + "/"


@dataclass(frozen=True)
class Access:
    """The scopes of one run, expanded and checked: ``bucket/prefix/`` each."""

    read: tuple[str, ...]
    write: tuple[str, ...]

    def outside(self, bucket: str) -> list[str]:
        """The scopes in another bucket than ``bucket`` (the plan names them)."""
        scopes = dict.fromkeys((*self.write, *self.read))
        return [scope for scope in scopes if scope.partition("/")[0] != bucket]

    def plan(self, bucket: str) -> dict[str, list[str]]:
        outside = self.outside(bucket)
        return {
            "read": list(self.read),
            "write": list(self.write),
            **({"outside_bucket": outside} if outside else {}),
        }


def _expanded(scopes: Sequence[str], where: str, templates: Templates) -> tuple[str, ...]:
    found = []
    for index, scope in enumerate(scopes):
        expanded = templates.expand(scope)
        problem = scope_problem(expanded)
        if problem:
            raise UsageError(
                f"proof spec: access.{where}[{index}] {scope!r} expands to {expanded!r}: {problem}",
                hint=SCOPE_HINT,
            )
        found.append(_normalised(expanded))
    return tuple(found)


def access_of(read: Sequence[str], write: Sequence[str], templates: Templates) -> Access:
    """The run's scopes; UsageError naming a scope that its expansion made unfit."""
    return Access(_expanded(read, "read", templates), _expanded(write, "write", templates))
