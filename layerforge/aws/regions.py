"""Layer-only publish, to one region or many: one zip (one sha256) becomes a layer version in
each region, reused where that region already has it.

Regions are published concurrently; a failure in one is reported with its reason and undoes
nothing elsewhere, so a rerun publishes only where the layer is still missing. Zips over the
50 MiB direct-upload limit are staged through a bucket in the same region (``--staging-bucket
REGION=BUCKET``, or the ``{region}`` template of a single ``--staging-bucket``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.exceptions

from layerforge.archive import sha256_of
from layerforge.aws.clients import AWS_ERRORS, AwsClients, aws_error, error_code
from layerforge.aws.preflight import check_bucket_reachable
from layerforge.aws.publish import PublishedLayer, publish_layer
from layerforge.aws_names import check_bucket, check_layer_name
from layerforge.errors import (
    EXIT_OPERATION_FAILED,
    CheckFailedError,
    LayerforgeError,
    RegionsFailedError,
    UsageError,
)
from layerforge.interrupts import WorkerPool
from layerforge.runtimes import LIMITS, Architecture, Runtime
from layerforge.verify import Severity, verify_layer

__all__ = [
    "LayerPublish",
    "PublishOutcome",
    "publish_everywhere",
    "regions_failed",
    "staging_buckets",
]


@dataclass(frozen=True, kw_only=True)
class LayerPublish:
    """What ``layerforge publish`` was asked to do."""

    layer: Path
    layer_name: str
    regions: tuple[str, ...]
    runtimes: tuple[Runtime, ...]
    architectures: tuple[Architecture, ...]
    staging: Mapping[str, str] = field(default_factory=dict)
    license_info: str | None = None
    principals: tuple[str, ...] = ()  # account ids, or "*" for public


@dataclass
class PublishOutcome:
    sha256: str
    published: dict[str, PublishedLayer] = field(default_factory=dict)
    failed: dict[str, LayerforgeError] = field(default_factory=dict)
    permissions: dict[str, list[str]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.failed

    @property
    def verdict(self) -> str:
        """PUBLISHED everywhere, PARTLY PUBLISHED (in some regions), or NOT PUBLISHED."""
        if self.passed:
            return "PUBLISHED"
        total = len(self.published) + len(self.failed)
        if self.published:
            return f"PARTLY PUBLISHED ({len(self.published)} of {total} regions)"
        return "NOT PUBLISHED"

    def failure(self) -> RegionsFailedError:
        return regions_failed(
            self.failed,
            self.to_dict(),
            rerun="rerun the same command: it publishes only where the layer is still missing",
        )

    def to_dict(self) -> dict[str, Any]:
        regions: dict[str, Any] = {}
        for region, layer in sorted(self.published.items()):
            regions[region] = {
                "arn": layer.version_arn,
                "version": layer.version,
                "reused": layer.reused,
                "via_s3": layer.via_s3,
                "shared_with": self.permissions.get(region, []),
            }
        for region, error in sorted(self.failed.items()):
            regions[region] = {"error": error.message, "hint": error.hint}
        return {"passed": self.passed, "sha256": self.sha256, "regions": regions}


def regions_failed(
    failed: Mapping[str, LayerforgeError], report: dict[str, Any], *, rerun: str
) -> RegionsFailedError:
    """One error for the regions that failed (each named with its reason); ``report`` (what
    every region did) goes into its details, and its exit code is 3 when any region's
    operation failed, else the highest of theirs."""
    codes = {error.exit_code for error in failed.values()}
    code = EXIT_OPERATION_FAILED if EXIT_OPERATION_FAILED in codes else max(codes)
    reasons = "; ".join(f"{region}: {error.message}" for region, error in sorted(failed.items()))
    hints = dict.fromkeys(error.hint for _, error in sorted(failed.items()) if error.hint)
    hint = "; ".join([*hints, f"then {rerun}"]) if hints else rerun
    count = f"{len(failed)} region" + ("s" if len(failed) > 1 else "")
    return RegionsFailedError(
        f"{count} failed: {reasons}", hint=hint, exit_code=code, report=report
    )


def staging_buckets(values: Sequence[str], regions: Sequence[str]) -> dict[str, str]:
    """``--staging-bucket REGION=BUCKET`` pairs, or one bucket name with ``{region}`` in it."""
    found: dict[str, str] = {}
    for value in values:
        region, sep, bucket = value.partition("=")
        if sep:
            found[region] = check_bucket(bucket)
        elif "{region}" in value:
            found.update({r: check_bucket(value.format(region=r)) for r in regions})
        elif len(regions) == 1:
            found[regions[0]] = check_bucket(value)
        else:
            raise UsageError(
                f"--staging-bucket {value!r} names no region",
                hint="give REGION=BUCKET per region, or a name with {region}",
            )
    return found


def _verify(request: LayerPublish) -> None:
    for runtime in request.runtimes:
        for arch in request.architectures:
            report = verify_layer([request.layer], runtime, arch)
            if not report.passed:
                errors = [
                    f"{f.file}: {f.message}"
                    for f in report.findings
                    if f.severity is Severity.ERROR
                ]
                raise CheckFailedError(
                    f"{request.layer} would not load on {runtime.name}/{arch.value}; nothing was "
                    "published",
                    hint="see layerforge verify-abi",
                    details="\n".join(errors[:10]),
                )


def _grant(clients: AwsClients, layer: PublishedLayer, principals: Sequence[str]) -> list[str]:
    granted = []
    existing = ""
    try:
        existing = str(
            clients.lambda_.get_layer_version_policy(
                LayerName=layer.layer_arn, VersionNumber=layer.version
            ).get("Policy", "")
        )
    except AWS_ERRORS:
        existing = ""
    for principal in principals:
        statement = "layerforge-public" if principal == "*" else f"layerforge-{principal}"
        if statement not in existing:
            try:
                clients.lambda_.add_layer_version_permission(
                    LayerName=layer.layer_arn,
                    VersionNumber=layer.version,
                    StatementId=statement,
                    Action="lambda:GetLayerVersion",
                    Principal=principal,
                )
            except botocore.exceptions.ClientError as exc:
                if error_code(exc) != "ResourceConflictException":
                    raise  # (a conflict: a run beside this one granted it first)
        granted.append(principal)
    return granted


def _one_region(
    request: LayerPublish, sha256: str, clients: AwsClients
) -> tuple[PublishedLayer, list[str]]:
    staging = request.staging.get(clients.region)
    needs_staging = request.layer.stat().st_size > LIMITS.direct_upload_zip_bytes
    try:
        if needs_staging:
            option = f"--staging-bucket {clients.region}=BUCKET"
            if staging is None:
                raise UsageError(
                    f"the layer is over 50 MiB: {clients.region} needs a staging bucket",
                    hint=f"{option} (a bucket in that region)",
                )
            check_bucket_reachable(clients, staging, staging=True, option=option)
        layer = publish_layer(
            clients.lambda_,
            clients.s3,
            layer=request.layer,
            sha256=sha256,
            name=request.layer_name,
            runtimes=request.runtimes,
            architectures=request.architectures,
            staging_bucket=staging,
            region=clients.region,
            license_info=request.license_info,
        )
        return layer, _grant(clients, layer, request.principals)
    except AWS_ERRORS as exc:
        raise aws_error(
            exc, f"publishing in {clients.region}", bucket_option="--staging-bucket"
        ) from None


def publish_everywhere(
    request: LayerPublish, connect: Callable[[str], AwsClients]
) -> PublishOutcome:
    """Verify once, then publish in every region concurrently; failures stay per region."""
    check_layer_name(request.layer_name)
    _verify(request)
    outcome = PublishOutcome(sha256=sha256_of(request.layer))

    def attempt(region: str) -> tuple[str, Any]:
        try:
            return region, _one_region(request, outcome.sha256, connect(region))
        except LayerforgeError as error:
            return region, error

    with WorkerPool(min(8, len(request.regions))) as pool:  # an interrupt stops it at once
        for region, result in pool.map(attempt, request.regions):
            if isinstance(result, LayerforgeError):
                outcome.failed[region] = result
            else:
                outcome.published[region], outcome.permissions[region] = result
    return outcome
