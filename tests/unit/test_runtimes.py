from __future__ import annotations

import json
from importlib import resources

import pytest
from packaging.tags import Tag

from layerforge.errors import UsageError
from layerforge.runtimes import (
    LIMITS,
    Architecture,
    GlibcVersion,
    compatible_platform_tags,
    get_runtime,
    runtimes,
    supported_tags,
)


def test_table_covers_python39_to_314_with_their_glibc() -> None:
    table = {r.name: r for r in runtimes()}
    assert list(table) == [f"python3.{m}" for m in range(9, 15)]
    for name in ("python3.9", "python3.10", "python3.11"):
        assert table[name].glibc == GlibcVersion(2, 26)
        assert table[name].os == "Amazon Linux 2"
    for name in ("python3.12", "python3.13", "python3.14"):
        assert table[name].glibc == GlibcVersion(2, 34)
        assert table[name].os == "Amazon Linux 2023"
    assert all(set(r.architectures) == set(Architecture) for r in runtimes())
    assert table["python3.11"].image == "public.ecr.aws/lambda/python:3.11"
    assert LIMITS.unzipped_bytes == 262_144_000


def test_glibc_versions_compare_numerically() -> None:
    assert GlibcVersion.parse("2.9") < GlibcVersion.parse("2.26") < GlibcVersion.parse("2.34")
    assert str(GlibcVersion.parse("2.28")) == "2.28"


def test_x86_64_tags_for_amazon_linux_2_list_every_glibc_and_alias_in_order() -> None:
    tags = compatible_platform_tags(get_runtime("python3.11"), Architecture.X86_64)
    assert tags[0] == "manylinux_2_26_x86_64"
    assert tags[-1] == "manylinux1_x86_64"
    assert "manylinux_2_27_x86_64" not in tags
    # every manylinux_2_N from 2.26 down to 2.5, none missing
    numbered = [t for t in tags if t.startswith("manylinux_2_")]
    assert numbered == [f"manylinux_2_{n}_x86_64" for n in range(26, 4, -1)]
    # each legacy alias right after the tag it stands for
    assert tags[tags.index("manylinux_2_17_x86_64") + 1] == "manylinux2014_x86_64"
    assert tags[tags.index("manylinux_2_12_x86_64") + 1] == "manylinux2010_x86_64"
    assert tags[tags.index("manylinux_2_5_x86_64") + 1] == "manylinux1_x86_64"


def test_arm64_tags_start_at_runtime_glibc_and_have_only_manylinux2014() -> None:
    tags = compatible_platform_tags(get_runtime("python3.12"), Architecture.ARM64)
    assert tags[0] == "manylinux_2_34_aarch64"
    assert "manylinux_2_28_aarch64" in tags
    assert tags[-2:] == ["manylinux_2_17_aarch64", "manylinux2014_aarch64"]
    assert not any("manylinux1" in t or "manylinux2010" in t for t in tags)


def test_supported_tags_accept_the_right_python_and_platform_only() -> None:
    accepted = supported_tags(get_runtime("python3.11"), Architecture.X86_64)
    assert Tag("cp311", "cp311", "manylinux_2_17_x86_64") in accepted
    assert Tag("cp311", "abi3", "manylinux2014_x86_64") in accepted
    assert Tag("py3", "none", "any") in accepted
    assert Tag("cp312", "cp312", "manylinux_2_17_x86_64") not in accepted
    assert Tag("cp311", "cp311", "manylinux_2_28_x86_64") not in accepted
    assert Tag("cp311", "cp311", "manylinux_2_17_aarch64") not in accepted


@pytest.mark.parametrize("name", ["python2.7", "python3.8", "node20"])
def test_unknown_runtime_is_a_usage_error_listing_the_known_ones(name: str) -> None:
    with pytest.raises(UsageError) as caught:
        get_runtime(name)
    assert name in caught.value.message
    assert caught.value.hint is not None and "python3.11" in caught.value.hint
    assert caught.value.exit_code == 2


def test_architecture_aliases() -> None:
    assert Architecture.parse("aarch64") is Architecture.ARM64
    assert Architecture.parse("AMD64") is Architecture.X86_64
    assert Architecture.ARM64.elf_machine == 183
    assert Architecture.X86_64.elf_machine == 62
    with pytest.raises(UsageError):
        Architecture.parse("riscv64")


def test_every_section_of_the_runtime_table_names_its_source() -> None:
    table = json.loads(resources.files("layerforge.data").joinpath("runtimes.json").read_text())
    sections = {name for name in table if not name.startswith("_")}
    assert sections == {"runtimes", "architectures", "limits"}
    assert all(table["_sources"].get(name) for name in sections)
