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


CXX = ("GLIBCXX", "CXXABI", "GCC")


@pytest.mark.parametrize(
    ("os_name", "glibcxx", "cxxabi", "gcc"),
    [
        ("Amazon Linux 2", "3.4.24", "1.3.11", {"x86_64": "7.0.0", "aarch64": "7.0.0"}),
        ("Amazon Linux 2023", "3.4.29", "1.3.13", {"x86_64": "7.0.0", "aarch64": "11.0"}),
    ],
)
def test_the_cxx_runtime_is_the_one_each_os_ships_on_both_architectures(
    os_name: str, glibcxx: str, cxxabi: str, gcc: dict[str, str]
) -> None:
    """GCC 7.3.1's on Amazon Linux 2, GCC 11's on 2023: the same release on both
    architectures (libgcc_s names its versions per architecture), each with its source."""
    system = DATA["operating_systems"][os_name]
    for arch in ("x86_64", "aarch64"):
        families = system[arch]["families"]
        assert families["_source"]
        assert families["GLIBCXX"]["max"] == glibcxx
        assert families["CXXABI"]["max"] == cxxabi
        assert families["GCC"]["max"] == gcc[arch]
    x86, arm = (system[a]["families"] for a in ("x86_64", "aarch64"))
    assert set(x86["CXXABI"]["named"]) - set(arm["CXXABI"]["named"]) == {"FLOAT128"}


def test_the_policy_judges_by_the_os_not_by_the_manylinux_caps() -> None:
    for arch in Architecture:
        al2 = policy_for(next(r for r in runtimes() if r.name == "python3.11"), arch)
        assert al2.judge("libstdc++.so.6", "GLIBCXX_3.4.24") is None  # GCC 7.2+: beyond 3.4.22
        assert al2.judge("libstdc++.so.6", "CXXABI_1.3.11") is None
        assert al2.judge("libgcc_s.so.1", "GCC_7.0.0") is None
        assert al2.judge("libstdc++.so.6", "GLIBCXX_3.4.25") is not None
        assert al2.judge("libstdc++.so.6", "CXXABI_1.3.12") is not None


def test_loader_facts_are_data_with_sources() -> None:
    assert DATA["elf_identity"]["byte_order"] == {"x86_64": "little", "aarch64": "little"}
    assert DATA["elf_identity"]["abi_version_below"] == {"x86_64": 3, "aarch64": 2}
    assert DATA["loader_features"]["dlopen_refuses_pie"] == "2.30"
    assert DATA["glibc_named_versions"]["GLIBC_ABI_DT_RELR"] == "2.36"
    for section in ("elf_identity", "loader_features"):
        assert DATA[section]["_source"]
