"""Publish a layer version, once per content: a version with the same sha256 is reused.

Two runs that publish the same zip at once converge: after publishing, the versions are listed
again and the oldest one holding the sha256 is the one every run keeps (a younger one this run
made is deleted). Only versions layerforge published (``layerforge sha256:<digest>`` in the
description) are ever reused.

Zips over the 50 MiB direct-upload limit go through an S3 staging object of this run's own
(tagged as layerforge's), which is removed on every exit path (an interrupted multipart upload is
aborted too); ``cleanup`` removes any that a killed run left behind.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import botocore.exceptions

from layerforge.aws.clients import error_code
from layerforge.aws.ownership import s3_tagging
from layerforge.interrupts import deferred, owed
from layerforge.runtimes import LIMITS, Architecture, Runtime

__all__ = [
    "STAGING_PREFIX",
    "PublishedLayer",
    "find_layer_version",
    "is_layerforge_version",
    "is_staging_key",
    "publish_layer",
    "remove_staging",
    "staging_key",
]

_DIGEST = re.compile(r"^layerforge sha256:([0-9a-f]{64})\b")
STAGING_PREFIX = "layerforge-staging"
_STAGING_KEY = re.compile(
    rf"^{STAGING_PREFIX}/[A-Za-z0-9_-]{{1,140}}-[0-9a-f]{{64}}(?:-[0-9a-f]{{12}})?\.zip$"
)


@dataclass(frozen=True)
class PublishedLayer:
    name: str
    layer_arn: str
    version_arn: str
    version: int
    sha256: str
    reused: bool
    via_s3: bool
    region: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _versions(lambda_: Any, name: str) -> Iterator[dict[str, Any]]:
    paginator = lambda_.get_paginator("list_layer_versions")
    for page in paginator.paginate(LayerName=name):
        yield from page.get("LayerVersions", [])


def digest_of(description: str) -> str | None:
    """The sha256 a layerforge version's description records (None: not layerforge's)."""
    match = _DIGEST.match(description or "")
    return match.group(1) if match else None


def is_layerforge_version(version: dict[str, Any]) -> bool:
    return digest_of(str(version.get("Description", ""))) is not None


def find_layer_version(lambda_: Any, name: str, sha256: str) -> dict[str, Any] | None:
    """The oldest version of ``name`` that layerforge published with ``sha256``: the one that
    every run reuses, and the one that runs publishing at once converge on."""
    found = [
        v for v in _versions(lambda_, name) if digest_of(str(v.get("Description", ""))) == sha256
    ]
    return min(found, key=lambda v: int(v["Version"])) if found else None


def _published(
    name: str, version: dict[str, Any], sha256: str, *, reused: bool, via_s3: bool, region: str
) -> PublishedLayer:
    arn = str(version["LayerVersionArn"])
    return PublishedLayer(
        name=name,
        layer_arn=arn.rsplit(":", 1)[0],
        version_arn=arn,
        version=int(version["Version"]),
        sha256=sha256,
        reused=reused,
        via_s3=via_s3,
        region=region,
    )


def staging_key(name: str, sha256: str) -> str:
    """This run's own staging object (two runs staging the same zip never share one)."""
    return f"{STAGING_PREFIX}/{name}-{sha256}-{uuid.uuid4().hex[:12]}.zip"


def is_staging_key(key: str) -> bool:
    """Whether ``key`` is a staging object layerforge names (``cleanup`` removes only those)."""
    return _STAGING_KEY.match(key) is not None


def remove_staging(s3: Any, bucket: str, key: str) -> None:
    """Delete the staging object and abort any multipart upload of it (best effort, and not
    interruptible: it runs on the way out of an interrupted publish)."""
    with (
        deferred(),
        contextlib.suppress(botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError),
    ):
        uploads = s3.list_multipart_uploads(Bucket=bucket, Prefix=key).get("Uploads", [])
        for upload in uploads:
            s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        s3.delete_object(Bucket=bucket, Key=key)


@contextlib.contextmanager
def _staged(s3: Any, layer: Path, bucket: str, key: str) -> Iterator[dict[str, str]]:
    with owed(lambda: remove_staging(s3, bucket, key)):  # also if a signal ends us mid-upload
        try:
            s3.upload_file(str(layer), bucket, key, ExtraArgs={"Tagging": s3_tagging()})
            yield {"S3Bucket": bucket, "S3Key": key}
        finally:
            remove_staging(s3, bucket, key)


def publish_layer(
    lambda_: Any,
    s3: Any,
    *,
    layer: Path,
    sha256: str,
    name: str,
    runtimes: Sequence[Runtime],
    architectures: Sequence[Architecture],
    staging_bucket: str | None,
    region: str = "",
    license_info: str | None = None,
) -> PublishedLayer:
    """Reuse the version holding this exact zip, or publish one (through S3 when > 50 MiB)."""
    existing = find_layer_version(lambda_, name, sha256)
    if existing is not None:
        return _published(name, existing, sha256, reused=True, via_s3=False, region=region)
    arguments: dict[str, Any] = {
        "LayerName": name,
        "Description": f"layerforge sha256:{sha256}",
        "CompatibleRuntimes": sorted({r.name for r in runtimes}),
        "CompatibleArchitectures": sorted({a.value for a in architectures}),
    }
    if license_info:
        arguments["LicenseInfo"] = license_info
    via_s3 = layer.stat().st_size > LIMITS.direct_upload_zip_bytes
    if not via_s3:
        version = lambda_.publish_layer_version(
            Content={"ZipFile": layer.read_bytes()}, **arguments
        )
    else:
        assert staging_bucket is not None, "the pre-flight requires a staging bucket over 50 MiB"
        with _staged(s3, layer, staging_bucket, staging_key(name, sha256)) as content:
            version = lambda_.publish_layer_version(Content=content, **arguments)
    kept = _converge(lambda_, name, sha256, version)
    reused = kept is not version
    return _published(
        name, kept, sha256, reused=reused, via_s3=via_s3 and not reused, region=region
    )


def _converge(lambda_: Any, name: str, sha256: str, mine: dict[str, Any]) -> dict[str, Any]:
    """After publishing: when an older version holds the same sha256 (a run beside this one
    published it first), that one is kept and this run's own is deleted (nothing uses it yet)."""
    first = find_layer_version(lambda_, name, sha256)
    if first is None or int(first["Version"]) >= int(mine["Version"]):
        return mine
    try:
        lambda_.delete_layer_version(LayerName=name, VersionNumber=int(mine["Version"]))
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise
    return first
