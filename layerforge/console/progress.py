"""Progress for people: rich bars on a terminal, one plain line per step everywhere else (CI)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from layerforge.console.text import format_seconds, styled
from layerforge.events import Event, EventKind, EventSink

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import TaskID

    from layerforge.console.output import Output

__all__ = ["STEP_TITLES", "plain_progress", "rich_progress"]

STEP_TITLES = {
    "resolve": "Resolving and installing wheels",
    "download": "Downloading wheels",
    "install": "Installing wheels",
    "prune": "Dropping what no import needs",
    "strip": "Stripping binaries",
    "bytecode": "Compiling hash-based bytecode",
    "record": "Normalising RECORD files",
    "fontcache": "Making matplotlib's font list",
    "drift": "Checking for newer releases",
    "zip": "Writing the deterministic zip",
    "verify": "Verifying ELF files",
    "cache": "Storing in the build cache",
    "place": "Putting the layer in place",
    "pull": "Pulling image",
    "smoke": "Importing modules in the sandbox",
    "invoke": "Invoking the handler",
    "publish": "Publishing",
}


def _title(step: str) -> str:
    return STEP_TITLES.get(step, step)


@contextmanager
def rich_progress(console: Console) -> Iterator[EventSink]:
    """One progress line per step, drawn while the block runs."""
    from rich.progress import (  # a terminal only: plain lines need none of it
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False, style="bold"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[latest]}", markup=False, style="dim"),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        tasks: dict[str, TaskID] = {}

        def sink(event: Event) -> None:
            if event.kind is EventKind.NOTE:
                progress.console.print(styled(("• ", "cyan"), event.message))
                return
            task = tasks.get(event.step)
            if task is None:
                task = progress.add_task(_title(event.step), total=None, latest="")
                tasks[event.step] = task
            latest = event.message[:60]
            if event.kind is EventKind.FINISHED:
                total = progress.tasks[task].total or 1
                progress.update(task, total=total, completed=total, latest=latest)
            elif event.total is not None:
                progress.update(task, total=event.total, completed=event.completed, latest=latest)
            elif event.kind is EventKind.PROGRESS:
                progress.update(task, latest=latest)

        yield sink


@contextmanager
def plain_progress(console: Output) -> Iterator[EventSink]:
    """When stderr is not a terminal (CI logs, pipes): a line when each step starts and one when
    it ends, with its elapsed time; notes as they come. Nothing is redrawn, nothing is cut."""
    started: dict[str, float] = {}
    origin = time.monotonic()

    def stamp() -> str:
        return f"[{time.monotonic() - origin:7.1f}s] "

    def sink(event: Event) -> None:
        if event.kind is EventKind.NOTE:
            console.print(styled(stamp(), ("• ", "cyan"), event.message))
        elif event.kind is EventKind.STARTED:
            started[event.step] = time.monotonic()
            detail = f" ({event.message})" if event.message else ""
            console.print(styled(stamp(), (_title(event.step), "bold"), " ...", detail))
        elif event.kind is EventKind.FINISHED:
            elapsed = time.monotonic() - started.pop(event.step, time.monotonic())
            detail = f": {event.message}" if event.message else ""
            console.print(
                styled(
                    stamp(),
                    (_title(event.step), "bold"),
                    f" done in {format_seconds(elapsed)}",
                    detail,
                )
            )

    yield sink
