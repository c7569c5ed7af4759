"""Publish a layer version, once per content: a version with the same sha256 is reused.

Zips over the 50 MiB direct-upload limit go through an S3 staging object, which is removed on
every exit path (an interrupted multipart upload is aborted too); ``cleanup`` removes any that a
killed run left behind.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import botocore.exceptions

from layerforge.interrupts import deferred, owed
from layerforge.runtimes import LIMITS, Architecture, Runtime

__all__ = [
    "STAGING_PREFIX",
    "PublishedLayer",
    "find_layer_version",
    "publish_layer",
    "remove_staging",
    "staging_key",
]

_DIGEST = re.compile(r"sha256:([0-9a-f]{64})")
STAGING_PREFIX = "layerforge-staging"


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


def find_layer_version(lambda_: Any, name: str, sha256: str) -> dict[str, Any] | None:
    """The newest version of ``name`` whose description records ``sha256``."""
    for version in _versions(lambda_, name):
        match = _DIGEST.search(version.get("Description", ""))
        if match and match.group(1) == sha256:
            return version
    return None


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
    return f"{STAGING_PREFIX}/{name}-{sha256}.zip"


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
            s3.upload_file(str(layer), bucket, key)
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
    if layer.stat().st_size <= LIMITS.direct_upload_zip_bytes:
        version = lambda_.publish_layer_version(
            Content={"ZipFile": layer.read_bytes()}, **arguments
        )
        return _published(name, version, sha256, reused=False, via_s3=False, region=region)
    assert staging_bucket is not None, "the pre-flight requires a staging bucket over 50 MiB"
    with _staged(s3, layer, staging_bucket, staging_key(name, sha256)) as content:
        version = lambda_.publish_layer_version(Content=content, **arguments)
    return _published(name, version, sha256, reused=False, via_s3=True, region=region)
