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

from layerforge.builder.install.choice import PIP_ENVIRONMENT, InstallPlan, choose_installer
from layerforge.builder.install.pip import (
    InstallFiles,
    PipTarget,
    explain_pip_failure,
    pip_configuration_state,
    write_install_files,
)
from layerforge.builder.install.uv import PipRun, install_with_uv
from layerforge.builder.post import bytecode, fontcache
from layerforge.builder.request import LayerSpec
from layerforge.builder.result import ResolvedDistribution, StepReport
from layerforge.errors import BuildError
from layerforge.events import Event, EventKind, EventSink
from layerforge.interpreters import Interpreter, interpreters_with_pip
from layerforge.processes import run, run_streaming

__all__ = ["CrossBackend", "pip_interpreter", "uv_python"]


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
        *,
        pip: Interpreter,
        bytecode: Interpreter | None,
        plan: InstallPlan,
    ) -> None:
        self.spec, self.scratch, self.sink = spec, scratch, sink
        self.pip, self.bytecode, self.plan = pip, bytecode, plan

    def _environment(self) -> dict[str, str]:
        temporary = self.scratch / "tmp"
        temporary.mkdir(exist_ok=True)
        # pip's own temporary folders live in the scratch folder and go with it
        return {**os.environ, "TMPDIR": str(temporary), **PIP_ENVIRONMENT}

    def install(self, tree: Path) -> list[ResolvedDistribution]:
        target = PipTarget(self.spec.runtime, self.spec.architecture)
        python = str(uv_python(self.bytecode, self.pip).path)
        if self.plan.name == "uv":
            return install_with_uv(
                self.plan.uv,
                target,
                tree=tree,
                scratch=self.scratch,
                inputs=self.spec.inputs,
                python=python,
                sink=self.sink,
            )
        requirements, constraints = write_install_files(self.scratch, self.spec.inputs)
        report = self.scratch / "report.json"
        files = InstallFiles(
            str(requirements), str(constraints) if constraints else None, str(report)
        )
        if self.pip.version != self.spec.runtime.python:
            note = (
                f"pip runs under Python {self.pip.full_version}: no host python"
                f"{self.spec.runtime.python_version} with pip, so dependencies' markers are "
                "evaluated for the host's version"
            )
            self.sink(Event(EventKind.NOTE, "resolve", note))
        run = PipRun(self.plan, target, tree, self.scratch / "wheels", report)
        done = run_streaming(
            [self.pip.path, "-m", "pip", *run.arguments(files, self.spec.inputs)],
            env=self._environment(),
            on_line=lambda line: self.sink(Event(EventKind.PROGRESS, "resolve", line)),
        )
        if done.returncode != 0:
            # 16 ms, only to explain a failure
            from layerforge.builder.install.index import PackageIndex

            index = PackageIndex(self.spec.inputs.index_url)
            raise explain_pip_failure(done.output, target, index, self.spec.inputs)
        return run.installed(
            scratch=self.scratch, python=python, inputs=self.spec.inputs, sink=self.sink
        )

    def start_bytecode(self, tree: Path) -> bytecode.BytecodeJob:
        plan = self.scratch / "bytecode-plan.json"
        return bytecode.start_bytecode(tree, plan, self.spec.runtime, self.bytecode)

    def write_font_list(self, tree: Path) -> StepReport:
        """matplotlib's font list, by the interpreter that compiles the bytecode: the layer's
        matplotlib is native code, so only where the host runs the target's architecture."""
        if self.bytecode is None:
            return fontcache.no_interpreter(self.spec.runtime)
        if not fontcache.native(self.spec.architecture):
            return fontcache.foreign_architecture(self.spec.architecture)
        python = self.bytecode
        how = fontcache.FontListRun(run, python.path, python.describe())
        return fontcache.write_font_list(tree, self.scratch, how)


def uv_python(bytecode: Interpreter | None, pip: Interpreter) -> Interpreter:
    """The interpreter uv evaluates markers with: the runtime's version where the host has it."""
    return bytecode if bytecode is not None else pip


class CrossBackend:
    """Installs wheels for (runtime, arch) on any host: no Docker, nothing compiled."""

    name = "cross"

    def __init__(self, spec: LayerSpec, bytecode: Interpreter | None) -> None:
        self.plan = choose_installer(spec)
        self.pip = pip_interpreter(spec)
        self.bytecode = bytecode

    @property
    def installer(self) -> str:
        return self.plan.name

    def cache_inputs(self, spec: LayerSpec) -> dict[str, object]:
        found = self.plan.cache_inputs(lambda: uv_python(self.bytecode, self.pip).full_version)
        if self.plan.name != "uv":
            found["pip_interpreter"] = [self.pip.full_version, self.pip.pip_version()]
            found["pip_configuration"] = pip_configuration_state(Path(self.pip.prefix), os.environ)
        return found

    @contextmanager
    def session(self, spec: LayerSpec, work: Path, sink: EventSink) -> Iterator[CrossSession]:
        scratch = work / "pip"
        scratch.mkdir()
        sink(Event(EventKind.NOTE, "installer", f"installer {self.installer}: {self.plan.why}"))
        yield CrossSession(
            spec, scratch, sink, pip=self.pip, bytecode=self.bytecode, plan=self.plan
        )
