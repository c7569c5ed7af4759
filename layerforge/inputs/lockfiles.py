"""Inputs that are not pip requirements files: a pyproject.toml's dependencies and a PEP 751
``pylock.toml``. Each is converted faithfully into requirements pip installs (same pins, same
hashes); the build says so in its notes."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from layerforge.errors import UsageError
from layerforge.inputs.markers import applies
from layerforge.inputs.model import InputRequirement, file_digest
from layerforge.inputs.requirements import BINARY_HINT, RequirementsFileContent, binary_only

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["is_pylock", "is_pyproject", "read_pylock", "read_pyproject_dependencies"]


def is_pyproject(path: Path) -> bool:
    return path.name == "pyproject.toml"


def is_pylock(path: Path) -> bool:
    """PEP 751 names: ``pylock.toml`` or ``pylock.<name>.toml``."""
    return path.name.startswith("pylock.") and path.name.endswith(".toml")


def _load(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text("utf-8"))
        return data
    except FileNotFoundError:
        raise UsageError(f"cannot read {path}: no such file", hint="check the path") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None


def _strings(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{where} must be a list of requirement strings")
    return list(value)


def read_pyproject_dependencies(
    path: Path, extras: Sequence[str], environment: dict[str, str]
) -> RequirementsFileContent:
    """``[project.dependencies]`` plus the named ``[project.optional-dependencies]`` groups."""
    project = _load(path).get("project")
    if not isinstance(project, dict):
        raise UsageError(f"{path} has no [project] table", hint="give a requirements file instead")
    if "dependencies" in project.get("dynamic", []):
        raise UsageError(
            f"{path}: the dependencies are dynamic, so they are not in the file",
            hint="export them (pip-compile, uv export) and pass that file with -r",
        )
    groups = project.get("optional-dependencies", {})
    lines = [
        (s, "project.dependencies")
        for s in _strings(project.get("dependencies", []), f"{path}: project.dependencies")
    ]
    for extra in extras:
        if not isinstance(groups, dict) or extra not in groups:
            known = ", ".join(sorted(groups)) if isinstance(groups, dict) else "none"
            raise UsageError(
                f"{path}: no optional-dependencies group {extra!r}",
                hint=f"groups in the file: {known}",
            )
        where = f"project.optional-dependencies.{extra}"
        lines += [(s, where) for s in _strings(groups[extra], f"{path}: {where}")]
    content = RequirementsFileContent(sources=[(str(path.resolve()), file_digest(path))])
    for text, where in lines:
        origin = f"{path} {where}"
        requirement, _, marker = text.partition(";")
        if applies(marker.strip() or None, environment, origin=origin):
            normalised = binary_only(requirement, base=path.parent, origin=origin)
            content.requirements.append(InputRequirement(normalised, (), origin))
    return content


def _wheel_hashes(package: dict[str, Any], origin: str) -> tuple[str, ...]:
    wheels = package.get("wheels") or []
    if not wheels:
        kinds = [k for k in ("sdist", "vcs", "directory", "archive") if k in package]
        raise UsageError(
            f"{origin}: {package.get('name')} is locked as {', '.join(kinds) or 'no file'}, "
            "not as wheels; layerforge never builds from source",
            hint=BINARY_HINT,
        )
    hashes = []
    for wheel in wheels:
        for algorithm, value in (wheel.get("hashes") or {}).items():
            hashes.append(f"{algorithm}:{value}")
    return tuple(sorted(set(hashes)))


def read_pylock(path: Path, environment: dict[str, str]) -> RequirementsFileContent:
    """Every package of the lock that applies to the target, pinned, with its wheels' hashes."""
    lock = _load(path)
    if not str(lock.get("lock-version", "")).startswith("1."):
        raise UsageError(
            f"{path}: not a PEP 751 lock (lock-version {lock.get('lock-version')!r})",
            hint="layerforge reads lock-version 1.x",
        )
    packages = lock.get("packages")
    if not isinstance(packages, list):
        raise UsageError(f"{path}: no [[packages]] array")
    content = RequirementsFileContent(sources=[(str(path.resolve()), file_digest(path))])
    indexes: set[str] = set()
    for number, package in enumerate(packages, start=1):
        origin = f"{path} packages[{number}]"
        if not isinstance(package, dict) or not package.get("name"):
            raise UsageError(f"{origin}: a package needs a name")
        if not applies(package.get("marker"), environment, origin=origin):
            continue
        version = package.get("version")
        text = f"{package['name']}=={version}" if version else str(package["name"])
        content.requirements.append(
            InputRequirement(
                binary_only(text, base=path.parent, origin=origin),
                _wheel_hashes(package, origin),
                origin,
            )
        )
        if isinstance(package.get("index"), str):
            indexes.add(package["index"])
    if len(indexes) == 1:
        content.index_url = indexes.pop()
    elif indexes:
        first, *rest = sorted(indexes)
        content.index_url, content.extra_index_urls = first, rest
    return content
