"""The cross backend: the host's pip installs exactly the wheels the target runtime accepts."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from layerforge.builder import postprocess
from layerforge.builder.index import PackageIndex
from layerforge.builder.pip import (
    PipTarget,
    explain_pip_failure,
    install_arguments,
    read_install_report,
    write_requirements,
)
from layerforge.builder.result import ResolvedDistribution, StepReport
from layerforge.events import EventSink
from layerforge.interpreters import find_interpreter
from layerforge.processes import run_streaming
from layerforge.spec import LayerSpec

__all__ = ["CrossInstaller"]


class CrossSession:
    """Host pip for the install, a host interpreter of the target version for bytecode."""

    def __init__(self, spec: LayerSpec, scratch: Path, sink: EventSink, python: str) -> None:
        self.spec, self.scratch, self.sink, self.python = spec, scratch, sink, python

    def install(self, tree: Path) -> list[ResolvedDistribution]:
        target = PipTarget(self.spec.runtime, self.spec.architecture)
        requirements = write_requirements(self.scratch, self.spec.requirements)
        report = self.scratch / "report.json"
        args = install_arguments(
            target=target,
            install_dir=str(tree),
            requirements_file=str(requirements),
            report_file=str(report),
            index_url=self.spec.index_url,
            extra_index_urls=self.spec.extra_index_urls,
        )
        done = run_streaming([self.python, "-m", "pip", *args], step="resolve", sink=self.sink)
        if done.returncode != 0:
            raise explain_pip_failure(done.output, target, PackageIndex(self.spec.index_url))
        return read_install_report(report, tree)

    def compile_bytecode(self, tree: Path) -> StepReport:
        return postprocess.compile_bytecode(tree, self.spec.runtime, self.sink, self.spec.python)


class CrossInstaller:
    """Installs wheels for (runtime, arch) on any host: no Docker, nothing compiled."""

    name = "cross"

    def __init__(self, python: str = sys.executable) -> None:
        self.python = python

    def cache_inputs(self, spec: LayerSpec) -> dict[str, object]:
        interpreter = find_interpreter(spec.runtime.python, spec.python)
        return {"bytecode_interpreter": interpreter is not None}

    @contextmanager
    def session(self, spec: LayerSpec, work: Path, sink: EventSink) -> Iterator[CrossSession]:
        with tempfile.TemporaryDirectory(prefix="layerforge-pip-", dir=work) as scratch:
            yield CrossSession(spec, Path(scratch), sink, self.python)
