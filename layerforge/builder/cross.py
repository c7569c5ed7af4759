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
from layerforge.builder.uv import install_with_uv, uv_binary, uv_platform, uv_version
from layerforge.errors import BuildError, UsageError
from layerforge.events import Event, EventKind, EventSink
from layerforge.interpreters import Interpreter, interpreters_with_pip
from layerforge.processes import run_streaming
from layerforge.spec import InstallerChoice, LayerSpec

__all__ = ["CrossInstaller", "choose_installer", "pip_interpreter"]


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
        uv: tuple[str, str] | None = None,
    ) -> None:
        self.spec, self.scratch, self.sink = spec, scratch, sink
        self.pip, self.bytecode, self.uv = pip, bytecode, uv

    def _environment(self) -> dict[str, str]:
        temporary = self.scratch / "tmp"
        temporary.mkdir(exist_ok=True)
        # pip's own temporary folders live in the scratch folder and go with it
        return {**os.environ, "TMPDIR": str(temporary), "PIP_NO_INPUT": "1"}

    def install(self, tree: Path) -> list[ResolvedDistribution]:
        target = PipTarget(self.spec.runtime, self.spec.architecture)
        if self.uv is not None:
            binary, platform = self.uv
            return install_with_uv(
                binary,
                platform,
                target,
                tree=tree,
                scratch=self.scratch,
                inputs=self.spec.inputs,
                sink=self.sink,
            )
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
            from layerforge.builder.index import PackageIndex

            index = PackageIndex(self.spec.inputs.index_url)
            raise explain_pip_failure(done.output, target, index, self.spec.inputs)
        return read_install_report(report)

    def compile_bytecode(self, tree: Path) -> StepReport:
        return postprocess.compile_bytecode(tree, self.spec.runtime, self.sink, self.bytecode)


def choose_installer(spec: LayerSpec) -> tuple[tuple[str, str] | None, str]:
    """(uv's binary and platform, or None for pip) and why, for ``--installer``."""
    platform = uv_platform(spec.runtime, spec.architecture)
    binary = uv_binary() if platform is not None else None
    exact = f"uv targets {platform}, exactly {spec.runtime.name}'s glibc {spec.runtime.glibc}"
    inexact = (
        f"uv has no target for glibc {spec.runtime.glibc} ({spec.runtime.os}) and a lower one "
        "would miss wheels"
    )
    if spec.installer is InstallerChoice.PIP:
        return None, "as --installer pip asks"
    if spec.installer is InstallerChoice.UV:
        if platform is None:
            raise UsageError(
                f"--installer uv cannot build for {spec.target}: {inexact}",
                hint="use --installer pip (or auto, which picks pip here)",
            )
        if binary is None:
            raise UsageError(
                "--installer uv: uv is not installed",
                hint="pip install 'layerforge[uv]', or --installer pip",
            )
        return (binary, platform), exact
    if platform is None:
        return None, inexact
    if binary is None:
        return None, "uv is not installed (pip install 'layerforge[uv]' makes installs faster)"
    return (binary, platform), exact


class CrossInstaller:
    """Installs wheels for (runtime, arch) on any host: no Docker, nothing compiled."""

    name = "cross"

    def __init__(self, spec: LayerSpec, bytecode: Interpreter | None) -> None:
        self.uv, self.why = choose_installer(spec)
        self.pip = pip_interpreter(spec)
        self.bytecode = bytecode

    @property
    def installer(self) -> str:
        return "uv" if self.uv else "pip"

    def cache_inputs(self, spec: LayerSpec) -> dict[str, object]:
        if self.uv is not None:
            uv_environment = {k: v for k, v in sorted(os.environ.items()) if k.startswith("UV_")}
            return {
                "installer": ["uv", uv_version(self.uv[0]), self.uv[1]],
                "uv_environment": uv_environment,
            }
        return {
            "installer": "pip",
            "pip_interpreter": [self.pip.full_version, self.pip.pip_version()],
            "pip_configuration": pip_configuration_state(Path(self.pip.prefix), os.environ),
        }

    @contextmanager
    def session(self, spec: LayerSpec, work: Path, sink: EventSink) -> Iterator[CrossSession]:
        scratch = work / "pip"
        scratch.mkdir()
        sink(Event(EventKind.NOTE, "installer", f"installer {self.installer}: {self.why}"))
        yield CrossSession(spec, scratch, sink, pip=self.pip, bytecode=self.bytecode, uv=self.uv)
