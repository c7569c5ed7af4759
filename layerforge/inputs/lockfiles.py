"""Inputs that are not pip requirements files: a pyproject.toml's dependencies and a PEP 751
``pylock.toml``. Each is checked against its schema (``data/pyproject.schema.json``,
``data/pylock.schema.json``), then converted faithfully into requirements pip installs (same
pins, same hashes; for a lock, exactly the wheel file it names); the build says so in its notes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from layerforge.documents import PROJECT_TABLE, PYLOCK, read_toml, validate
from layerforge.errors import InvalidDocumentError, NoCompatibleWheelError, UsageError
from layerforge.inputs.markers import applies
from layerforge.inputs.requirement import InputRequirement, file_digest
from layerforge.inputs.requirements import (
    BINARY_HINT,
    RequirementsFileContent,
    binary_only,
    file_url_path,
)
from layerforge.runtimes import Architecture, Runtime, preferred_tags

__all__ = ["LockTarget", "is_pylock", "is_pyproject", "read_pylock", "read_pyproject_dependencies"]

#: The hash algorithms both pip (``--hash``) and uv check; a lock's others are not enough.
CHECKED_HASHES = ("sha256", "sha384", "sha512")


def is_pyproject(path: Path) -> bool:
    return path.name == "pyproject.toml"


def is_pylock(path: Path) -> bool:
    """PEP 751 names: ``pylock.toml`` or ``pylock.<name>.toml``."""
    return path.name.startswith("pylock.") and path.name.endswith(".toml")


def read_pyproject_dependencies(
    path: Path, extras: Sequence[str], environment: dict[str, str]
) -> RequirementsFileContent:
    """``[project.dependencies]`` plus the named ``[project.optional-dependencies]`` groups."""
    data = read_toml(path, "pyproject")
    if not isinstance(data.get("project"), dict):
        raise UsageError(f"{path} has no [project] table", hint="give a requirements file instead")
    validate({"project": data["project"]}, PROJECT_TABLE, source=str(path))
    project: dict[str, Any] = data["project"]
    if "dependencies" in project.get("dynamic", []):
        raise UsageError(
            f"{path}: the dependencies are dynamic, so they are not in the file",
            hint="export them (pip-compile, uv export) and pass that file with -r",
        )
    groups: dict[str, list[str]] = project.get("optional-dependencies", {})
    lines = [(s, "[project].dependencies") for s in project.get("dependencies", [])]
    for extra in extras:
        if extra not in groups:
            raise UsageError(
                f"{path}: no optional-dependencies group {extra!r}",
                hint=f"groups in the file: {', '.join(sorted(groups)) or 'none'}",
            )
        lines += [(s, f"[project.optional-dependencies].{extra}") for s in groups[extra]]
    content = RequirementsFileContent(sources=[(str(path.resolve()), file_digest(path))])
    for text, where in lines:
        origin = f"{path} {where}"
        requirement, _, marker = text.partition(";")
        if applies(marker.strip() or None, environment, origin=origin):
            normalised = binary_only(requirement, base=path.parent, origin=origin)
            content.requirements.append(InputRequirement(normalised, (), origin))
    return content


@dataclass(frozen=True)
class LockTarget:
    """What a lock is read for: the marker environment and the tags its wheels must have."""

    runtime: Runtime
    architecture: Architecture
    environment: dict[str, str]

    def describe(self) -> str:
        return f"{self.runtime.name}/{self.architecture.value} (glibc {self.runtime.glibc})"


def _invalid(path: Path, key: str, problem: str, hint: str) -> InvalidDocumentError:
    return InvalidDocumentError(f"{path}: {key}: {problem}", key=key, hint=hint)


def _wheel_file(wheel: Mapping[str, Any]) -> str:
    """The wheel's file name: its ``name``, else the last part of its path or URL."""
    if wheel.get("name"):
        return str(wheel["name"])
    location = str(wheel.get("path") or urlsplit(str(wheel.get("url", ""))).path)
    return location.replace("\\", "/").rsplit("/", 1)[-1]


def _rank(wheel: Mapping[str, Any], package: Mapping[str, Any], key: str, lock: _Lock) -> int:
    """How much the target prefers this wheel (0 best); -1 when it cannot use it."""
    if not wheel.get("url") and not wheel.get("path"):
        raise lock.invalid(key, "a wheel needs a url or a path")
    name = _wheel_file(wheel)
    try:
        project, version, _, tags = parse_wheel_filename(name)
    except InvalidWheelFilename as exc:
        raise lock.invalid(key, f"{name!r} is not a wheel's file name ({exc})") from None
    try:
        locked_version = Version(package["version"]) if "version" in package else version
    except InvalidVersion as exc:
        raise lock.invalid(key.rsplit(".wheels", 1)[0] + ".version", str(exc)) from None
    if project != canonicalize_name(package["name"]) or version != locked_version:
        locked = f"{package['name']} {package.get('version', '')}".strip()
        raise lock.invalid(key, f"{name} is not a wheel of {locked}")
    ranks = [lock.preference[tag] for tag in tags if tag in lock.preference]
    return min(ranks) if ranks else -1


