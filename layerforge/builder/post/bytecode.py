"""Bytecode for the layer, compiled by an interpreter of the target version while the build
strips binaries and rewrites RECORD files (those touch other files: compiling only adds
``__pycache__/*.pyc``).

Modules are shared out among one worker per core by size (largest first), and each worker
compiles its list in one process (``bytecode_worker``): compileall's own per-file function,
so the same bytes as ``python -m compileall``, without its pool's per-file hand-off. The
``.pyc`` are unchecked-hash (PEP 552: they survive the zip's 2-second timestamps) and name
their sources ``/opt/python/...``, where Lambda extracts the layer.
"""

from __future__ import annotations

import heapq
import json
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from layerforge._scripts import script_source
from layerforge.builder.post.prune import PYCACHE
from layerforge.builder.result import StepReport
from layerforge.filetree import iter_files
from layerforge.interpreters import Interpreter
from layerforge.processes import Background, usable_cores
from layerforge.runtimes import Runtime

__all__ = [
    "BYTECODE_ENVIRONMENT",
    "LAMBDA_LAYER_ROOT",
    "BytecodeJob",
    "ThreadedBytecode",
    "bytecode_report",
    "compile_bytecode",
    "compile_command",
    "start_bytecode",
    "write_plan",
]

#: Where Lambda extracts a layer's ``python/`` folder; compiled code names its files from here.
LAMBDA_LAYER_ROOT = "/opt/python"
#: frozenset constants are marshalled in hash order: a fixed seed makes the bytes repeatable.
BYTECODE_ENVIRONMENT = {"PYTHONHASHSEED": "0"}


def write_plan(tree: Path, plan: Path, *, root: str, workers: int | None = None) -> Path:
    """Write the worker plan for ``tree`` (``root``: the tree as the compiling interpreter sees
    it): its modules, shared out by size so every worker gets about the same work."""
    modules = [(p.stat().st_size, p.relative_to(tree).as_posix()) for p in iter_files(tree)]
    count = max(1, workers or usable_cores())
    loads: list[tuple[int, int]] = [(0, index) for index in range(count)]
    lists: list[list[str]] = [[] for _ in range(count)]
    for size, relative in sorted((m for m in modules if m[1].endswith(".py")), reverse=True):
        load, index = heapq.heappop(loads)
        lists[index].append(relative)
        heapq.heappush(loads, (load + size, index))
    document = {"root": root, "prefix": LAMBDA_LAYER_ROOT, "workers": [w for w in lists if w]}
    plan.write_text(json.dumps(document), "utf-8")
    return plan


def compile_command(python: str, plan: str) -> list[str]:
    """The command that compiles a plan: the worker script run by the target interpreter."""
    return [python, "-c", script_source("bytecode_worker.py"), plan]


def bytecode_report(root: Path, output: str, interpreter: str) -> StepReport:
    """The step report once the workers are done: the ``.pyc`` files they added (every
    ``__pycache__`` was pruned before, so each one is new)."""
    failures = [line for line in output.splitlines() if line.startswith("***")]
    compiled = [p for p in iter_files(root) if p.suffix == ".pyc" and p.parent.name == PYCACHE]
    detail = f"{len(compiled)} modules, unchecked-hash, by {interpreter}"
    if failures:
        detail += f"; {len(failures)} files did not compile (they fail on import too)"
    added = sum(p.stat().st_size for p in compiled)
    return StepReport("bytecode", -added, len(compiled), detail)


def _no_bytecode_report(runtime: Runtime) -> StepReport:
    return StepReport(
        "bytecode",
        0,
        0,
        f"skipped: no python{runtime.python_version} on this host, so the layer ships "
        "without bytecode and every cold start compiles what it imports (measured: "
        "pandas+matplotlib+seaborn import in 5.2 s instead of 2.3 s); install "
        f"python{runtime.python_version}, pass --python, or use --backend docker",
        applied=False,
    )


class BytecodeJob(Protocol):
    """Compiling in the background: ``wait`` for the report, or ``stop`` it (the build failed
    or was interrupted meanwhile)."""

    def wait(self) -> StepReport: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class _Skipped:
    report: StepReport

    def wait(self) -> StepReport:
        return self.report

    def stop(self) -> None:
        return None


class _HostCompile:
    """The workers as a host process group."""

    def __init__(self, root: Path, plan: Path, interpreter: Interpreter) -> None:
        self.root, self.interpreter = root, interpreter
        write_plan(root, plan, root=str(root))
        command = compile_command(str(interpreter.path), str(plan))
        self.command = Background(command, env={**os.environ, **BYTECODE_ENVIRONMENT})

    def wait(self) -> StepReport:
        done = self.command.wait()
        return bytecode_report(self.root, done.output, self.interpreter.describe())

    def stop(self) -> None:
        self.command.stop()


class ThreadedBytecode:
    """Bytecode compiled by ``work`` on a thread (an exec in the build container). Stopping is
    the container's removal when the session ends, which ends the exec and so the thread."""

    def __init__(self, work: Callable[[], StepReport]) -> None:
        self._result: Future[StepReport] = Future()
        name = "layerforge-bytecode"
        threading.Thread(target=self._run, args=(work,), name=name, daemon=True).start()

    def _run(self, work: Callable[[], StepReport]) -> None:
        try:
            self._result.set_result(work())
        except BaseException as exc:  # handed to wait(), on the build's own thread
            self._result.set_exception(exc)

    def wait(self) -> StepReport:
        return self._result.result()

    def stop(self) -> None:
        return None


def start_bytecode(
    root: Path, plan: Path, runtime: Runtime, interpreter: Interpreter | None
) -> BytecodeJob:
    """Start compiling ``root``'s modules with a host interpreter of the target version
    (``plan``: where the worker plan is written, outside the tree)."""
    if interpreter is None:
        return _Skipped(_no_bytecode_report(runtime))
    return _HostCompile(root, plan, interpreter)


def compile_bytecode(
    root: Path, plan: Path, runtime: Runtime, interpreter: Interpreter | None
) -> StepReport:
    """``start_bytecode`` and wait for it."""
    job = start_bytecode(root, plan, runtime, interpreter)
    try:
        return job.wait()
    except BaseException:
        job.stop()
        raise
