"""The cross backend: a host pip installs exactly the wheels the target runtime accepts.

pip runs under a host interpreter of the runtime's Python version when there is one, so the
environment markers of dependencies (``python_version < "3.12"``) are evaluated as the runtime
would; the host's interpreter is the fallback, and the build says so.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from layerforge.builder import bytecode
from layerforge.builder.archive import sha256_of
from layerforge.builder.pip import (
    InstallFiles,
    PipTarget,
    download_arguments,
    explain_pip_failure,
    install_arguments,
    pip_configuration_state,
    read_install_report,
    write_install_files,
)
from layerforge.builder.result import ResolvedDistribution
from layerforge.builder.uv import (
    install_with_uv,
    read_installed,
    unpack_platform,
    unpack_with_uv,
    uv_binary,
    uv_platform,
    uv_version,
)
from layerforge.errors import BuildError, CheckFailedError, UsageError
from layerforge.events import Event, EventKind, EventSink
from layerforge.interpreters import Interpreter, interpreters_with_pip
from layerforge.processes import run_streaming
from layerforge.spec import InstallerChoice, LayerSpec

__all__ = ["CrossInstaller", "InstallPlan", "choose_installer", "pip_interpreter"]


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
        return {**os.environ, "TMPDIR": str(temporary), "PIP_NO_INPUT": "1"}

    def install(self, tree: Path) -> list[ResolvedDistribution]:
        target = PipTarget(self.spec.runtime, self.spec.architecture)
        python = str(uv_python(self.bytecode, self.pip).path)
        if self.plan.name == "uv":
            binary, platform = self.plan.uv
            return install_with_uv(
                binary,
                platform,
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
        if self.plan.name == "pip+uv":
            wheelhouse = self.scratch / "wheels"
            args = download_arguments(
                target=target, dest=str(wheelhouse), files=files, inputs=self.spec.inputs
            )
        else:
            args = install_arguments(
                target=target, install_dir=str(tree), files=files, inputs=self.spec.inputs
            )
        done = run_streaming(
            [self.pip.path, "-m", "pip", *args],
            env=self._environment(),
            on_line=lambda line: self.sink(Event(EventKind.PROGRESS, "resolve", line)),
        )
        if done.returncode != 0:
            from layerforge.builder.index import PackageIndex

            index = PackageIndex(self.spec.inputs.index_url)
            raise explain_pip_failure(done.output, target, index, self.spec.inputs)
        if self.plan.name == "pip+uv":
            return self._unpack(target, tree, wheelhouse, python)
        return read_install_report(report)

    def _unpack(
        self, target: PipTarget, tree: Path, wheelhouse: Path, python: str
    ) -> list[ResolvedDistribution]:
        """uv installs exactly the files pip downloaded; the manifest names those files."""
        files = sorted(wheelhouse.iterdir()) if wheelhouse.is_dir() else []
        sources = [f.name for f in files if f.suffix != ".whl"]
        if sources:
            raise CheckFailedError(
                "not installed from wheels (binary-only): " + "; ".join(sources),
                hint="layerforge never builds from source: use releases with wheels",
            )
        if not files:
            return []
        binary, platform = self.plan.uv
        unpack_with_uv(
            binary,
            platform,
            target,
            tree=tree,
            scratch=self.scratch,
            wheels=files,
            python=python,
            sink=self.sink,
        )
        chosen: dict[tuple[str, str], Path] = {}
        for wheel in files:
            name, version, _, _ = parse_wheel_filename(wheel.name)
            chosen[(name, str(version))] = wheel
        found = []
        for dist in read_installed(tree, self.spec.inputs.named_projects()):
            source = chosen.pop((canonicalize_name(dist.name), str(Version(dist.version))), None)
            if source is None:
                raise BuildError(
                    f"uv installed {dist.name} {dist.version}, which pip did not choose"
                )
            found.append(replace(dist, wheel=source.name, sha256=sha256_of(source)))
        if chosen:
            missing = ", ".join(w.name for w in chosen.values())
            raise BuildError(f"uv did not install every wheel pip chose: {missing}")
        return found

    def start_bytecode(self, tree: Path) -> bytecode.BytecodeJob:
        plan = self.scratch / "bytecode-plan.json"
        return bytecode.start_bytecode(tree, plan, self.spec.runtime, self.bytecode)


def uv_python(bytecode: Interpreter | None, pip: Interpreter) -> Interpreter:
    """The interpreter uv evaluates markers with: the runtime's version where the host has it."""
    return bytecode if bytecode is not None else pip


@dataclass(frozen=True)
class InstallPlan:
    """Who installs: ``uv`` (resolves and installs: its target is the runtime's glibc),
    ``pip``, or ``pip+uv`` (pip resolves and downloads for the runtime's exact glibc; uv, which
    has no such target, installs exactly those files and chooses nothing)."""

    name: str
    why: str
    uv: tuple[str, str] = ("", "")  # uv's binary and --python-platform

    @property
    def uses_uv(self) -> bool:
        return self.name != "pip"


def choose_installer(spec: LayerSpec) -> InstallPlan:
    """The install plan for ``--installer``, and why."""
    platform = uv_platform(spec.runtime, spec.architecture)
    exact = f"uv targets {platform}, exactly {spec.runtime.name}'s glibc {spec.runtime.glibc}"
    inexact = (
        f"uv has no target for glibc {spec.runtime.glibc} ({spec.runtime.os}) and a lower one "
        "would miss wheels"
    )
    if spec.installer is InstallerChoice.PIP:
        return InstallPlan("pip", "as --installer pip asks")
    binary = uv_binary()
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
        return InstallPlan("uv", exact, (binary, platform))
    if binary is None:
        return InstallPlan(
            "pip", "uv is not installed (pip install 'layerforge[uv]' makes installs faster)"
        )
    if platform is not None:
        return InstallPlan("uv", exact, (binary, platform))
    unpack = unpack_platform(spec.runtime, spec.architecture)
    if unpack is None:
        return InstallPlan("pip", inexact)
    why = f"{inexact}: pip resolves and downloads, uv installs exactly the wheels pip chose"
    return InstallPlan("pip+uv", why, (binary, unpack))


class CrossInstaller:
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
        found: dict[str, object] = {"installer": self.plan.name}
        if self.plan.uses_uv:
            binary, platform = self.plan.uv
            found["uv"] = [uv_version(binary), platform]
            found["uv_python"] = uv_python(self.bytecode, self.pip).full_version
            found["uv_environment"] = {
                k: v for k, v in sorted(os.environ.items()) if k.startswith("UV_")
            }
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
