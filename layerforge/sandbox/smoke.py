"""The smoke test: import every top-level importable module a layer provides, each in a fresh
interpreter, in the Lambda-like sandbox.

The modules are found in the layer itself (not only in its metadata): packages, modules and
extension modules directly in ``python/`` and ``python/lib/python3.X/site-packages/``, and the
packages one level inside a namespace package.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layerforge.events import Event, EventKind, EventSink
from layerforge.sandbox.base import ModuleImport
from layerforge.sandbox.engines import open_sandbox
from layerforge.sandbox.environment import SandboxSpec, open_layer_zip

__all__ = ["SmokeReport", "layer_modules", "modules_in", "smoke_test"]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EXTENSION = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(\.[A-Za-z0-9_-]+)?\.so$")
_NOT_MODULES = {"__pycache__", "__main__", "__init__"}


@dataclass(frozen=True)
class SmokeReport:
    layer: str
    runtime: str
    architecture: str
    imports: list[ModuleImport]
    engine: str = ""
    emulated: bool = False

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
            "emulated": self.emulated,
            "passed": self.passed,
            "modules": [
                {
                    "module": i.module,
                    "ok": i.ok,
                    "seconds": round(i.seconds, 4),
                    "error": i.error,
                    "traceback": list(i.traceback),
                }
                for i in self.imports
            ],
        }


def _module_name(entry: str, is_dir: bool) -> str | None:
    """``numpy/`` -> numpy; ``six.py`` -> six; ``_cffi_backend.cpython-311-...so`` -> ..."""
    if is_dir:
        return entry if _IDENTIFIER.match(entry) else None
    if entry.endswith(".py") and _IDENTIFIER.match(entry[:-3]):
        return entry[:-3]
    match = _EXTENSION.match(entry)
    return match.group(1) if match else None


def modules_in(names: Iterable[str], root: str) -> list[str]:
    """Importable top-level names below ``root`` (``python/``), from a list of zip member names;
    a folder without ``__init__.py`` is a namespace package: its children are imported."""
    children: dict[str, set[str]] = {}
    files: set[str] = set()
    for name in names:
        if not name.startswith(root):
            continue
        parts = name[len(root) :].split("/")
        if len(parts) == 1:
            files.add(parts[0])
        elif parts[0]:
            children.setdefault(parts[0], set()).add("/".join(parts[1:]))
    found = {m for f in files if (m := _module_name(f, False)) is not None}
    for folder, inside in children.items():
        module = _module_name(folder, True)
        if module is None or folder.endswith((".dist-info", ".data", ".libs")):
            continue
        if {"__init__.py", "__init__.pyc"} & inside or any(
            i.startswith("__init__.") and i.endswith(".so") for i in inside
        ):
            found.add(module)
        else:  # a namespace package (mpl_toolkits): what it holds is what imports
            found |= {
                f"{module}.{m}" for m in modules_in((f"{folder}/{i}" for i in inside), f"{folder}/")
            }
    return sorted(found - _NOT_MODULES)


def layer_modules(layer: Path, python_version: str) -> list[str]:
    """Every top-level importable module of a layer zip (Lambda's two search folders)."""
    with open_layer_zip(layer) as archive:
        names = archive.namelist()
    site = f"python/lib/python{python_version}/site-packages/"
    found = set(modules_in([n for n in names if not n.startswith("python/lib/python")], "python/"))
    found |= set(modules_in(names, site))
    return sorted(found)


def smoke_test(
    layer: Path, spec: SandboxSpec, *, engine: str = "auto", sink: EventSink
) -> SmokeReport:
    """Import each module of ``layer`` cold, in the Lambda-like sandbox; report per module."""
    modules = layer_modules(layer, spec.runtime.python_version)
    with open_sandbox(layer, spec, engine=engine, sink=sink) as sandbox:
        sink(Event(EventKind.STARTED, "smoke", f"{len(modules)} modules"))
        done: list[str] = []

        def progress(result: ModuleImport) -> None:
            done.append(result.module)
            sink(Event(EventKind.PROGRESS, "smoke", result.module, len(done), len(modules)))

        imports = sandbox.import_modules(modules, progress) if modules else []
        sink(Event(EventKind.FINISHED, "smoke", f"{sum(i.ok for i in imports)} imported"))
    return SmokeReport(
        str(layer),
        spec.runtime.name,
        spec.architecture.value,
        imports,
        sandbox.engine,
        sandbox.emulated,
    )
