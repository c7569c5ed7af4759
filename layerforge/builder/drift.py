"""Drift: for each installed distribution, is there a newer release the runtime cannot take?

The index is asked in a separate process started as soon as the build knows what it installed.
Asking is network-bound, but parsing the answers (thousands of files per project) holds the
interpreter's lock, and in-process it stalled the build's own threads (the zip's deflate
workers wait for the lock between members): a process of its own costs the same CPU, and
none of the waiting. A failure to ask is a warning on the build, never its failure.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from layerforge.builder.result import DriftEntry, ResolvedDistribution
from layerforge.processes import Background

__all__ = ["DriftCheck", "main"]

_WORKER = "import sys; sys.path[:0] = {path!r}; from layerforge.builder.drift import main; main()"


class DriftCheck:
    """The question in flight; ``result`` waits for the answer."""

    def __init__(
        self,
        installed: list[ResolvedDistribution],
        *,
        index_url: str | None,
        runtime: str,
        architecture: str,
    ) -> None:
        self.installed = installed
        self.started = time.monotonic()
        request = {
            "names": [d.name for d in installed],
            "index_url": index_url,
            "runtime": runtime,
            "architecture": architecture,
        }
        command = [sys.executable, "-c", _WORKER.format(path=sys.path), json.dumps(request)]
        self.worker = Background(command, env=dict(os.environ))

    def result(self) -> tuple[list[DriftEntry], float, str | None]:
        """(drift entries, seconds the question took, a warning if it could not be asked)."""
        done = self.worker.wait()
        seconds = round(time.monotonic() - self.started, 3)  # at most: the worker says
        try:
            answer = json.loads(done.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            return [], seconds, f"drift not checked: the index query failed ({done.tail(3)})"
        seconds = min(seconds, float(answer.get("seconds", seconds)))
        if "error" in answer:
            return [], seconds, f"drift not checked: {answer['error']}"
        summaries: dict[str, list[str | None]] = answer["summaries"]
        drift = []
        for dist in self.installed:
            latest, latest_compatible = summaries[dist.name]
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
    """The worker: one JSON request in ``argv``, one JSON line out."""
    from layerforge.builder.index import PackageIndex
    from layerforge.errors import BuildError
    from layerforge.runtimes import Architecture, get_runtime, supported_tags

    started = time.monotonic()
    request = json.loads(sys.argv[1])
    runtime = get_runtime(request["runtime"])
    accepted = supported_tags(runtime, Architecture.parse(request["architecture"]))
    try:
        summaries = PackageIndex(request["index_url"]).summarise_many(
            request["names"], accepted, runtime.python_version
        )
    except BuildError as exc:
        print(json.dumps({"error": exc.message, "seconds": time.monotonic() - started}))
        return
    found = {
        name: [
            str(s.latest) if s.latest is not None else None,
            str(s.latest_compatible) if s.latest_compatible is not None else None,
        ]
        for name, s in summaries.items()
    }
    print(json.dumps({"summaries": found, "seconds": time.monotonic() - started}))
