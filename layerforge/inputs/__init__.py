"""Requirement sources, read by pip's rules and evaluated for the target runtime:
requirement strings, requirements files (pip-compile, uv export, poetry export), a
pyproject.toml's dependencies and PEP 751 ``pylock.toml`` files. Each yields the same ``Inputs``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from layerforge.errors import UsageError
from layerforge.inputs.lockfiles import (
    LockTarget,
    is_pylock,
    is_pyproject,
    read_pylock,
    read_pyproject_dependencies,
)
from layerforge.inputs.markers import target_environment
from layerforge.inputs.requirement import InputRequirement, Inputs
from layerforge.inputs.requirements import (
    RequirementsFileContent,
    binary_only,
    read_requirements_file,
)
from layerforge.runtimes import Architecture, Runtime

__all__ = [
    "InputRequirement",
    "Inputs",
    "InputsRequest",
    "collect_inputs",
    "default_requirements_file",
]


def default_requirements_file() -> Path:
    """The requirements of the bundled ``analytics_payload`` function."""
    return Path(str(resources.files("analytics_payload").joinpath("requirements.txt")))


@dataclass(frozen=True, kw_only=True)
class InputsRequest:
    """What the user named: strings, files (requirements, pyproject.toml, pylock.toml), and the
    options that go with them."""

    requirements: tuple[str, ...] = ()
    files: tuple[Path, ...] = ()
    constraints: tuple[Path, ...] = ()
    extras: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements and not self.files


def _read_file(
    path: Path, extras: Sequence[str], target: LockTarget
) -> tuple[RequirementsFileContent, str | None]:
    environment = target.environment
    if is_pylock(path):
        note = f"{path.name} (PEP 751): each package installed from the wheel file the lock names"
        return read_pylock(path, target), note
    if is_pyproject(path):
        note = f"{path.name}: [project] dependencies" + (
            f" + {', '.join(extras)}" if extras else ""
        )
        return read_pyproject_dependencies(path, extras, environment), note
    return read_requirements_file(path, environment), None


def _merge(parts: list[RequirementsFileContent]) -> RequirementsFileContent:
    merged = RequirementsFileContent()
    for part in parts:
        merged.requirements += part.requirements
        merged.constraints += part.constraints
        merged.index_url = part.index_url or merged.index_url
        merged.extra_index_urls += part.extra_index_urls
        merged.find_links += part.find_links
        merged.trusted_hosts += part.trusted_hosts
        merged.pre = merged.pre or part.pre
        merged.no_index = merged.no_index or part.no_index
        merged.sources += part.sources
    return merged


def _unique(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def collect_inputs(request: InputsRequest, runtime: Runtime, arch: Architecture) -> Inputs:
    """The normalised inputs of one build for ``runtime``/``arch``; the bundled function's pins
    when nothing is named."""
    environment = target_environment(runtime, arch)
    target = LockTarget(runtime, arch, environment)
    files = request.files or ((default_requirements_file(),) if request.empty else ())
    parts, notes = [], []
    strings = RequirementsFileContent()
    for text in request.requirements:
        normalised = binary_only(text, base=Path.cwd(), origin="command line")
        strings.requirements.append(InputRequirement(normalised))
    parts.append(strings)
    for path in files:
        part, note = _read_file(path, request.extras, target)
        parts.append(part)
        if note:
            notes.append(note)
    for path in request.constraints:
        part = read_requirements_file(path, environment)
        part.constraints, part.requirements = part.constraints + part.requirements, []
        parts.append(part)
    merged = _merge(parts)
    if not merged.requirements:
        named = ", ".join(str(f) for f in files) or "the command line"
        raise UsageError(
            f"no requirements for {runtime.name}/{arch.value} in {named}",
            hint="name at least one requirement (markers may have excluded all)",
        )
    return Inputs(
        requirements=tuple(merged.requirements),
        constraints=tuple(merged.constraints),
        index_url=request.index_url or merged.index_url,
        extra_index_urls=_unique([*request.extra_index_urls, *merged.extra_index_urls]),
        find_links=_unique([*request.find_links, *merged.find_links]),
        trusted_hosts=_unique(merged.trusted_hosts),
        pre=merged.pre,
        no_index=merged.no_index,
        no_deps=any(is_pylock(f) for f in files),
        sources=tuple(merged.sources),
        notes=tuple(notes),
    )
