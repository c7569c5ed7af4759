"""Drift: for each installed distribution, is there a newer release the runtime cannot take?

The index is asked by a process of its own, started with the build: the projects the
requirements name are asked about at once, while pip resolves (which leaves a core idle), and
their dependencies as soon as the install says what they are. Asking is network-bound, but
parsing the answers (thousands of files per project) holds the interpreter's lock, and
in-process it stalled the build's own threads (the zip's deflate workers wait for the lock
between members). A failure to ask is a warning on the build, never its failure.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

from packaging.utils import canonicalize_name

from layerforge.builder.install.index import PackageIndex, ReleaseSummary
from layerforge.builder.result import DriftEntry, ResolvedDistribution
from layerforge.errors import BuildError
from layerforge.processes import Background
from layerforge.runtimes import Architecture, get_runtime, supported_tags

__all__ = ["DriftCheck", "main"]

_WORKER = (
    "import sys; sys.path[:0] = {path!r}; from layerforge.builder.install.drift import main; main()"
)


class DriftCheck:
    """The questions in flight; ``result`` waits for the answers."""

    def __init__(
        self,
        named: Iterable[str],
        *,
        index_url: str | None,
        runtime: str,
        architecture: str,
    ) -> None:
        self.started = time.monotonic()
        self.asked: set[str] = set()
        request = {"index_url": index_url, "runtime": runtime, "architecture": architecture}
        command = [sys.executable, "-c", _WORKER.format(path=sys.path), json.dumps(request)]
        self.worker = Background(command, env=dict(os.environ), takes_input=True)
        self.ask(named)

    def ask(self, names: Iterable[str]) -> None:
        """Ask about ``names`` too (each project once)."""
        new = sorted({canonicalize_name(n) for n in names} - self.asked)
        self.asked.update(new)
        self.worker.send(new)

    def result(
        self, installed: list[ResolvedDistribution]
    ) -> tuple[list[DriftEntry], float, str | None]:
        """(drift entries, seconds the questions took, a warning if they could not be asked)."""
        self.ask(d.name for d in installed)
        done = self.worker.wait()
        seconds = round(time.monotonic() - self.started, 3)  # at most: the worker says how long
        try:
            answer = json.loads(done.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            return [], seconds, f"drift not checked: the index query failed ({done.tail(3)})"
        seconds = min(seconds, round(float(answer.get("seconds", seconds)), 3))
        if "error" in answer:
            return [], seconds, f"drift not checked: {answer['error']}"
        summaries: dict[str, list[str | None]] = answer["summaries"]
        drift = []
        for dist in installed:
            latest, latest_compatible = summaries[canonicalize_name(dist.name)]
            if latest is not None and latest != latest_compatible:
                drift.append(DriftEntry(dist.name, dist.version, latest, latest_compatible))
        return drift, seconds, None

    @contextmanager
    def stopped_on_failure(self) -> Iterator[None]:
        """The build's steps meanwhile: if one fails or is interrupted, the question goes."""
        try:
            yield
        except BaseException:
            self.worker.stop()
            raise


def main() -> None:
    """The worker: the target in ``argv``, project names on stdin (each asked as it comes),
    one JSON line out when stdin ends."""
    spans: list[tuple[float, float]] = []

    def summarise(name: str) -> ReleaseSummary:
        begun = time.monotonic()
        try:
            return index.summarise(name, accepted, runtime.python_version)
        finally:
            spans.append((begun, time.monotonic()))

    request = json.loads(sys.argv[1])
    runtime = get_runtime(request["runtime"])
    accepted = supported_tags(runtime, Architecture.parse(request["architecture"]))
    index = PackageIndex(request["index_url"])
    asked: dict[str, Future[ReleaseSummary]] = {}
    with ThreadPoolExecutor(max_workers=8) as pool:
        for line in sys.stdin:
            name = line.strip()
            if name and name not in asked:
                asked[name] = pool.submit(summarise, name)
        try:
            summaries = {name: future.result() for name, future in asked.items()}
        except BuildError as exc:
            print(json.dumps({"error": exc.message, "seconds": _busy(spans)}))
            return
    found = {
        name: [
            str(s.latest) if s.latest is not None else None,
            str(s.latest_compatible) if s.latest_compatible is not None else None,
        ]
        for name, s in summaries.items()
    }
    print(json.dumps({"summaries": found, "seconds": _busy(spans)}))


def _busy(spans: list[tuple[float, float]]) -> float:
    """Seconds during which some question was in flight (not the waits between them)."""
    total, reached = 0.0, float("-inf")
    for begun, ended in sorted(spans):
        if ended > reached:
            total += ended - max(begun, reached)
            reached = ended
    return total
