"""What to build: a ``LayerSpec`` from command-line flags and ``[tool.layerforge]``."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from layerforge.errors import UsageError
from layerforge.runtimes import Architecture, Runtime, get_runtime

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "Backend",
    "LayerSpec",
    "default_requirements_file",
    "load_pyproject_settings",
    "read_requirements",
    "spec_from_settings",
]

DEFAULT_RUNTIME = "python3.11"
DEFAULT_ARCH = "x86_64"


class Backend(str, Enum):
    AUTO = "auto"
    CROSS = "cross"
    DOCKER = "docker"


@dataclass(frozen=True, kw_only=True)
class LayerSpec:
    """Everything that decides what a build produces."""

    requirements: tuple[str, ...]
    runtime: Runtime
    architecture: Architecture
    backend: Backend = Backend.AUTO
    output: Path = field(default_factory=lambda: Path("dist/layer.zip"))
    strip_binaries: bool = True
    compile_bytecode: bool = True
    python: Path | None = None
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    max_unzipped: int | None = None
    use_cache: bool = True
    image: str | None = None
    network: str | None = None


def default_requirements_file() -> Path:
    """The requirements of the bundled ``analytics_payload`` function."""
    return Path(str(resources.files("analytics_payload").joinpath("requirements.txt")))


def default_output(runtime: Runtime, arch: Architecture) -> Path:
    return Path("dist") / f"layer-{runtime.name}-{arch.value}.zip"


def parse_requirement(text: str, *, origin: str = "command line") -> str:
    """The normalised form of one requirement, or a UsageError that names where it came from."""
    try:
        return str(Requirement(text))
    except InvalidRequirement as exc:
        raise UsageError(
            f"cannot parse requirement {text!r} ({origin})",
            hint=f"write it as pip would accept it, e.g. 'numpy==1.26.4': {exc}",
        ) from None


def read_requirements(path: Path, _seen: frozenset[Path] = frozenset()) -> list[str]:
    """Requirement strings from a requirements file; ``-r`` includes are followed."""
    path = path.resolve()
    if path in _seen:
        raise UsageError(f"requirements file {path} includes itself")
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise UsageError(
            f"cannot read requirements file {path}: {exc.strerror}",
            hint="check the path given to -r / requirements-file",
        ) from None
    found: list[str] = []
    for number, line in enumerate(_logical_lines(text), start=1):
        found.extend(_requirements_of_line(line, path, number, _seen | {path}))
    return found


def _logical_lines(text: str) -> list[str]:
    joined = text.replace("\\\n", "")
    return [line.split(" #", 1)[0].strip() for line in joined.splitlines()]


def _requirements_of_line(line: str, path: Path, number: int, seen: frozenset[Path]) -> list[str]:
    if not line or line.startswith("#"):
        return []
    for flag in ("-r ", "--requirement ", "--requirement="):
        if line.startswith(flag):
            return read_requirements(path.parent / line[len(flag) :].strip(), seen)
    if line.startswith("-"):
        raise UsageError(
            f"{path}:{number}: option lines are not supported in requirements files: {line!r}",
            hint="pass index settings as --index-url/--extra-index-url or in [tool.layerforge]",
        )
    return [parse_requirement(line, origin=f"{path}:{number}")]


def load_pyproject_settings(path: Path) -> dict[str, Any]:
    """The ``[tool.layerforge]`` table of a pyproject.toml, or {} when there is none."""
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    table = data.get("tool", {}).get("layerforge", {})
    if not isinstance(table, dict):
        raise UsageError(f"{path}: [tool.layerforge] must be a table")
    unknown = set(table) - _SETTING_KEYS
    if unknown:
        raise UsageError(
            f"{path}: unknown [tool.layerforge] settings: {', '.join(sorted(unknown))}",
            hint=f"known settings: {', '.join(sorted(_SETTING_KEYS))}",
        )
    return {key.replace("-", "_"): value for key, value in table.items()}


_SETTING_KEYS = frozenset(
    {
        "requirements",
        "requirements-file",
        "runtime",
        "arch",
        "backend",
        "output",
        "strip",
        "bytecode",
        "python",
        "index-url",
        "extra-index-urls",
        "max-unzipped",
        "cache",
        "image",
        "network",
    }
)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _collect_requirements(settings: Mapping[str, Any], base: Path) -> tuple[str, ...]:
    requirements = [parse_requirement(r) for r in _as_list(settings.get("requirements"))]
    for file in _as_list(settings.get("requirements_file")):
        requirements.extend(read_requirements(base / file))
    if not requirements:
        requirements = read_requirements(default_requirements_file())
    return tuple(requirements)


def _merge(flags: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """Flags win over the configuration; a flag left unset (None or empty) does not count."""
    merged = dict(config)
    merged.update({k: v for k, v in flags.items() if v not in (None, (), [])})
    if flags.get("requirements") or flags.get("requirements_file"):
        merged["requirements"] = flags.get("requirements") or []
        merged["requirements_file"] = flags.get("requirements_file") or []
    return merged


def spec_from_settings(
    flags: Mapping[str, Any], config: Mapping[str, Any], *, config_dir: Path | None = None
) -> LayerSpec:
    """A LayerSpec from CLI flags over pyproject settings over defaults."""
    settings = _merge(flags, config)
    base = config_dir if config_dir is not None else Path.cwd()
    runtime = get_runtime(str(settings.get("runtime", DEFAULT_RUNTIME)))
    arch = Architecture.parse(str(settings.get("arch", DEFAULT_ARCH)))
    runtime.require_architecture(arch)
    try:
        backend = Backend(str(settings.get("backend", Backend.AUTO.value)))
    except ValueError:
        raise UsageError(
            f"unknown backend {settings.get('backend')!r}", hint="choose auto, cross or docker"
        ) from None
    output = settings.get("output")
    python = settings.get("python")
    max_unzipped = settings.get("max_unzipped")
    return LayerSpec(
        requirements=_collect_requirements(settings, base),
        runtime=runtime,
        architecture=arch,
        backend=backend,
        output=Path(output) if output else default_output(runtime, arch),
        strip_binaries=bool(settings.get("strip", True)),
        compile_bytecode=bool(settings.get("bytecode", True)),
        python=Path(python) if python else None,
        index_url=settings.get("index_url"),
        extra_index_urls=tuple(_as_list(settings.get("extra_index_urls"))),
        max_unzipped=int(max_unzipped) if max_unzipped is not None else None,
        use_cache=bool(settings.get("cache", True)),
        image=settings.get("image"),
        network=settings.get("network"),
    )
