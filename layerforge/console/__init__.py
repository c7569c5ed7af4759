"""Rendering for people (rich progress, tables) and machines (--json). The core never prints.

stdout carries the report (or exactly one JSON document with ``--json``); stderr carries
progress, warnings and errors. Nothing dynamic is ever interpreted as rich markup.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from layerforge.console.output import Output, PlainOutput, console_for
from layerforge.console.progress import plain_progress, rich_progress
from layerforge.console.text import format_bytes, styled
from layerforge.errors import LayerforgeError
from layerforge.events import Event, EventKind, EventSink

if TYPE_CHECKING:
    from rich.console import Console

    from layerforge.aws.regions import PublishOutcome
    from layerforge.builder.matrix import MatrixOutcome
    from layerforge.builder.result import BuildResult
    from layerforge.proof.report import ProofReport
    from layerforge.sandbox.smoke import SmokeReport
    from layerforge.verify import Report

__all__ = ["Output", "PlainOutput", "Renderer", "format_bytes"]


class Renderer:
    """Owns the two consoles: progress and errors on stderr, reports on stdout."""

    def __init__(
        self, *, json_output: bool, out: Output | None = None, err: Output | None = None
    ) -> None:
        self.json_output = json_output
        self.out = out if out is not None else console_for(stderr=False)
        self.err = err if err is not None else console_for(stderr=True)

    # -- progress and notes (stderr) ------------------------------------------------------

    @contextmanager
    def progress(self) -> Iterator[EventSink]:
        """Rich progress bars on a terminal, plain lines otherwise (also with --json)."""
        if self.err.is_terminal:
            with rich_progress(cast("Console", self.err)) as sink:
                yield sink
        else:
            with plain_progress(self.err) as sink:
                yield sink

    def note(self, event: Event) -> None:
        """A sink for steps that only report milestones (no progress bars)."""
        if event.kind is EventKind.NOTE:
            self.err.print(styled(("• ", "cyan"), event.message))

    def warning(self, message: str) -> None:
        self.err.print(styled(("warning ", "yellow"), message))

    # -- errors (stderr, and one JSON document on stdout with --json) -----------------------

    def error_line(self, message: str, *, hint: str | None = None) -> None:
        """An ERROR line on stderr only (the JSON document, if any, already carries it)."""
        self.err.print(styled(("ERROR ", "bold red"), message))
        if hint:
            self.err.print(styled(("hint: ", "yellow"), hint))

    def error(self, error: LayerforgeError) -> None:
        self.failure(error.to_dict())

    def failure(self, document: dict[str, Any]) -> None:
        """One ERROR line, details, one hint line; the same as JSON on stdout with --json."""
        if self.json_output:
            self.json(document)
        self.err.print(styled(("ERROR ", "bold red"), str(document["error"])))
        # structured details (a multi-region report) are for --json; their text, if any, here
        details = document.get("details")
        text = details.get("text") if isinstance(details, dict) else details
        if text:  # indented: a tool's own "hint:" or "ERROR" line never reads as layerforge's
            indented = "\n".join(f"  {line}" if line else "" for line in str(text).splitlines())
            self.err.print(styled((indented, "dim")))
        if document.get("hint"):
            self.err.print(styled(("hint: ", "yellow"), str(document["hint"])))

    def traceback(self, text: str) -> None:
        self.err.print(text, markup=False, highlight=False, soft_wrap=True)

    # -- reports (stdout) -----------------------------------------------------------------

    def json(self, document: dict[str, Any]) -> None:
        if isinstance(self.out, PlainOutput):
            self.out.print_json(json.dumps(document))
        else:
            cast("Console", self.out).print_json(json.dumps(document), highlight=False)

    def build_result(self, result: BuildResult, smoke: SmokeReport | None = None) -> None:
        if self.json_output:
            document = result.to_dict()
            if smoke is not None:
                document["smoke"] = smoke.to_dict()
            self.json(document)
            return
        # rich.table (40 ms): --json draws none
        from layerforge.console.tables import budget_line, packages_table, steps_table

        self.out.print(packages_table(result))
        self.out.print(steps_table(result))
        for entry in result.drift:
            self.out.print(styled(("drift ", "yellow"), entry.message))
        for warning in result.warnings:
            self.out.print(styled(("warning ", "yellow"), warning))
        self.out.print(budget_line(result))
        origin = " (reused from cache)" if result.cached else ""
        self.out.print(
            styled(
                ("built ", "green"),
                f"{result.output}{origin}\n  sha256 {result.sha256}\n"
                f"  manifest {result.manifest}  ({result.duration_seconds:.1f} s)",
            )
        )
        if smoke is not None:
            self.smoke_report(smoke)

    def matrix_result(self, outcome: MatrixOutcome) -> None:
        if self.json_output:
            self.json(outcome.to_dict())
            return
        from layerforge.console.tables import matrix_table  # rich.table (40 ms): --json draws none

        self.out.print(matrix_table(outcome))
        built = sum(1 for e in outcome.entries if e.result is not None)
        verdict = ("ALL BUILT", "green") if outcome.passed else ("SOME FAILED", "bold red")
        self.out.print(
            styled(verdict, f" {built} of {len(outcome.entries)} layers in {outcome.seconds:.1f} s")
        )

    def publish_result(self, outcome: PublishOutcome) -> None:
        """The layer versions per region; a failure's one ERROR line (and, with --json, its
        document, which holds this report) comes from the error boundary."""
        from layerforge.console.tables import publish_table

        document = outcome.to_dict()
        if self.json_output:
            if outcome.passed:
                self.json(document)
            return
        self.out.print(publish_table(document))
        verdict = (outcome.verdict, "green" if outcome.passed else "bold red")
        self.out.print(styled(verdict, f" sha256 {outcome.sha256}"))

    def verify_report(self, report: Report) -> None:
        if self.json_output:
            self.json(report.to_dict())
            return
        # rich.table (40 ms): --json draws none
        from layerforge.console.tables import findings_table

        if report.findings:
            self.out.print(findings_table(report))
        verdict = ("PASS", "green") if report.passed else ("FAIL", "bold red")
        self.out.print(styled(verdict, f" {report.summary} ({report.seconds:.2f} s)"))

    def smoke_report(self, report: SmokeReport) -> None:
        if self.json_output:
            self.json(report.to_dict())
            return
        from layerforge.console.tables import smoke_table  # rich.table (40 ms): --json draws none

        self.out.print(smoke_table(report))
        failed = ", ".join(i.module for i in report.failed)
        verdict = (
            (("PASS", "green"), " every module imports")
            if report.passed
            else (("FAIL", "bold red"), f" these modules do not import: {failed}")
        )
        self.out.print(
            styled(*verdict, f" ({len(report.imports)} modules, sandbox: {report.engine})")
        )

    def proof_report(self, report: ProofReport, title: str) -> None:
        if self.json_output:
            self.json(report.to_dict())
            return
        # rich.table (40 ms): --json draws none
        from layerforge.console.tables import proof_table, shards_table

        self.out.print(proof_table(report, title))
        shards = report.details.get("shards")
        if isinstance(shards, list) and shards:
            self.out.print(shards_table(shards))
        for section, values in report.sections().items():
            self.out.print(styled((f"{section}: ", "dim"), values))
        for note in report.details.get("notes", []):
            self.out.print(styled(("note: ", "yellow"), str(note)))
        if not report.passed and report.log_lines:
            self.out.print(styled(("function log (last lines):", "yellow")))
            for line in report.log_lines[-30:]:
                self.out.print(styled(f"  {line}"))
        verdict = ("PROOF PASSED", "green") if report.passed else ("PROOF FAILED", "bold red")
        self.out.print(styled(verdict))

    def document(self, document: dict[str, Any], title: str) -> None:
        if self.json_output:
            self.json(document)
            return
        self.out.print(styled((title, "bold")))
        self.json(document)
