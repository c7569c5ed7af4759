"""Rendering for people (rich progress, tables) and machines (--json). The core never prints."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from layerforge.builder.result import BuildResult
from layerforge.errors import LayerforgeError
from layerforge.events import Event, EventKind, EventSink
from layerforge.verify import Report, Severity

if TYPE_CHECKING:
    from layerforge.aws.proof import ProofReport
    from layerforge.sandbox import SmokeReport

__all__ = ["Renderer", "format_bytes"]

_STEP_TITLES = {
    "resolve": "Resolving and installing wheels",
    "prune": "Dropping what no import needs",
    "strip": "Stripping binaries",
    "bytecode": "Compiling hash-based bytecode",
    "drift": "Checking for newer releases",
    "zip": "Writing the deterministic zip",
    "verify": "Verifying ELF files",
    "pull": "Pulling image",
    "smoke": "Importing modules in the sandbox",
}
_SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "dim"}


def format_bytes(count: int) -> str:
    """Bytes in binary units, as AWS's limits are meant (250 MB = 262,144,000 bytes = 250 MiB)."""
    sign = "-" if count < 0 else ""
    count = abs(count)
    if count >= 2**20:
        return f"{sign}{count / 2**20:.1f} MiB"
    if count >= 2**10:
        return f"{sign}{count / 2**10:.1f} KiB"
    return f"{sign}{count} B"


class Renderer:
    """Owns the two consoles: progress and errors on stderr, reports on stdout."""

    def __init__(self, *, json_output: bool, err: Console | None = None) -> None:
        self.json_output = json_output
        self.out = Console(soft_wrap=True)
        self.err = err if err is not None else Console(stderr=True, soft_wrap=True)

    @contextmanager
    def progress(self) -> Iterator[EventSink]:
        """An event sink that draws one progress line per step while the block runs."""
        columns = (
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("[dim]{task.fields[latest]}", justify="left"),
        )
        with Progress(*columns, console=self.err, transient=False) as progress:
            tasks: dict[str, TaskID] = {}

            def sink(event: Event) -> None:
                self._on_event(progress, tasks, event)

            yield sink

    def _on_event(self, progress: Progress, tasks: dict[str, TaskID], event: Event) -> None:
        if event.kind is EventKind.NOTE:
            progress.console.print(f"[cyan]•[/] {event.message}")
            return
        title = _STEP_TITLES.get(event.step, event.step)
        task = tasks.get(event.step)
        if task is None:
            task = progress.add_task(title, total=None, latest="")
            tasks[event.step] = task
        latest = event.message[:60]
        if event.kind is EventKind.FINISHED:
            total = progress.tasks[task].total or 1
            progress.update(task, total=total, completed=total, latest=latest)
        elif event.total is not None:
            progress.update(task, total=event.total, completed=event.completed, latest=latest)
        elif event.kind is EventKind.PROGRESS:
            progress.update(task, latest=latest)

    def note(self, event: Event) -> None:
        """A sink for steps that only report milestones (no progress bars)."""
        if event.kind is EventKind.NOTE and not self.json_output:
            self.err.print(f"[cyan]•[/] {event.message}", highlight=False)

    def json(self, document: dict[str, Any]) -> None:
        self.out.print_json(json.dumps(document))

    def error(self, error: LayerforgeError) -> None:
        if self.json_output:
            self.json(
                {"error": error.message, "hint": error.hint, "details": error.details,
                 "exit_code": error.exit_code}
            )  # fmt: skip
        self.err.print(f"[bold red]ERROR[/] {error.message}", highlight=False)
        if error.details:
            self.err.print(f"[dim]{error.details}[/]", highlight=False)
        if error.hint:
            self.err.print(f"[yellow]hint:[/] {error.hint}", highlight=False)

    def build_result(self, result: BuildResult, smoke: SmokeReport | None = None) -> None:
        if self.json_output:
            document = result.to_dict()
            if smoke is not None:
                document["smoke"] = smoke.to_dict()
            self.json(document)
            return
        self.out.print(_packages_table(result))
        self.out.print(_steps_table(result))
        for entry in result.drift:
            self.out.print(f"[yellow]drift[/] {entry.message}", highlight=False)
        for warning in result.warnings:
            self.out.print(f"[yellow]warning[/] {warning}", highlight=False)
        self.out.print(_budget_line(result))
        origin = " (reused from cache)" if result.cached else ""
        self.out.print(
            f"[green]built[/] {result.output}{origin}\n  sha256 {result.sha256}\n"
            f"  manifest {result.manifest}  ({result.duration_seconds:.1f} s)",
            highlight=False,
        )
        if smoke is not None:
            self.smoke_report(smoke)

    def verify_report(self, report: Report) -> None:
        if self.json_output:
            self.json(report.to_dict())
            return
        if report.findings:
            self.out.print(_findings_table(report))
        style = "green" if report.passed else "bold red"
        verdict = "PASS" if report.passed else "FAIL"
        self.out.print(
            f"[{style}]{verdict}[/] {report.summary} ({report.seconds:.2f} s)", highlight=False
        )

    def smoke_report(self, report: SmokeReport) -> None:
        if self.json_output:
            self.json(report.to_dict())
            return
        table = Table(title=f"Cold imports on {report.runtime} / {report.architecture}")
        for column in ("module", "result", "seconds", "error"):
            table.add_column(
                column, overflow="fold", justify="right" if column == "seconds" else "left"
            )
        for item in report.imports:
            result = "[green]ok[/]" if item.ok else "[bold red]FAILED[/]"
            error = "\n".join([item.error, *item.traceback[-3:]]) if not item.ok else ""
            table.add_row(item.module, result, f"{item.seconds:.3f}", error)
        self.out.print(table)
        failed = ", ".join(i.module for i in report.failed)
        verdict = (
            "[green]PASS[/] every module imports"
            if report.passed
            else (f"[bold red]FAIL[/] these modules do not import: {failed}")
        )
        self.out.print(
            f"{verdict} ({len(report.imports)} modules, read-only sandbox: {report.engine})"
        )

    def proof_report(self, report: ProofReport, title: str) -> None:
        if self.json_output:
            self.json(report.to_dict())
            return
        table = Table(title=title)
        for column in ("check", "result", "evidence"):
            table.add_column(column, overflow="fold")
        for check in report.checks:
            result = "[green]passed[/]" if check.passed else "[bold red]FAILED[/]"
            table.add_row(check.name, result, check.evidence)
        self.out.print(table)
        for section in ("layer", "function", "role", "invocation"):
            if isinstance(report.details.get(section), dict):
                values = ", ".join(f"{k}={v}" for k, v in report.details[section].items())
                self.out.print(f"[dim]{section}:[/] {values}", highlight=False)
        if not report.passed and report.log_lines:
            self.out.print("[yellow]function log (last lines):[/]")
            for line in report.log_lines[-30:]:
                self.out.print(f"  {line}", highlight=False, markup=False)
        verdict = "[green]PROOF PASSED[/]" if report.passed else "[bold red]PROOF FAILED[/]"
        self.out.print(verdict)

    def document(self, document: dict[str, Any], title: str) -> None:
        if self.json_output:
            self.json(document)
            return
        self.out.print(f"[bold]{title}[/]")
        self.out.print_json(json.dumps(document))


