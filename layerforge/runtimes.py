"""Lambda Python runtimes, architectures and the wheel tags they accept.

Everything here is read from ``data/runtimes.json``: adding a runtime is one row there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from functools import cache
from importlib import resources
from typing import Any

from packaging.tags import Tag, compatible_tags, cpython_tags

from layerforge.errors import UsageError

__all__ = [
    "DEFAULT_ARCH",
    "DEFAULT_RUNTIME",
    "LIMITS",
    "Architecture",
    "GlibcVersion",
    "Limits",
    "Runtime",
    "compatible_platform_tags",
    "get_runtime",
    "preferred_tags",
    "runtimes",
    "supported_tags",
]

#: The target when neither flags, settings nor a layer's manifest name one.
DEFAULT_RUNTIME = "python3.11"
DEFAULT_ARCH = "x86_64"


@dataclass(frozen=True, order=True)
class GlibcVersion:
    """A glibc version such as 2.26; comparable."""

    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> GlibcVersion:
        major, _, minor = text.partition(".")
        try:
            return cls(int(major), int(minor))
        except ValueError:
            raise ValueError(f"not a glibc version: {text!r}") from None

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


@dataclass(frozen=True)
class _ArchFacts:
    platform: str
    elf_machine: int
    elf_class: int
    min_glibc: GlibcVersion
    legacy_manylinux: tuple[tuple[str, GlibcVersion], ...]


class Architecture(str, Enum):
    """A Lambda architecture, named as Lambda names it."""

    X86_64 = "x86_64"
    ARM64 = "arm64"

    @classmethod
    def parse(cls, text: str) -> Architecture:
        aliases = {"amd64": "x86_64", "aarch64": "arm64"}
        try:
            return cls(aliases.get(text.lower(), text.lower()))
        except ValueError:
            names = ", ".join(a.value for a in cls)
            raise UsageError(
                f"unknown architecture {text!r}", hint=f"choose one of: {names}"
            ) from None

    @property
    def _facts(self) -> _ArchFacts:
        return _table().architectures[self.value]

    @property
    def platform(self) -> str:
        """The machine name used in wheel tags and ELF triplets (x86_64, aarch64)."""
        return self._facts.platform

    @property
    def elf_machine(self) -> int:
        """The ELF ``e_machine`` value (EM_X86_64 = 62, EM_AARCH64 = 183)."""
        return self._facts.elf_machine

    @property
    def elf_class(self) -> int:
        return self._facts.elf_class

    @property
    def min_glibc(self) -> GlibcVersion:
        """The oldest manylinux glibc that has wheels for this architecture."""
        return self._facts.min_glibc

    @property
    def legacy_manylinux(self) -> tuple[tuple[str, GlibcVersion], ...]:
        """Legacy manylinux aliases (manylinux2014, ...) with the glibc each stands for."""
        return self._facts.legacy_manylinux


@dataclass(frozen=True)
class Runtime:
    """One Lambda Python runtime (a row of the runtime table)."""

    name: str
    python: tuple[int, int]
    os: str
    glibc: GlibcVersion
    architectures: tuple[Architecture, ...]
    image: str
    deprecated: bool

    @property
    def python_version(self) -> str:
        return f"{self.python[0]}.{self.python[1]}"

    @property
    def abi(self) -> str:
        """The CPython ABI tag, e.g. ``cp311``."""
        return f"cp{self.python[0]}{self.python[1]}"

    @property
    def site_packages(self) -> str:
        """The versioned layer folder Lambda also searches."""
        return f"python/lib/python{self.python_version}/site-packages"

    def require_architecture(self, arch: Architecture) -> None:
        if arch not in self.architectures:
            raise UsageError(f"{self.name} is not offered for {arch.value}")

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Limits:
    """Lambda's size limits, in bytes."""

    unzipped_bytes: int
    direct_upload_zip_bytes: int
    layers_per_function: int


