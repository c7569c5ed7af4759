"""The report tables. Every cell is built from ``Text``, so no message is ever read as markup."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from layerforge.console.text import Styled, format_bytes, format_seconds, styled
from layerforge.verify import Report, Severity

if TYPE_CHECKING:
    from layerforge.builder.matrix import MatrixOutcome
    from layerforge.builder.result import BuildResult
    from layerforge.proof.report import ProofReport
    from layerforge.sandbox.smoke import SmokeReport

__all__ = [
    "budget_line",
    "findings_table",
    "matrix_table",
    "packages_table",
    "proof_table",
    "publish_table",
    "shards_table",
    "smoke_table",
    "steps_table",
]

SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "dim"}
PASSED = ("passed", "green")
FAILED = ("FAILED", "bold red")


def _table(title: str, *columns: str, right: tuple[str, ...] = ()) -> Table:
    table = Table(title=Text(title))
    for column in columns:
        table.add_column(column, overflow="fold", justify="right" if column in right else "left")
    return table


def findings_table(report: Report) -> Table:
    table = _table(
        f"Findings for {report.runtime} / {report.architecture}",
        "severity",
        "rule",
        "file",
        "required",
        "allowed",
        "fix",
    )
    for finding in report.findings:
        table.add_row(
            Text(finding.severity.value, style=SEVERITY_STYLE[finding.severity]),
            Text(finding.rule.value),
            styled(finding.file, "\n", (finding.message, "dim")),
            Text(finding.required),
            Text(finding.allowed),
            Text(finding.fix),
        )
    return table


def packages_table(result: BuildResult) -> Table:
    table = _table(
        f"Layer for {result.runtime} / {result.architecture} ({result.backend})",
        "distribution",
        "version",
        "unzipped",
        "share",
        right=("unzipped", "share"),
    )
    for dist in sorted(result.packages, key=lambda d: -d.unzipped_bytes):
        share = dist.unzipped_bytes / result.unzipped_bytes if result.unzipped_bytes else 0.0
        name = Text(dist.name, style="bold" if dist.requested else "")
        table.add_row(name, Text(dist.version), format_bytes(dist.unzipped_bytes), f"{share:.0%}")
    return table


def steps_table(result: BuildResult) -> Table:
    table = _table("Steps", "step", "time", "saved", "detail", right=("time", "saved"))
    for step in result.steps:
        saved = format_bytes(step.bytes_saved) if step.applied and step.bytes_saved else "-"
        table.add_row(Text(step.name), format_seconds(step.seconds), saved, Text(step.detail))
    return table


def budget_line(result: BuildResult) -> Styled:
    limit = format_bytes(result.direct_upload_limit)
    upload: tuple[str, str] | str = (
        ("within", "green") if result.fits_direct_upload else ("over", "yellow")
    )
    suffix = "" if result.fits_direct_upload else " (publishing goes through S3)"
    return styled(
        f"unzipped {format_bytes(result.unzipped_bytes)} = {result.budget_fraction:.1%} of "
        f"Lambda's {format_bytes(result.unzipped_budget)} budget (function + all layers); "
        f"zip {format_bytes(result.zipped_bytes)}: ",
        upload,
        f" the {limit} direct-upload limit{suffix}",
    )


def smoke_table(report: SmokeReport) -> Table:
    title = f"Cold imports on {report.runtime} / {report.architecture}"
    if report.emulated:
        title += " (emulated: timings are not Lambda's)"
    table = _table(title, "module", "result", "seconds", "error", right=("seconds",))
    for item in report.imports:
        result = Text("ok", style="green") if item.ok else Text(*FAILED)
        error = "\n".join([item.error, *item.traceback[-3:]]) if not item.ok else ""
        table.add_row(Text(item.module), result, f"{item.seconds:.3f}", Text(error))
    return table


def matrix_table(outcome: MatrixOutcome) -> Table:
    table = _table(
        "Layers",
        "target",
        "result",
        "output / reason",
        "unzipped",
        "zip",
        "time",
        right=("unzipped", "zip", "time"),
    )
    for entry in outcome.entries:
        if entry.result is not None:
            origin = " (cached)" if entry.result.cached else ""
            table.add_row(
                Text(entry.target),
                Text("built", style="green"),
                Text(entry.result.output + origin),
                format_bytes(entry.result.unzipped_bytes),
                format_bytes(entry.result.zipped_bytes),
                format_seconds(entry.result.duration_seconds),
            )
        else:
            reason = entry.error.message if entry.error is not None else "?"
            table.add_row(Text(entry.target), Text(*FAILED), Text(reason), "-", "-", "-")
    return table


def publish_table(document: dict[str, Any]) -> Table:
    table = _table("Layer versions", "region", "version ARN", "how")
    for region, found in document["regions"].items():
        if "error" in found:
            table.add_row(Text(region), Text(*FAILED), Text(found["error"]))
            continue
        how = (
            "reused"
            if found["reused"]
            else ("published via S3" if found["via_s3"] else "published")
        )
        shared = f"; shared with {', '.join(found['shared_with'])}" if found["shared_with"] else ""
        table.add_row(Text(region), Text(found["arn"]), Text(how + shared))
    return table


def proof_table(report: ProofReport, title: str) -> Table:
    table = _table(title, "check", "result", "evidence")
    for check in report.checks:
        table.add_row(
            Text(check.name), Text(*(PASSED if check.passed else FAILED)), Text(check.evidence)
        )
    return table


def shards_table(shards: list[dict[str, Any]]) -> Table:
    """A fan-out run's shards: status, rows, seconds, and why a shard failed."""
    table = _table(f"Shards ({len(shards)})", "shard", "status", "rows", "seconds", "note")
    for entry in shards:
        ok = entry.get("status") == "ok"
        rows, seconds = entry.get("rows"), entry.get("seconds")
        table.add_row(
            Text(str(entry.get("shard"))),
            Text(*(PASSED if ok else FAILED)),
            Text("" if rows is None else f"{rows:,}"),
            Text("" if seconds is None else f"{seconds:.2f}"),
            Text(str(entry.get("error") or entry.get("input") or "")),
        )
    return table
