"""What a passed proof leaves behind, so a rerun does only what is missing.

``publish`` publishes a layer only where its sha256 is not there yet; ``publish-and-invoke``
behaves the same: when a region's proof passed, its function carries the digest of every input
of that proof (the layer's sha256, the code's, the configuration, the role and its policy, the
event, the proof spec and its input files, layerforge's version) in the tag
``layerforge:proven``. A rerun whose inputs have the same digest, against a function still
deployed as it was proven, reports that proof again instead of updating and invoking the
function (``--prove-again`` runs it anyway). The tag is removed before the function changes and
set again only when its proof passes. Fan-out runs have their own idempotency: the run id.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from layerforge import __version__
from layerforge.aws.deploy import FunctionConfig

__all__ = [
    "PROVEN_AT_TAG",
    "PROVEN_TAG",
    "Proven",
    "code_sha256",
    "forget_proof",
    "has_record",
    "inputs_digest",
    "previous_proof",
    "record_proof",
]

PROVEN_TAG = "layerforge:proven"
PROVEN_AT_TAG = "layerforge:proven-at"


@dataclass(frozen=True)
class Proven:
    """A proof that passed with the same inputs: when, and which request."""

    digest: str
    at: str
    request_id: str

    def to_dict(self) -> dict[str, str]:
        return {"inputs": self.digest, "at": self.at, "request_id": self.request_id}


def code_sha256(code: bytes) -> str:
    """The deployment package's digest as Lambda reports it (``CodeSha256``: base64)."""
    return base64.b64encode(hashlib.sha256(code).digest()).decode()


def inputs_digest(document: Mapping[str, Any]) -> str:
    """The sha256 of a proof's inputs (any JSON-able document; dataclasses are expanded)."""
    expanded = {
        k: asdict(v) if hasattr(v, "__dataclass_fields__") else v for k, v in document.items()
    }
    text = json.dumps({"layerforge": __version__, **expanded}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1]


def _deployed_as(configuration: Mapping[str, Any], config: FunctionConfig, code: bytes) -> bool:
    """Whether the function still runs exactly what ``config`` and ``code`` describe (nothing
    changed it since its proof). The role is compared by name: ``--create-role`` knows only
    that before the role is read."""
    settings = config.settings()
    found = {
        "Handler": configuration.get("Handler"),
        "Runtime": configuration.get("Runtime"),
        "MemorySize": configuration.get("MemorySize"),
        "Timeout": configuration.get("Timeout"),
        "EphemeralStorage": configuration.get("EphemeralStorage", {"Size": 512}),
        "Environment": {"Variables": (configuration.get("Environment") or {}).get("Variables", {})},
        "Layers": [layer["Arn"] for layer in configuration.get("Layers") or []],
    }
    wanted = {key: settings[key] for key in found}
    return (
        found == wanted
        and configuration.get("CodeSha256") == code_sha256(code)
        and _name(str(configuration.get("Role", ""))) == _name(config.role_arn)
        and configuration.get("Architectures", ["x86_64"]) == [config.architecture.value]
        and configuration.get("LastUpdateStatus", "Successful") == "Successful"
    )


def previous_proof(
    answer: Mapping[str, Any], digest: str, config: FunctionConfig, code: bytes
) -> Proven | None:
    """The proof recorded on the function (``read_function``'s ``answer``) if it was made with
    these inputs and the function is still deployed as then; None otherwise."""
    tags = answer.get("Tags") or {}
    if tags.get(PROVEN_TAG) != digest:
        return None
    if not _deployed_as(answer.get("Configuration") or {}, config, code):
        return None
    at, _, request = str(tags.get(PROVEN_AT_TAG, "")).partition(" ")
    return Proven(digest, at, request)


def has_record(answer: Mapping[str, Any]) -> bool:
    """Whether the function (``read_function``'s answer) carries the record of a passed proof."""
    return PROVEN_TAG in (answer.get("Tags") or {})


def record_proof(lambda_: Any, function_arn: str, digest: str, request_id: str) -> None:
    """Tag the function with the digest of the inputs its proof just passed with."""
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    lambda_.tag_resource(
        Resource=function_arn, Tags={PROVEN_TAG: digest, PROVEN_AT_TAG: f"{at} {request_id}"}
    )


def forget_proof(lambda_: Any, function_arn: str) -> None:
    """Before the function changes: it no longer carries the record of an earlier proof (so a
    run that fails, or is interrupted, never leaves one behind)."""
    lambda_.untag_resource(Resource=function_arn, TagKeys=[PROVEN_TAG, PROVEN_AT_TAG])
