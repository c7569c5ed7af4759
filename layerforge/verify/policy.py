"""The ABI policy of each runtime (``data/abi-policy.json``): which system libraries the runtime's
OS provides on an architecture, which symbol-version families each defines, and how new a version
of each family may be."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from layerforge.runtimes import Architecture, Runtime

__all__ = ["AbiPolicy", "Family", "Identity", "VersionVerdict", "policy_for", "version_key"]


def version_key(text: str) -> tuple[int, ...]:
    """``2.2.5`` -> (2, 2, 5); compares symbol versions numerically."""
    return tuple(int(part) for part in re.findall(r"\d+", text))


_NUMERIC = re.compile(r"^\d+(\.\d+)*$")


@dataclass(frozen=True)
class Family:
    """One symbol-version family (GLIBC, GLIBCXX ...): its newest version and named versions."""

    maximum: str | None
    named: frozenset[str]

    def allows(self, version: str) -> bool:
        if version in self.named:
            return True
        if not _NUMERIC.match(version) or self.maximum is None:
            return False
        return version_key(version) <= version_key(self.maximum)


@dataclass(frozen=True)
class VersionVerdict:
    """Why a symbol version is not provided (``None`` from ``judge`` means it is)."""

    reason: str
    allowed: str


@dataclass(frozen=True)
class Identity:
    """The ELF identification the runtime's loader accepts on one architecture."""

    byte_order: str
    osabi: dict[int, str]  # EI_OSABI values accepted, with their names
    abi_version_below: int  # EI_ABIVERSION (with OSABI GNU) must be below this


@dataclass(frozen=True)
class AbiPolicy:
    """What one runtime on one architecture provides to the binaries of a layer."""

    os: str
    glibc: str
    libraries: dict[str, frozenset[str]]  # library -> families it defines
    families: dict[str, Family]
    glibc_named: dict[str, str]  # GLIBC_ABI_DT_RELR -> the glibc that introduced it
    known_absent: frozenset[str]
    blacklist: dict[str, frozenset[str]]
    layer_library_folders: tuple[str, ...]
    identity: Identity
    dlopen_refuses_pie: str  # the glibc release from which dlopen refuses a PIE

    def glibc_at_least(self, release: str) -> bool:
        return version_key(self.glibc) >= version_key(release)

    @property
    def system_libraries(self) -> frozenset[str]:
        return frozenset(self.libraries)

    def describe(self, family: str) -> str:
        found = self.families.get(family)
        if found is None or found.maximum is None:
            return family
        return f"{family}_{found.maximum}"

    def judge(self, library: str, version: str) -> VersionVerdict | None:
        """None when ``library`` on this OS defines symbol version ``version``."""
        defined = self.libraries.get(library)
        if defined is None:
            return None  # not a system library: bundled (or missing, another rule's finding)
        family, _, rest = version.partition("_")
        if family not in defined:
            provides = ", ".join(sorted(defined)) or "no versioned symbols"
            return VersionVerdict(
                f"{library} on {self.os} defines only {provides}: {version} comes from another "
                f"build of {library}",
                allowed=provides,
            )
        if family == "GLIBC" and version in self.glibc_named:
            return self._named_glibc(version)
        rules = self.families.get(family)
        if rules is None or rules.allows(rest):
            return None
        newer = f"{version} is newer than {self.os} provides"
        unknown = f"{version} is not a version {self.os}'s {library} defines"
        return VersionVerdict(
            newer if _NUMERIC.match(rest) else unknown, allowed=f"<= {self.describe(family)}"
        )

    def _named_glibc(self, version: str) -> VersionVerdict | None:
        introduced = self.glibc_named[version]
        if version_key(introduced) <= version_key(self.glibc):
            return None
        return VersionVerdict(
            f"{version} appeared in glibc {introduced}", allowed=f"glibc {self.glibc}"
        )


@cache
def _data() -> dict[str, Any]:
    text = resources.files("layerforge.data").joinpath("abi-policy.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _families(raw: dict[str, Any]) -> dict[str, Family]:
    return {
        name: Family(rule.get("max"), frozenset(rule.get("named", [])))
        for name, rule in raw.items()
        if not name.startswith("_")
    }


@cache
def policy_for(runtime: Runtime, arch: Architecture) -> AbiPolicy:
    data = _data()
    glibc = str(runtime.glibc)
    name = data["policy_for_glibc"][glibc]
    manylinux = data["policies"][name][arch.platform]
    system = data["operating_systems"][runtime.os][arch.platform]
    blacklist = {k: frozenset(v) for k, v in data["blacklist"][name].items()}
    named = {k: v for k, v in data["glibc_named_versions"].items() if not k.startswith("_")}
    identity = data["elf_identity"]
    return AbiPolicy(
        os=runtime.os,
        glibc=glibc,
        libraries={lib: frozenset(fams) for lib, fams in system["libraries"].items()},
        families={**_families(manylinux), **_families(system.get("families", {}))},
        glibc_named=named,
        known_absent=frozenset(data["known_absent_libraries"]["libraries"]),
        blacklist=blacklist,
        layer_library_folders=tuple(data["library_path"]["layer_folders"]),
        identity=Identity(
            byte_order=identity["byte_order"][arch.platform],
            osabi={int(k): v for k, v in identity["osabi"].items()},
            abi_version_below=identity["abi_version_below"][arch.platform],
        ),
        dlopen_refuses_pie=data["loader_features"]["dlopen_refuses_pie"],
    )


def libpython_rule() -> dict[str, str]:
    rule: dict[str, str] = _data()["libpython"]
    return rule
