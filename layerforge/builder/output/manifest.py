"""Reading a layer's manifest: only when it describes that very zip.

Every command that takes a layer (``verify-abi``, ``smoke``, ``invoke-local``, ``publish``,
``publish-and-invoke``) decides its runtime and architecture by one rule, ``layer_target``:
the flags, else the manifest beside the zip if its recorded sha256 and size are the zip's,
else python3.11/x86_64. A manifest that is there but does not describe the zip (another
build's, an edited zip, a copy of the wrong file) is ignored, said so, and then the flags are
required: a layer is never taken for what some other file says it is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from layerforge.archive import sha256_of
from layerforge.builder.output.placement import manifest_path_for
from layerforge.errors import UsageError
from layerforge.events import Event, EventKind, EventSink, emit_to
from layerforge.runtimes import DEFAULT_ARCH, DEFAULT_RUNTIME, Architecture, Runtime, get_runtime
from layerforge.settings import SettingValueError, to_arch, to_runtime

__all__ = ["Manifest", "layer_target", "read_manifest"]

T = TypeVar("T")

_MAX_MANIFEST_BYTES = 16 * 2**20
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Manifest:
    """What a manifest records about the zip it was written with (checked against it)."""

    path: Path
    layer: Path
    runtime: Runtime
    architecture: Architecture
    sha256: str
    zipped_bytes: int


@dataclass(frozen=True)
class _Ignored:
    """A manifest that is there but cannot be taken for the zip, and why."""

    path: Path
    reason: str

    @property
    def message(self) -> str:
        return f"ignoring {self.path} ({self.reason})"


def _load(path: Path) -> dict[str, Any] | str:
    """The manifest's document, or why it is not one."""
    try:
        if path.stat().st_size > _MAX_MANIFEST_BYTES:
            return "it is too large to be a manifest"
        document = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        return f"it is not readable JSON ({exc})"
    return document if isinstance(document, dict) else "it is not a layerforge manifest"


def _described(layer: Path, document: dict[str, Any]) -> tuple[str, int] | str:
    """The zip's (sha256, size) if the document records exactly those, or why not."""
    sha256, size = document.get("sha256"), document.get("zipped_bytes")
    if not (isinstance(sha256, str) and _SHA256.fullmatch(sha256)):
        return "it records no sha256 of the zip"
    if not isinstance(size, int) or isinstance(size, bool):
        return "it records no size of the zip"
    found = layer.stat().st_size
    if found != size:
        return f"it records a zip of {size:,} bytes, this one has {found:,}"
    actual = sha256_of(layer)
    if actual != sha256:
        return f"it records a zip with sha256 {sha256[:12]}…, this one has {actual[:12]}…"
    return sha256, size


def _target(document: dict[str, Any]) -> tuple[Runtime, Architecture] | str:
    try:
        return to_runtime(document.get("runtime")), to_arch(document.get("architecture"))
    except SettingValueError as exc:
        return f"its runtime or architecture is not one layerforge knows ({exc})"


def _judge(layer: Path, path: Path) -> Manifest | str:
    """The manifest at ``path`` if it describes ``layer``, or why it does not."""
    if not path.is_file():
        return "it is not a file"
    document = _load(path)
    if isinstance(document, str):
        return document
    try:
        described = _described(layer, document)
    except OSError as exc:
        return f"the zip could not be read ({exc.strerror or exc})"
    if isinstance(described, str):
        return described
    target = _target(document)
    return target if isinstance(target, str) else Manifest(path, layer, *target, *described)


def _examine(layer: Path) -> Manifest | _Ignored | None:
    path = manifest_path_for(layer)
    if not layer.is_file() or not (path.exists() or path.is_symlink()):
        return None
    found = _judge(layer, path)
    return found if isinstance(found, Manifest) else _Ignored(path, found)


def read_manifest(layer: Path, on_event: EventSink | None = None) -> Manifest | None:
    """The manifest beside ``layer`` if it describes exactly that file (its sha256 and size);
    None if there is none, or (said to ``on_event``) if the one there describes another."""
    found = _examine(layer)
    if isinstance(found, _Ignored):
        emit_to(on_event)(Event(EventKind.NOTE, "manifest", found.message))
        return None
    return found


def _missing_flags(runtime: Runtime | None, arch: Architecture | None) -> str:
    return " and ".join(
        flag for flag, given in (("--runtime", runtime), ("--arch", arch)) if given is None
    )


def _recorded(layers: Sequence[Path], missing: str) -> list[Manifest]:
    """The manifests of ``layers`` that describe them; one there that does not is an error."""
    manifests = []
    for layer in layers:
        found = _examine(layer)
        if isinstance(found, _Ignored):
            raise UsageError(
                f"{found.message}: which runtime and architecture {layer} is for is unknown",
                hint=f"give {missing} (or rebuild the layer: its manifest comes with it)",
            )
        if found is not None:
            manifests.append(found)
    return manifests


def _agreed(values: set[T], manifests: list[Manifest], missing: str) -> T | None:
    if len(values) > 1:
        named = ", ".join(f"{m.layer} ({m.runtime.name}/{m.architecture.value})" for m in manifests)
        raise UsageError(
            f"the layers' manifests name different targets: {named}",
            hint=f"check them one at a time, or give {missing}",
        )
    return values.pop() if values else None


def layer_target(
    layers: Sequence[Path], runtime: Runtime | None, arch: Architecture | None
) -> tuple[Runtime, Architecture]:
    """The runtime and architecture to treat ``layers`` as: the flags given, else what their
    manifests record (only manifests that describe their zip; all must agree), else
    python3.11/x86_64. A manifest there that does not describe its zip makes the flags
    required: the answer never comes from another file's record."""
    if runtime is not None and arch is not None:
        return runtime, arch
    missing = _missing_flags(runtime, arch)
    manifests = _recorded(layers, missing)
    if runtime is None:
        runtime = _agreed({m.runtime for m in manifests}, manifests, missing)
    if arch is None:
        arch = _agreed({m.architecture for m in manifests}, manifests, missing)
    return (
        runtime or get_runtime(DEFAULT_RUNTIME),
        arch or Architecture.parse(DEFAULT_ARCH),
    )
