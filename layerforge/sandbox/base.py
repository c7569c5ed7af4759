"""A running Lambda-like sandbox, whatever engine runs it (a container, bubblewrap): start
check, cold imports through the harness, handler invocations."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from layerforge.errors import SandboxError
from layerforge.processes import Completed
from layerforge.sandbox.environment import HARNESS, RUNNER, SandboxSpec

__all__ = ["Invocation", "ModuleImport", "Runner", "Sandbox"]

_START_PROBE = "import platform, sys; print(platform.machine(), '%d.%d' % sys.version_info[:2])"


class Runner(Protocol):
    """Runs a command in the sandbox; ``on_line`` sees stdout lines as they come."""

    def __call__(
        self,
        command: Sequence[str],
        *,
        timeout: float | None = None,
        on_line: Callable[[str], None] | None = None,
    ) -> Completed: ...


@dataclass(frozen=True)
class ModuleImport:
    module: str
    ok: bool
    seconds: float
    error: str = ""
    traceback: tuple[str, ...] = ()


@dataclass(frozen=True)
class Invocation:
    """One handler run: the result (last stdout line, JSON) and every log line."""

    returncode: int
    result: Any
    logs: list[str]

    @property
    def succeeded(self) -> bool:
        return self.returncode == 0


def _module_import(line: str) -> ModuleImport | None:
    try:
        data = json.loads(line)
        return ModuleImport(
            module=str(data["module"]),
            ok=bool(data["ok"]),
            seconds=float(data.get("seconds", 0.0)),
            error=str(data.get("error", "")),
            traceback=tuple(str(t) for t in data.get("traceback", ())),
        )
    except (ValueError, KeyError, TypeError):
        return None


class Sandbox:
    """Commands in a running sandbox: check that it starts, import modules, invoke handlers."""

    def __init__(
        self,
        run: Runner,
        python: Sequence[str],
        spec: SandboxSpec,
        *,
        engine: str,
        emulated: bool = False,
    ) -> None:
        self.run, self.python, self.spec = run, list(python), spec
        self.engine, self.emulated = engine, emulated

    def call(self, command: Sequence[str]) -> Completed:
        return self.run(command, timeout=self.spec.timeout_s)

    def check_started(self) -> None:
        """The sandbox runs the runtime's Python on the target architecture, or SandboxError."""
        done = self.run([*self.python, "-c", _START_PROBE], timeout=120)
        found = done.stdout.strip().splitlines()[-1:] if done.returncode == 0 else []
        if not found:
            raise SandboxError(
                f"the sandbox could not start: {self.engine} did not run "
                f"{' '.join(self.python)} ({'timed out' if done.timed_out else done.returncode})",
                hint="check the engine (Docker image, bubblewrap, emulation) and retry",
                details=done.tail(),
            )
        machine, _, version = found[0].partition(" ")
        wanted = (self.spec.architecture.platform, self.spec.runtime.python_version)
        if (machine, version) != wanted:
            raise SandboxError(
                f"the sandbox runs Python {version} on {machine}, not {wanted[1]} on {wanted[0]}",
                hint="give an image (or root filesystem) of the runtime's version and "
                "architecture; a layer is only ever run where it is meant to run",
            )

    def import_modules(
        self, names: Sequence[str], on_result: Callable[[ModuleImport], None]
    ) -> list[ModuleImport]:
        """Import each module in a fresh interpreter (through the harness), as a cold start."""
        results: list[ModuleImport] = []

        def collect(line: str) -> None:
            found = _module_import(line)
            if found is not None:
                results.append(found)
                on_result(found)

        flags = self.python[1:]
        per_module = self.spec.import_timeout_s
        command = [*self.python, HARNESS, str(per_module), *flags, "--", *names]
        done = self.run(command, timeout=per_module * len(names) + 60, on_line=collect)
        seen = {r.module for r in results}
        missing = [n for n in names if n not in seen]
        if missing and not results:
            raise SandboxError(
                f"the sandbox could not start the import harness (exit {done.returncode})",
                hint="check the engine and retry",
                details=done.tail(),
            )
        for name in missing:
            results.append(
                ModuleImport(
                    name,
                    False,
                    0.0,
                    f"the import harness stopped first (exit {done.returncode})",
                    tuple(done.tail(6).splitlines()),
                )
            )
        return results

    def invoke(self, handler: str, event: Mapping[str, Any]) -> Invocation:
        done = self.run(
            [*self.python, RUNNER, handler, json.dumps(event)], timeout=self.spec.timeout_s + 30
        )
        lines = done.stdout.strip().splitlines()
        try:
            result = json.loads(lines[-1]) if lines else None
        except ValueError:
            result = None
        logs = done.stderr.splitlines() + lines[:-1]
        if done.timed_out:
            logs.append(f"layerforge: the handler did not finish within {self.spec.timeout_s} s")
        return Invocation(done.returncode if not done.timed_out else -9, result, logs)
