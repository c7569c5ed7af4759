"""The ABI policy is data with sources, and it agrees with the auditwheel it was taken from."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from layerforge.runtimes import Architecture, runtimes
from layerforge.verify.policy import policy_for, version_key

DATA: dict[str, Any] = json.loads(
    resources.files("layerforge.data").joinpath("abi-policy.json").read_text("utf-8")
)


def _auditwheel_policies() -> dict[str, Any]:
    auditwheel = pytest.importorskip("auditwheel")
    path = Path(auditwheel.__file__).parent / "policy" / "manylinux-policy.json"
    return {p["name"]: p for p in json.loads(path.read_text())}


@pytest.mark.parametrize("name", ["manylinux_2_26", "manylinux_2_34"])
@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_symbol_maxima_match_auditwheel(name: str, arch: str) -> None:
    theirs = _auditwheel_policies()[name]["symbol_versions"][arch]
    ours = DATA["policies"][name][arch]
    assert set(ours) == set(theirs)
    for family, versions in theirs.items():
        numeric = [v for v in versions if re.fullmatch(r"[\d.]+", v)]
        named = sorted(v for v in versions if not re.fullmatch(r"[\d.]+", v))
        assert ours[family]["max"] == max(numeric, key=version_key), family
        assert ours[family]["named"] == named, family


@pytest.mark.parametrize("name", ["manylinux_2_26", "manylinux_2_34"])
def test_system_libraries_are_the_whitelist_minus_what_lambda_lacks(name: str) -> None:
    policy = _auditwheel_policies()[name]
    whitelist = set(policy["lib_whitelist"])
    absent = set(DATA["known_absent_libraries"]["libraries"])
    ours_banned = {lib: set(symbols) for lib, symbols in DATA["blacklist"][name].items()}
    assert ours_banned == {lib: set(symbols) for lib, symbols in policy["blacklist"].items()}
    glibc = next(g for g, n in DATA["policy_for_glibc"].items() if n == name)
    for runtime in (r for r in runtimes() if str(r.glibc) == glibc):
        for arch in Architecture:
            ours = policy_for(runtime, arch).system_libraries
            expected = whitelist - absent
            if arch is Architecture.ARM64:
                expected -= {"libmvec.so.1"}  # glibc 2.38 added it for aarch64
            loaders = {"ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1"}
            crypt = {"libcrypt.so.1", "libcrypt.so.2"}
            assert ours - loaders - crypt == expected, (runtime.name, arch)


def test_every_list_names_its_source() -> None:
    for section in (
        "glibc_named_versions",
        "blacklist",
        "libpython",
        "known_absent_libraries",
        "library_path",
    ):
        assert DATA[section]["_source"]
    for system in DATA["operating_systems"].values():
        assert system["_source"]