@dataclass(frozen=True)
class _Table:
    runtimes: dict[str, Runtime]
    architectures: dict[str, _ArchFacts]
    limits: Limits


def _arch_facts(raw: dict[str, Any]) -> _ArchFacts:
    return _ArchFacts(
        platform=raw["platform"],
        elf_machine=int(raw["elf_machine"]),
        elf_class=int(raw["elf_class"]),
        min_glibc=GlibcVersion.parse(raw["min_glibc"]),
        legacy_manylinux=tuple(
            (name, GlibcVersion.parse(version)) for name, version in raw["legacy_manylinux"].items()
        ),
    )


def _runtime(raw: dict[str, Any]) -> Runtime:
    major, minor = (int(part) for part in raw["python"].split("."))
    return Runtime(
        name=raw["name"],
        python=(major, minor),
        os=raw["os"],
        glibc=GlibcVersion.parse(raw["glibc"]),
        architectures=tuple(Architecture(a) for a in raw["architectures"]),
        image=raw["image"],
        deprecated=bool(raw["deprecated"]),
    )


@cache
def _table() -> _Table:
    text = resources.files("layerforge.data").joinpath("runtimes.json").read_text("utf-8")
    raw = json.loads(text)
    return _Table(
        runtimes={r["name"]: _runtime(r) for r in raw["runtimes"]},
        architectures={name: _arch_facts(a) for name, a in raw["architectures"].items()},
        limits=Limits(**raw["limits"]),
    )


def runtimes() -> tuple[Runtime, ...]:
    """All known runtimes, oldest first."""
    return tuple(_table().runtimes.values())


def get_runtime(name: str) -> Runtime:
    """The runtime called ``name`` (``python3.11``; ``3.11``, ``py3.11`` and ``py311`` too)."""
    text = name.strip().lower()
    for prefix in ("python", "py"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    if "." not in text and len(text) > 1:
        text = f"{text[0]}.{text[1:]}"
    key = f"python{text}"
    try:
        return _table().runtimes[key]
    except KeyError:
        names = ", ".join(_table().runtimes)
        raise UsageError(f"unknown runtime {name!r}", hint=f"choose one of: {names}") from None


def compatible_platform_tags(runtime: Runtime, arch: Architecture) -> list[str]:
    """Every manylinux platform tag that ``runtime`` on ``arch`` accepts, most specific first.

    pip does not expand ``manylinux_2_26`` to the older tags, so each one is listed:
    ``manylinux_2_N_<arch>`` from the runtime's glibc down to the oldest for the
    architecture, each legacy alias (manylinux2014/2010/1) right after the tag it stands for.
    """
    runtime.require_architecture(arch)
    aliases: dict[int, list[str]] = {}
    for name, glibc in arch.legacy_manylinux:
        aliases.setdefault(glibc.minor, []).append(f"{name}_{arch.platform}")
    tags: list[str] = []
    for minor in range(runtime.glibc.minor, arch.min_glibc.minor - 1, -1):
        tags.append(f"manylinux_{runtime.glibc.major}_{minor}_{arch.platform}")
        tags.extend(aliases.get(minor, []))
    return tags


@cache
def preferred_tags(runtime: Runtime, arch: Architecture) -> tuple[Tag, ...]:
    """The wheel tags (python, abi, platform) the target interpreter accepts, in pip's order of
    preference (the most specific first)."""
    platforms = compatible_platform_tags(runtime, arch)
    interpreter = f"cp{runtime.python[0]}{runtime.python[1]}"
    return (
        *cpython_tags(runtime.python, abis=[runtime.abi], platforms=platforms),
        *compatible_tags(runtime.python, interpreter=interpreter, platforms=platforms),
    )


@cache
def supported_tags(runtime: Runtime, arch: Architecture) -> frozenset[Tag]:
    """The full set of wheel tags (python, abi, platform) the target interpreter accepts."""
    return frozenset(preferred_tags(runtime, arch))


LIMITS: Limits = _table().limits
