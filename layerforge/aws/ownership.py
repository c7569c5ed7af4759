"""What layerforge made, and what it must leave alone.

Every IAM role, Lambda function and state machine layerforge creates carries the tag
``managed-by=layerforge``; its layer versions say ``layerforge sha256:<digest>`` in their
description, and its staging objects are tagged and named by ``publish.staging_key``. Like
Terraform with resources it does not own, layerforge never updates, adopts or deletes anything
without that marker, and never changes a policy it did not write: a role it made holds one
inline policy per function (``layerforge-function-<name>``), and nothing else.

Reading the facts (``read_role``, ``read_function``, ``tags_of_machine``) is apart from
judging them (``role_refusal``, ``managed``), so the rules are pure functions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import botocore.exceptions

from layerforge.aws.clients import error_code
from layerforge.errors import UsageError

__all__ = [
    "LEGACY_POLICY",
    "MANAGED_KEY",
    "MANAGED_VALUE",
    "RoleFacts",
    "allows",
    "function_policy_name",
    "functions_of",
    "iam_tags",
    "is_layerforge_policy",
    "lambda_tags",
    "managed",
    "policy_document",
    "read_function",
    "read_role",
    "refuse_function",
    "refuse_machine",
    "refuse_role",
    "role_refusal",
    "s3_tagging",
    "states_tags",
    "tags_of_function",
    "tags_of_machine",
]

MANAGED_KEY, MANAGED_VALUE = "managed-by", "layerforge"
_POLICY_PREFIX = "layerforge-function-"
#: The one inline policy name layerforge used before roles held one policy per function.
LEGACY_POLICY = "layerforge-artifacts"
_SUMMARISED = 10  # inline policies read to say what a foreign role allows


def iam_tags() -> list[dict[str, str]]:
    return [{"Key": MANAGED_KEY, "Value": MANAGED_VALUE}]


def lambda_tags() -> dict[str, str]:
    return {MANAGED_KEY: MANAGED_VALUE}


def states_tags() -> list[dict[str, str]]:
    return [{"key": MANAGED_KEY, "value": MANAGED_VALUE}]


def s3_tagging() -> str:
    """The marker as S3's ``Tagging`` header (URL-encoded ``key=value``)."""
    return f"{MANAGED_KEY}={MANAGED_VALUE}"


def managed(tags: Mapping[str, str]) -> bool:
    return tags.get(MANAGED_KEY) == MANAGED_VALUE


def function_policy_name(function: str) -> str:
    """The inline policy a role holds for one function (IAM allows 128 characters)."""
    return f"{_POLICY_PREFIX}{function}"[:128]


def is_layerforge_policy(name: str) -> bool:
    return name.startswith(_POLICY_PREFIX) or name == LEGACY_POLICY


def functions_of(policies: Iterable[str]) -> list[str]:
    """The functions whose inline policies a role holds (by the policies' names)."""
    return sorted(p.removeprefix(_POLICY_PREFIX) for p in policies if p.startswith(_POLICY_PREFIX))


@dataclass(frozen=True)
class RoleFacts:
    """What IAM says about one role: read once, judged by pure functions."""

    name: str
    arn: str
    tags: dict[str, str]
    inline: tuple[str, ...]
    attached: tuple[str, ...]
    instance_profiles: tuple[str, ...] = ()
    allows: dict[str, str] = field(default_factory=dict)  # inline policy -> what it allows
    role: dict[str, Any] = field(default_factory=dict)  # GetRole's answer (trust policy ...)

    @property
    def foreign_policies(self) -> list[str]:
        """Policies layerforge did not write (managed ones always; inline by their names)."""
        inline = [f"inline policy {p}" for p in self.inline if not is_layerforge_policy(p)]
        return inline + [f"managed policy {a}" for a in self.attached]

    def holdings(self) -> str:
        """What the role holds, as one phrase: its policies and what each allows."""
        held = [
            f"inline policy {p}" + (f" ({self.allows[p]})" if self.allows.get(p) else "")
            for p in self.inline
        ]
        held += [f"managed policy {a}" for a in self.attached]
        held += [f"instance profile {p}" for p in self.instance_profiles]
        return ", ".join(held) if held else "no policies"


def policy_document(raw: Any) -> dict[str, Any]:
    """A policy document as IAM returns it (a dict, or URL-encoded JSON text)."""
    if isinstance(raw, str):
        try:
            parsed = json.loads(unquote(raw))
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return raw if isinstance(raw, dict) else {}


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value or []]


