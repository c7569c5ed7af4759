"""What to build: ``LayerSpec``s from command-line flags over ``[tool.layerforge]`` over defaults.

Flags and settings arrive already converted (``layerforge.settings`` serves both), so this module
only merges them, expands the (runtime, architecture) matrix and reads the inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from itertools import product
from pathlib import Path
from typing import Any

from layerforge.errors import UsageError
from layerforge.inputs import Inputs, InputsRequest, collect_inputs
from layerforge.runtimes import Architecture, Runtime, get_runtime

__all__ = [
    "DEFAULT_ARCH",
    "DEFAULT_RUNTIME",
    "Backend",
    "InstallerChoice",
    "LayerSpec",
    "default_output",
    "specs_from_settings",
]

DEFAULT_RUNTIME = "python3.11"
DEFAULT_ARCH = "x86_64"


class Backend(str, Enum):
    AUTO = "auto"
    CROSS = "cross"
    DOCKER = "docker"


class InstallerChoice(str, Enum):
    AUTO = "auto"
    PIP = "pip"
    UV = "uv"


@dataclass(frozen=True, kw_only=True)
class LayerSpec:
    """Everything that decides what one build produces."""

    inputs: Inputs
    runtime: Runtime
    architecture: Architecture
    backend: Backend = Backend.AUTO
    installer: InstallerChoice = InstallerChoice.AUTO
    output: Path = field(default_factory=lambda: Path("dist/layer.zip"))
    strip_binaries: bool = True
    compile_bytecode: bool = True
    python: Path | None = None
    max_unzipped: int | None = None
    use_cache: bool = True
    image: str | None = None
    network: str | None = None

    @property
    def requirements(self) -> tuple[str, ...]:
        return tuple(self.inputs.describe())

    @property
    def target(self) -> str:
        return f"{self.runtime.name}/{self.architecture.value}"


def default_output(runtime: Runtime, arch: Architecture, folder: Path = Path("dist")) -> Path:
    return folder / f"layer-{runtime.name}-{arch.value}.zip"


def _output_for(
    output: Path | str | None, runtime: Runtime, arch: Architecture, many: bool
) -> Path:
    """``-o`` as a file, a folder (existing, or written with a trailing /), or a template with
    ``{runtime}`` and ``{arch}``; a matrix needs a folder or a template."""
    if output is None:
        return default_output(runtime, arch)
    text = str(output)
    output = Path(text)
    if "{runtime}" in text or "{arch}" in text:
        return Path(text.format(runtime=runtime.name, arch=arch.value))
    if output.is_dir() or text.endswith(("/", "\\")) or (many and output.suffix != ".zip"):
        return default_output(runtime, arch, output)
    if many:
        raise UsageError(
            f"-o {output} names one file, but the matrix builds several layers",
            hint="give a folder (-o dist/) or a template (-o 'dist/{runtime}-{arch}.zip')",
        )
    return output


def _merge(flags: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """Flags win over the settings; a flag left unset (None or empty) does not count. Naming
    any requirement source on the command line replaces every source the settings name."""
    merged = dict(config)
    for key, values in dict(config.get("matrix") or {}).items():
        merged[key] = tuple(merged.get(key) or ()) + tuple(values)
    merged.update({k: v for k, v in flags.items() if v not in (None, (), [])})
    sources = ("requirements", "requirements_file")
    if any(flags.get(name) for name in sources):
        for name in sources:
            merged[name] = flags.get(name) or ()
    return merged


def _matrix(settings: Mapping[str, Any]) -> list[tuple[Runtime, Architecture]]:
    runtimes = tuple(settings.get("runtime") or (get_runtime(DEFAULT_RUNTIME),))
    archs = tuple(settings.get("arch") or (Architecture.parse(DEFAULT_ARCH),))
    combos = list(dict.fromkeys(product(runtimes, archs)))
    for runtime, arch in combos:
        runtime.require_architecture(arch)
    return combos


def _request(settings: Mapping[str, Any]) -> InputsRequest:
    return InputsRequest(
        requirements=tuple(settings.get("requirements") or ()),
        files=tuple(settings.get("requirements_file") or ()),
        constraints=tuple(settings.get("constraints_file") or ()),
        extras=tuple(settings.get("extras") or ()),
        find_links=tuple(str(Path(p).resolve()) for p in settings.get("find_links") or ()),
        index_url=settings.get("index_url"),
        extra_index_urls=tuple(settings.get("extra_index_urls") or ()),
    )


def specs_from_settings(flags: Mapping[str, Any], config: Mapping[str, Any]) -> list[LayerSpec]:
    """One LayerSpec per (runtime, architecture) of the matrix (usually one)."""
    settings = _merge(flags, config)
    combos = _matrix(settings)
    request = _request(settings)
    specs = []
    for runtime, arch in combos:
        specs.append(
            LayerSpec(
                inputs=collect_inputs(request, runtime, arch),
                runtime=runtime,
                architecture=arch,
                backend=Backend(settings.get("backend", Backend.AUTO.value)),
                installer=InstallerChoice(settings.get("installer", InstallerChoice.AUTO.value)),
                output=_output_for(settings.get("output"), runtime, arch, len(combos) > 1),
                strip_binaries=settings.get("strip", True),
                compile_bytecode=settings.get("bytecode", True),
                python=settings.get("python"),
                max_unzipped=settings.get("max_unzipped"),
                use_cache=settings.get("cache", True),
                image=settings.get("image"),
                network=settings.get("network"),
            )
        )
    outputs = [s.output.resolve() for s in specs]
    if len(set(outputs)) != len(outputs):
        raise UsageError(
            "two layers of the matrix would be written to the same file",
            hint="use a template with {runtime} and {arch} in -o",
        )
    return specs
