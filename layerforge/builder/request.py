"""What to build: ``LayerSpec``s from command-line flags over ``[tool.layerforge]`` over defaults.

Flags and settings arrive already converted (``layerforge.settings`` serves both), so this module
only merges them, expands the (runtime, architecture) matrix and reads the inputs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from itertools import product
from pathlib import Path
from typing import Any

from layerforge.builder.output.placement import check_output_name, manifest_path_for
from layerforge.errors import UsageError
from layerforge.inputs import Inputs, InputsRequest, collect_inputs
from layerforge.runtimes import DEFAULT_ARCH, DEFAULT_RUNTIME, Architecture, Runtime, get_runtime

__all__ = [
    "BackendChoice",
    "InstallerChoice",
    "LayerSpec",
    "default_output",
    "specs_from_settings",
]

_PLACEHOLDERS = ("runtime", "arch")


class BackendChoice(str, Enum):
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
    backend: BackendChoice = BackendChoice.AUTO
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


def _template_error(text: str, problem: str) -> UsageError:
    return UsageError(
        f"-o {text}: {problem}",
        hint="an output template may use {runtime} and {arch} (and {{ or }} for a brace)",
    )


def _placeholders(text: str) -> set[str]:
    """The placeholders in an ``-o`` template (str.format's syntax, two of its names): any
    other field (``{nope}``, ``{0}``, ``{}``, ``{arch!r}``) or a brace without its partner
    is a usage error that names it."""
    found: set[str] = set()
    position = 0
    while position < len(text):
        if text.startswith(("{{", "}}"), position):
            position += 2
        elif text[position] == "}":
            raise _template_error(text, f"a '}}' with no '{{' before it (character {position + 1})")
        elif text[position] == "{":
            end = text.find("}", position)
            if end < 0:
                raise _template_error(
                    text, f"a '{{' with no '}}' after it (character {position + 1})"
                )
            name = text[position + 1 : end]
            if name not in _PLACEHOLDERS:
                raise _template_error(text, f"{{{name}}} is not a placeholder")
            found.add(name)
            position = end + 1
        else:
            position += 1
    return found


def _output_for(
    output: Path | str | None, runtime: Runtime, arch: Architecture, many: bool
) -> Path:
    """``-o`` as a file, a folder (existing, or written with a trailing /), or a template with
    ``{runtime}`` and ``{arch}`` (naming a file or a folder); a matrix needs a folder or a
    template."""
    if output is None:
        return default_output(runtime, arch)
    text = str(output)
    templated = bool(_placeholders(text))
    named = text.format(runtime=runtime.name, arch=arch.value)
    output = Path(named)
    folder = many and not templated and output.suffix != ".zip"
    if output.is_dir() or named.endswith(("/", "\\")) or folder:
        return default_output(runtime, arch, output)
    if many and not templated:
        raise UsageError(
            f"-o {output} names one file, but the matrix builds several layers",
            hint="give a folder (-o dist/) or a template (-o 'dist/{runtime}-{arch}.zip')",
        )
    check_output_name(output)
    return output


def _outputs(
    output: Path | str | None, combos: list[tuple[Runtime, Architecture]]
) -> dict[tuple[Runtime, Architecture], Path]:
    """Each combination's zip, every zip and every manifest a file of its own: checked before
    any work (and before any input is read)."""
    outputs = {combo: _output_for(output, *combo, len(combos) > 1) for combo in combos}
    claimed: dict[str, str] = {}
    for (runtime, arch), zip_path in outputs.items():
        for path, what in ((zip_path, "zip"), (manifest_path_for(zip_path), "manifest")):
            mine, key = f"the {what} of {runtime.name}/{arch.value}", os.path.realpath(path)
            if key in claimed:
                raise UsageError(
                    f"{claimed[key]} and {mine} would both be {path}",
                    hint="give each its own file: -o dist/, or -o 'dist/{runtime}-{arch}.zip'",
                )
            claimed[key] = mine
    return outputs


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
    outputs = _outputs(settings.get("output"), combos)
    request = _request(settings)
    specs = []
    for runtime, arch in combos:
        specs.append(
            LayerSpec(
                inputs=collect_inputs(request, runtime, arch),
                runtime=runtime,
                architecture=arch,
                backend=BackendChoice(settings.get("backend", BackendChoice.AUTO.value)),
                installer=InstallerChoice(settings.get("installer", InstallerChoice.AUTO.value)),
                output=outputs[runtime, arch],
                strip_binaries=settings.get("strip", True),
                compile_bytecode=settings.get("bytecode", True),
                python=settings.get("python"),
                max_unzipped=settings.get("max_unzipped"),
                use_cache=settings.get("cache", True),
                image=settings.get("image"),
                network=settings.get("network"),
            )
        )
    return specs
