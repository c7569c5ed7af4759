"""The ABI policy of each runtime (data/abi-policy.json): symbol-version maxima and libraries."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from layerforge.runtimes import Architecture, Runtime

__all__ = ["AbiPolicy", "policy_for", "version_key"]


def version_key(text: str) -> tuple[int, ...]:
    """``2.2.5`` -> (2, 2, 5); compares symbol versions numerically."""
    return tuple(int(part) for part in re.findall(r"\d+", text))


@dataclass(frozen=True)
class AbiPolicy:
    """What one runtime on one architecture provides to the binaries of a layer."""

    maxima: dict[str, str]
    always_allowed: frozenset[str]
    system_libraries: frozenset[str]
    known_absent: frozenset[str]

    def exceeds(self, symbol_version: str) -> bool:
        """True for ``GLIBC_2.27`` on a glibc 2.26 runtime; False for unknown families."""
        if symbol_version in self.always_allowed:
            return False
        family, _, version = symbol_version.partition("_")
        limit = self.maxima.get(family)
        if limit is None or not version_key(version):
            return False
        return version_key(version) > version_key(limit)


@cache
def _data() -> dict[str, object]:
    text = resources.files("layerforge.data").joinpath("abi-policy.json").read_text("utf-8")
    data: dict[str, object] = json.loads(text)
    return data


def policy_for(runtime: Runtime, arch: Architecture) -> AbiPolicy:
    data = _data()
    symbols = data["symbol_versions"]
    libraries = data["system_libraries"]
    assert isinstance(symbols, dict) and isinstance(libraries, dict)
    absent = data["known_absent_libraries"]
    allowed = data["symbol_names_always_allowed"]
    assert isinstance(absent, list) and isinstance(allowed, list)
    return AbiPolicy(
        maxima=dict(symbols[str(runtime.glibc)][arch.platform]),
        always_allowed=frozenset(allowed),
        system_libraries=frozenset(libraries[runtime.os]),
        known_absent=frozenset(absent),
    )
