"""Publish a layer version, once per content: a version with the same sha256 is reused."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layerforge.builder.archive import sha256_of
from layerforge.runtimes import LIMITS, Architecture, Runtime

__all__ = ["PublishedLayer", "find_layer_version", "publish_layer"]

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
    name: str, version: dict[str, Any], sha256: str, *, reused: bool, via_s3: bool
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
    )


def publish_layer(
    lambda_: Any,
    s3: Any,
    *,
    layer: Path,
    name: str,
    runtime: Runtime,
    arch: Architecture,
    staging_bucket: str,
) -> PublishedLayer:
    """Reuse the version holding this exact zip, or publish one (through S3 when > 50 MiB)."""
    sha256 = sha256_of(layer)
    existing = find_layer_version(lambda_, name, sha256)
    if existing is not None:
        return _published(name, existing, sha256, reused=True, via_s3=False)
    arguments = {
        "LayerName": name,
        "Description": f"layerforge sha256:{sha256}",
        "CompatibleRuntimes": [runtime.name],
        "CompatibleArchitectures": [arch.value],
    }
    if layer.stat().st_size <= LIMITS.direct_upload_zip_bytes:
        version = lambda_.publish_layer_version(
            Content={"ZipFile": layer.read_bytes()}, **arguments
        )
        return _published(name, version, sha256, reused=False, via_s3=False)
    key = f"{STAGING_PREFIX}/{name}-{sha256}.zip"
    s3.upload_file(str(layer), staging_bucket, key)
    try:
        version = lambda_.publish_layer_version(
            Content={"S3Bucket": staging_bucket, "S3Key": key}, **arguments
        )
    finally:
        with contextlib.suppress(Exception):  # the staging copy is ours to remove, best effort
            s3.delete_object(Bucket=staging_bucket, Key=key)
    return _published(name, version, sha256, reused=False, via_s3=True)
