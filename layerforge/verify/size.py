"""Rule ``size``: Lambda's unzipped budget and the direct-upload limit."""

from __future__ import annotations

from collections.abc import Sequence

from layerforge.runtimes import LIMITS
from layerforge.verify.findings import Finding, Rule, Severity
from layerforge.verify.source import Entry

__all__ = ["check_size", "unzipped_bytes"]


def unzipped_bytes(entries: Sequence[Entry]) -> int:
    return sum(e.size for e in entries if e.is_regular)


def check_size(
    entries: Sequence[Entry], zipped: int | None, function_size: int = 0
) -> list[Finding]:
    findings = []
    unzipped = unzipped_bytes(entries)
    budget = LIMITS.unzipped_bytes - function_size
    if unzipped > budget:
        findings.append(
            Finding(
                Rule.SIZE,
                Severity.ERROR,
                "(layer)",
                "unzipped size over Lambda's budget (function + all layers share it)",
                required=f"{unzipped:,} bytes",
                allowed=f"{budget:,} bytes "
                f"({LIMITS.unzipped_bytes:,} minus the function's {function_size:,})",
                fix="drop packages, or rebuild with layerforge build (prunes tests, strips .so)",
            )
        )
    if zipped is not None and zipped > LIMITS.direct_upload_zip_bytes:
        findings.append(
            Finding(
                Rule.SIZE,
                Severity.WARNING,
                "(layer)",
                "zip over the direct-upload limit: publishing must go through S3",
                required=f"{zipped:,} bytes",
                allowed=f"{LIMITS.direct_upload_zip_bytes:,} bytes",
                fix="publish-and-invoke uploads through an S3 staging object automatically",
            )
        )
    return findings