def _findings_table(report: Report) -> Table:
    table = Table(title=f"Findings for {report.runtime} / {report.architecture}")
    for column in ("severity", "rule", "file", "required", "allowed", "fix"):
        table.add_column(column, overflow="fold")
    for finding in report.findings:
        style = _SEVERITY_STYLE[finding.severity]
        table.add_row(
            f"[{style}]{finding.severity.value}[/]",
            finding.rule.value,
            f"{finding.file}\n[dim]{finding.message}[/]",
            finding.required,
            finding.allowed,
            finding.fix,
        )
    return table


def _packages_table(result: BuildResult) -> Table:
    table = Table(title=f"Layer for {result.runtime} / {result.architecture} ({result.backend})")
    table.add_column("distribution")
    table.add_column("version")
    table.add_column("unzipped", justify="right")
    table.add_column("share", justify="right")
    for dist in sorted(result.packages, key=lambda d: -d.unzipped_bytes):
        share = dist.unzipped_bytes / result.unzipped_bytes if result.unzipped_bytes else 0.0
        name = f"[bold]{dist.name}[/]" if dist.requested else dist.name
        table.add_row(name, dist.version, format_bytes(dist.unzipped_bytes), f"{share:.0%}")
    return table


def _steps_table(result: BuildResult) -> Table:
    table = Table(title="Post-processing")
    table.add_column("step")
    table.add_column("saved", justify="right")
    table.add_column("detail", overflow="fold")
    for step in result.steps:
        saved = format_bytes(step.bytes_saved) if step.applied else "-"
        table.add_row(step.name, saved, step.detail)
    return table


def _budget_line(result: BuildResult) -> str:
    limit = format_bytes(result.direct_upload_limit)
    upload = (
        f"[green]within[/] the {limit} direct-upload limit"
        if result.fits_direct_upload
        else f"[yellow]over[/] the {limit} direct-upload limit (publishing goes through S3)"
    )
    return (
        f"unzipped {format_bytes(result.unzipped_bytes)} = {result.budget_fraction:.1%} of "
        f"Lambda's {format_bytes(result.unzipped_budget)} budget (function + all layers); "
        f"zip {format_bytes(result.zipped_bytes)}: {upload}"
    )
