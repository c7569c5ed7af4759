"""Regular expressions from a proof spec (response ``matches``, log ``patterns``), bounded.

The patterns are Python's ``re`` (what the README documents), and ``re`` backtracks: ``(a+)+$``
against one long line of ``a`` runs for longer than anyone waits, holding the interpreter (the
matcher never releases it, so a thread cannot be abandoned). So the searches of a check run in
one child interpreter (standard library only, its own process group), where each pattern gets
``MATCH_SECONDS``: an interval timer whose signal, left at its default action, ends the child
even inside the matcher. The pattern that was running is reported as too slow, and a new child
takes the patterns after it.

A non-backtracking engine (RE2, the ``google-re2`` bindings) was weighed and left out: its
wheels need glibc 2.28 on x86_64 (no install on Amazon Linux 2 build hosts) and it is another
dialect (ASCII ``\\d``/``\\w``, no lookaround or backreferences, another ``$``), so a proof
would depend on what happened to be installed.
"""

from __future__ import annotations

import json
import re
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from layerforge import processes
from layerforge.errors import LayerforgeError
from layerforge.proof.templates import TEMPLATE

__all__ = [
    "CHECK_SECONDS",
    "MATCH_SECONDS",
    "Search",
    "compile_problem",
    "count_matches",
    "too_slow",
]

#: Each pattern's bound (seconds) against all the texts it searches.
MATCH_SECONDS = 5.0
#: All the patterns of one check together (the schema allows 1,000 of them).
CHECK_SECONDS = 60.0
#: What the child's start may take on a loaded machine, on top of the patterns' bounds.
_START_SECONDS = 30.0

_WORKER = """
import json, re, signal, sys
signal.signal(signal.SIGALRM, signal.SIG_DFL)  # an ignored or blocked SIGALRM is inherited
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGALRM})
job = json.loads(sys.stdin.buffer.read().decode("utf-8"))
for pattern, index in job["searches"]:
    signal.setitimer(signal.ITIMER_REAL, job["seconds"])
    compiled = re.compile(pattern)
    count = sum(1 for text in job["texts"][index] if compiled.search(text))
    signal.setitimer(signal.ITIMER_REAL, 0)
    sys.stdout.write(f"{count}\\n")
    sys.stdout.flush()
"""


@dataclass(frozen=True)
class Search:
    """One pattern (templates expanded) and the texts it is searched in."""

    pattern: str
    texts: Sequence[str]


def too_slow() -> str:
    """The verdict on a pattern over its bound."""
    return f"pattern took too long (over {MATCH_SECONDS:g} s)"


def compile_problem(pattern: str) -> str | None:
    """Why ``pattern`` (as a spec writes it, templates standing for a literal) is not a
    regular expression; None when it is one."""
    try:
        re.compile(TEMPLATE.sub("x", pattern))
    except (re.error, RecursionError, OverflowError) as exc:
        return f"{pattern!r} is not a regular expression: {exc}"
    return None


def _run_worker(
    searches: Sequence[Search], seconds: float, timeout: float
) -> tuple[list[int], int]:
    """Counts for the leading searches that finished, and the child's exit status."""
    texts: list[list[str]] = []
    places: dict[int, int] = {}
    jobs = []
    for search in searches:
        index = places.setdefault(id(search.texts), len(texts))
        if index == len(texts):
            texts.append([str(text) for text in search.texts])
        jobs.append([search.pattern, index])
    payload = json.dumps({"texts": texts, "searches": jobs, "seconds": seconds})
    done = processes.run(
        [sys.executable, "-I", "-S", "-c", _WORKER],
        input_text=payload,
        timeout=min(timeout, _START_SECONDS + seconds * len(searches)),
    )
    counts = [int(line) for line in done.stdout.split()]
    return counts, -signal.SIGALRM if done.timed_out else done.returncode


def count_matches(searches: Sequence[Search], *, seconds: float | None = None) -> list[int | None]:
    """For each search, in how many of its texts the pattern is found; None for a pattern that
    took longer than ``seconds`` (default ``MATCH_SECONDS``), or was not reached within
    ``CHECK_SECONDS`` of all of them."""
    seconds = MATCH_SECONDS if seconds is None else seconds
    deadline = time.monotonic() + CHECK_SECONDS
    results: list[int | None] = []
    while len(results) < len(searches):
        pending = searches[len(results) :]
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return results + [None] * len(pending)
        counts, status = _run_worker(pending, min(seconds, remaining), remaining + _START_SECONDS)
        results += counts[: len(pending)]
        if len(counts) >= len(pending):
            break
        if status != -signal.SIGALRM:
            raise LayerforgeError(
                f"matching the proof spec's pattern {pending[len(counts)].pattern!r} failed "
                f"(the matcher exited with status {status})",
                hint="check the pattern; a pattern that needs more memory than there is fails",
            )
        results.append(None)
    return results
