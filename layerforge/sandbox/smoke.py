"""The smoke test: import every top-level module a layer provides, each in a fresh interpreter."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layerforge.events import Event, EventKind, EventSink
from layerforge.sandbox.docker import ModuleImport
from layerforge.sandbox.engines import open_sandbox
from layerforge.sandbox.environment import SandboxSpec

__all__ = ["SmokeReport", "layer_modules", "smoke_test"]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EXTENSION = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\..*\.so$|^([A-Za-z_][A-Za-z0-9_]*)\.so$")


@dataclass(frozen=True)
class SmokeReport:
    layer: str
    runtime: str
    architecture: str
    imports: list[ModuleImport]
    engine: str = ""

    @property
    def failed(self) -> list[ModuleImport]:
        return [i for i in self.imports if not i.ok]

    @property
    def passed(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "runtime": self.runtime,
            "architecture": self.architecture,
            "engine": self.engine,
            "passed": self.passed,
            "modules": [
                {"module": i.module, "ok": i.ok, "seconds": round(i.seconds, 4),
                 "error": i.error, "traceback": list(i.traceback)}
                for i in self.imports
            ],
        }  # fmt: skip


def _top_level_name(path: str) -> str | None:
    """``numpy/__init__.py`` -> numpy; ``six.py`` -> six; ``_cffi.cpython-311-...so`` -> _cffi."""
    first, _, rest = path.partition("/")
    if rest:
        return first if _IDENTIFIER.match(first) else None
    if first.endswith(".py") and _IDENTIFIER.match(first[:-3]):
        return first[:-3]
    match = _EXTENSION.match(first)
    return (match.group(1) or match.group(2)) if match else None


def _record_names(record: str) -> Iterable[str]:
    for row in csv.reader(io.StringIO(record)):
        if row and (name := _top_level_name(row[0])) is not None:
            yield name


def layer_modules(layer: Path) -> list[str]:
    """Public top-level modules, from each distribution's top_level.txt and RECORD."""
    names: set[str] = set()
    with zipfile.ZipFile(layer) as archive:
        present = {n.split("/", 2)[1] for n in archive.namelist() if n.startswith("python/")}
        for member in archive.namelist():
            parts = member.split("/")
            if len(parts) != 3 or not parts[1].endswith(".dist-info"):
                continue
            if parts[2] == "top_level.txt":
                names.update(archive.read(member).decode().split())
            elif parts[2] == "RECORD":
                names.update(_record_names(archive.read(member).decode("utf-8", "replace")))
    importable = {
        n for n in names
        if not n.startswith("_") and ({n, f"{n}.py"} & present or _has_extension(n, present))
    }  # fmt: skip
    return sorted(importable)


def _has_extension(name: str, present: set[str]) -> bool:
    return any(p.startswith(f"{name}.") and p.endswith(".so") for p in present)


def smoke_test(
    layer: Path, spec: SandboxSpec, *, engine: str = "auto", sink: EventSink
) -> SmokeReport:
    """Import each module of ``layer`` cold, in the Lambda-like sandbox; report per module."""
    modules = layer_modules(layer)
    imports = []
    with open_sandbox(layer, spec, engine=engine, sink=sink) as sandbox:
        engine_used = sandbox.engine
        sink(Event(EventKind.STARTED, "smoke", f"{len(modules)} modules"))
        for number, module in enumerate(modules, start=1):
            imports.append(sandbox.import_module(module))
            sink(Event(EventKind.PROGRESS, "smoke", module, number, len(modules)))
        sink(Event(EventKind.FINISHED, "smoke"))
    return SmokeReport(str(layer), spec.runtime.name, spec.architecture.value, imports, engine_used)
