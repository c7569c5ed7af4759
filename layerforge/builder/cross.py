"""The cross backend: a host pip installs exactly the wheels the target runtime accepts.

pip runs under a host interpreter of the runtime's Python version when there is one, so the
environment markers of dependencies (``python_version < "3.12"``) are evaluated as the runtime
would; the host's interpreter is the fallback, and the build says so.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from layerforge.builder import postprocess
from layerforge.builder.index import PackageIndex
from layerforge.builder.pip import (
    InstallFiles,
    PipTarget,
    explain_pip_failure,
    install_arguments,
    pip_configuration_state,
    read_install_report,
    write_install_files,
)
from layerforge.builder.result import ResolvedDistribution, StepReport
from layerforge.errors import BuildError
from layerforge.events import Event, EventKind, EventSink
from layerforge.interpreters import Interpreter, interpreters_with_pip
from layerforge.processes import run_streaming
from layerforge.spec import LayerSpec

__all__ = ["CrossInstaller", "pip_interpreter"]


def pip_interpreter(spec: LayerSpec) -> Interpreter:
    """The interpreter whose pip installs: the runtime's version if the host has it with pip,
    else any interpreter with pip."""
    found = next(interpreters_with_pip(spec.runtime.python), None)
    if found is None:
        raise BuildError(
            "no pip on this host to install with (this environment has none, nor has any "
            f"python{spec.runtime.python_version} or python3 found)",
            hint="install pip (python3 -m ensurepip) or a python3 with pip, or use --backend "
            "docker",
        )
    return found


class CrossSession:
    """Host pip for the install, a host interpreter of the target version for bytecode."""

    def __init__(
        self,
        spec: LayerSpec,
        scratch: Path,
        sink: EventSink,
        pip: Interpreter,
        bytecode: Interpreter | None,
    ) -> None:
        self.spec, self.scratch, self.sink = spec, scratch, sink
        self.pip, self.bytecode = pip, bytecode

    def _environment(self) -> dict[str, str]:
        temporary = self.scratch / "tmp"
        temporary.mkdir(exist_ok=True)
        # pip's own temporary folders live in the scratch folder and go with it
        return {**os.environ, "TMPDIR": str(temporary), "PIP_NO_INPUT": "1"}

    def install(self, tree: Path) -> list[ResolvedDistribution]:
        target = PipTarget(self.spec.runtime, self.spec.architecture)
        requirements, constraints = write_install_files(self.scratch, self.spec.inputs)
        report = self.scratch / "report.json"
        files = InstallFiles(
            str(requirements), str(constraints) if constraints else None, str(report)
        )
        args = install_arguments(
            target=target, install_dir=str(tree), files=files, inputs=self.spec.inputs
        )
        if self.pip.version != self.spec.runtime.python:
            note = (
                f"pip runs under Python {self.pip.full_version}: no host python"
                f"{self.spec.runtime.python_version} with pip, so dependencies' markers are "
                "evaluated for the host's version"
            )
            self.sink(Event(EventKind.NOTE, "resolve", note))
        done = run_streaming(
            [self.pip.path, "-m", "pip", *args],
            env=self._environment(),
            on_line=lambda line: self.sink(Event(EventKind.PROGRESS, "resolve", line)),
        )
        if done.returncode != 0:
            index = PackageIndex(self.spec.inputs.index_url)
            raise explain_pip_failure(done.output, target, index, self.spec.inputs)
        return read_install_report(report)

    def compile_bytecode(self, tree: Path) -> StepReport:
        return postprocess.compile_bytecode(tree, self.spec.runtime, self.sink, self.bytecode)


class CrossInstaller:
    """Installs wheels for (runtime, arch) on any host: no Docker, nothing compiled."""

    name = "cross"

    def __init__(self, spec: LayerSpec, bytecode: Interpreter | None) -> None:
        self.pip = pip_interpreter(spec)
        self.bytecode = bytecode

    def cache_inputs(self, spec: LayerSpec) -> dict[str, object]:
        return {
            "pip_interpreter": [self.pip.full_version, self.pip.pip_version()],
            "pip_configuration": pip_configuration_state(Path(self.pip.prefix), os.environ),
        }

    @contextmanager
    def session(self, spec: LayerSpec, work: Path, sink: EventSink) -> Iterator[CrossSession]:
        scratch = work / "pip"
        scratch.mkdir()
        yield CrossSession(spec, scratch, sink, self.pip, self.bytecode)