class _Lock:
    """One lock file being read for one target."""

    def __init__(self, path: Path, target: LockTarget) -> None:
        self.path = path
        self.target = target
        tags = preferred_tags(target.runtime, target.architecture)
        self.preference = {tag: rank for rank, tag in enumerate(tags)}

    def check_target(self, document: Mapping[str, Any]) -> None:
        """The lock's ``requires-python`` and ``environments`` admit the target (PEP 751)."""
        version = self.target.environment["python_full_version"]
        if "requires-python" in document:
            try:
                specifier = SpecifierSet(document["requires-python"])
            except InvalidSpecifier as exc:
                raise self.invalid("requires-python", str(exc)) from None
            if not specifier.contains(version, prereleases=True):
                raise UsageError(
                    f"{self.path} requires Python {specifier}, not {self.target.describe()}",
                    hint="choose a runtime the lock was made for (--runtime), or re-lock",
                )
        environments = document.get("environments", [])
        origin = f"{self.path} environments"
        if environments and not any(
            applies(marker, self.target.environment, origin=origin) for marker in environments
        ):
            raise UsageError(
                f"{self.path} was locked for other environments than {self.target.describe()}",
                hint=f"its environments: {'; '.join(environments)}; choose one of those "
                "runtimes and architectures, or re-lock",
            )

    def invalid(self, key: str, problem: str) -> InvalidDocumentError:
        return _invalid(self.path, key, problem, f"fix {key} in {self.path} (PEP 751), or re-lock")

    def chosen_wheel(self, package: Mapping[str, Any], key: str) -> tuple[str, Mapping[str, Any]]:
        """The key and table of the wheel the target prefers among the package's wheels."""
        wheels = package.get("wheels") or []
        if not wheels:
            kinds = [k for k in ("sdist", "vcs", "directory", "archive") if k in package]
            raise UsageError(
                f"{self.path} {key}: {package['name']} is locked as "
                f"{', '.join(kinds) or 'no file'}, not as wheels; layerforge never builds "
                "from source",
                hint=BINARY_HINT,
            )
        ranked = []
        for number, wheel in enumerate(wheels):
            rank = _rank(wheel, package, f"{key}.wheels[{number}]", self)
            if rank >= 0:
                ranked.append((rank, number))
        if not ranked:
            names = ", ".join(_wheel_file(w) for w in wheels[:5])
            raise NoCompatibleWheelError(
                f"{self.path} {key}: no wheel of {package['name']} {package.get('version', '')} "
                f"in the lock fits {self.target.describe()} (it has {names})",
                hint="re-lock for this target (its Python version, glibc and architecture), or "
                "choose the runtime the lock was made for",
            )
        _, number = min(ranked)
        return f"{key}.wheels[{number}]", wheels[number]

    def hashes(self, wheel: Mapping[str, Any], key: str) -> tuple[str, ...]:
        """The wheel's hashes that pip and uv check, as ``--hash`` values."""
        found = {str(k).lower(): str(v).lower() for k, v in wheel["hashes"].items()}
        checked = tuple(f"{name}:{found[name]}" for name in CHECKED_HASHES if name in found)
        if not checked:
            raise self.invalid(
                f"{key}.hashes", f"no {', '.join(CHECKED_HASHES)} hash (got {', '.join(found)})"
            )
        return checked

    def location(self, package: Mapping[str, Any], wheel: Mapping[str, Any], key: str) -> str:
        """The requirement that installs exactly this file: its ``path`` (relative to the lock)
        when the file is there, else its ``url``."""
        path = wheel.get("path")
        if path is not None:
            local = (self.path.parent / Path(str(path)).expanduser()).resolve()
            if local.is_file():
                return str(local)
            if not wheel.get("url"):
                raise self.invalid(f"{key}.path", f"no such file ({local})")
        url = str(wheel["url"])  # a wheel has a url where it has no path (``_rank``)
        if not url.startswith(("https://", "http://", "file:")):
            raise self.invalid(f"{key}.url", f"{url!r} is not an http(s) or file: URL")
        if url.startswith("file:"):
            return str(self.path.parent / file_url_path(url, f"{self.path} {key}.url"))
        return f"{package['name']} @ {url}"


def read_pylock(path: Path, target: LockTarget) -> RequirementsFileContent:
    """Every package of the lock that applies to the target, as exactly the wheel file the lock
    names for it (by path or URL), with that wheel's hashes (PEP 751)."""
    document = read_toml(path, "lock file")
    validate(document, PYLOCK, source=str(path))
    lock = _Lock(path, target)
    lock.check_target(document)
    groups = frozenset(document.get("default-groups", []))
    content = RequirementsFileContent(sources=[(str(path.resolve()), file_digest(path))])
    indexes: set[str] = set()
    for number, package in enumerate(document["packages"]):
        key = f"packages[{number}]"
        origin = f"{path} {key}"
        if not applies(package.get("marker"), target.environment, origin=origin, groups=groups):
            continue
        wheel_key, wheel = lock.chosen_wheel(package, key)
        text = lock.location(package, wheel, wheel_key)
        content.requirements.append(
            InputRequirement(
                binary_only(text, base=path.parent, origin=f"{path} {wheel_key}"),
                lock.hashes(wheel, wheel_key),
                origin,
            )
        )
        if "index" in package:
            indexes.add(package["index"])
    if len(indexes) == 1:
        content.index_url = indexes.pop()
    elif indexes:
        first, *rest = sorted(indexes)
        content.index_url, content.extra_index_urls = first, rest
    return content