def allows(document: Any) -> str:
    """``allows s3:GetObject on arn:...; * on *``: what a policy document's Allow statements
    grant, in short (each statement's actions on its resources)."""
    statements = policy_document(document).get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else statements
    parts = []
    for statement in statements:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        actions = ",".join(_listed(statement.get("Action") or statement.get("NotAction")))
        resources = ",".join(_listed(statement.get("Resource") or statement.get("NotResource")))
        parts.append(f"{actions or '?'} on {resources or '?'}")
    text = "; ".join(parts)
    return f"allows {text[:160]}{'...' if len(text) > 160 else ''}" if parts else ""


def _paged(client: Any, operation: str, key: str, **arguments: Any) -> list[Any]:
    paginator = client.get_paginator(operation)
    return [item for page in paginator.paginate(**arguments) for item in page.get(key, [])]


def read_role(iam: Any, name: str, *, summarise: bool = True) -> RoleFacts | None:
    """The role's tags and policies (and, unless it is layerforge's, what its inline policies
    allow); None when there is no such role. Read-only."""
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return None
        raise
    tags = {t["Key"]: t["Value"] for t in _paged(iam, "list_role_tags", "Tags", RoleName=name)}
    inline = tuple(_paged(iam, "list_role_policies", "PolicyNames", RoleName=name))
    attached = tuple(
        str(p["PolicyArn"])
        for p in _paged(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=name)
    )
    profiles = tuple(
        str(p["InstanceProfileName"])
        for p in _paged(iam, "list_instance_profiles_for_role", "InstanceProfiles", RoleName=name)
    )
    facts = RoleFacts(name, str(role["Arn"]), tags, inline, attached, profiles, role=role)
    if not summarise or (managed(tags) and not facts.foreign_policies):
        return facts
    said = {
        policy: allows(iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"])
        for policy in inline[:_SUMMARISED]
    }
    return RoleFacts(name, facts.arn, tags, inline, attached, profiles, said, role)


def role_refusal(facts: RoleFacts) -> str | None:
    """Why layerforge must not use (or change) this role as one it made; None when it may."""
    if not managed(facts.tags):
        return (
            f"role {facts.name} exists and layerforge did not make it (it has no "
            f"{MANAGED_KEY}={MANAGED_VALUE} tag); it holds {facts.holdings()}"
        )
    foreign = facts.foreign_policies + [f"instance profile {p}" for p in facts.instance_profiles]
    if foreign:
        return (
            f"role {facts.name} was made by layerforge but now also holds what layerforge did "
            f"not write: {', '.join(foreign)}"
        )
    return None


def refuse_role(facts: RoleFacts, *, option: str = "--role-name") -> None:
    """A UsageError naming the role and what it holds, unless layerforge may use it."""
    reason = role_refusal(facts)
    if reason is not None:
        raise UsageError(
            reason,
            hint=f"to run with this role deliberately, pass --role-arn {facts.arn}; or choose "
            f"another {option} for --create-role (layerforge changes only roles it made)",
        )


def read_function(lambda_: Any, name: str) -> dict[str, Any] | None:
    """GetFunction's answer with the function's tags as ListTags gives them (GetFunction
    leaves them out without ``lambda:ListTags``, which must not look like "not tagged");
    None when there is no such function. Read-only."""
    try:
        answer = dict(lambda_.get_function(FunctionName=name))
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise
    arn = str(answer["Configuration"]["FunctionArn"])
    answer["Tags"] = dict(lambda_.list_tags(Resource=arn).get("Tags") or {})
    return answer


def tags_of_function(answer: Mapping[str, Any]) -> dict[str, str]:
    """The tags in ``read_function``'s answer."""
    return {str(k): str(v) for k, v in (answer.get("Tags") or {}).items()}


def refuse_function(name: str, arn: str, tags: Mapping[str, str]) -> None:
    if not managed(tags):
        raise UsageError(
            f"function {name} exists and layerforge did not deploy it (it has no "
            f"{MANAGED_KEY}={MANAGED_VALUE} tag); layerforge will not replace its code",
            hint="choose another --function-name; if an earlier layerforge deployed it, tag it: "
            f"aws lambda tag-resource --resource {arn} --tags {MANAGED_KEY}={MANAGED_VALUE}",
        )


def tags_of_machine(sfn: Any, arn: str) -> dict[str, str]:
    found = sfn.list_tags_for_resource(resourceArn=arn).get("tags", [])
    return {str(t["key"]): str(t["value"]) for t in found}


def refuse_machine(name: str, tags: Mapping[str, str]) -> None:
    if not managed(tags):
        raise UsageError(
            f"state machine {name} exists and layerforge did not make it (it has no "
            f"{MANAGED_KEY}={MANAGED_VALUE} tag); layerforge will not replace its definition",
            hint="choose another --function-name (the state machine is <function>-fanout)",
        )
