from __future__ import annotations

from pathlib import Path

import pytest

from layerforge.errors import UsageError
from layerforge.runtimes import Architecture
from layerforge.spec import (
    Backend,
    load_pyproject_settings,
    read_requirements,
    spec_from_settings,
)


def test_requirements_file_with_comments_continuations_and_includes(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("pandas==1.5.3  # pinned\n")
    (tmp_path / "req.txt").write_text(
        "# the analysis stack\n\nnumpy==1.26.4\n-r base.txt\nseaborn \\\n  ==0.12.2\n"
    )
    assert read_requirements(tmp_path / "req.txt") == [
        "numpy==1.26.4",
        "pandas==1.5.3",
        "seaborn==0.12.2",
    ]


def test_unparsable_requirement_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "req.txt").write_text("numpy==1.26.4\nnot a ! requirement\n")
    with pytest.raises(UsageError) as caught:
        read_requirements(tmp_path / "req.txt")
    assert f"{tmp_path / 'req.txt'}:2" in caught.value.message
    assert "not a ! requirement" in caught.value.message


def test_missing_requirements_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read requirements file"):
        read_requirements(tmp_path / "absent.txt")


def test_option_lines_are_refused_with_a_hint(tmp_path: Path) -> None:
    (tmp_path / "req.txt").write_text("--index-url https://example.invalid/simple\nnumpy\n")
    with pytest.raises(UsageError) as caught:
        read_requirements(tmp_path / "req.txt")
    assert caught.value.hint is not None and "--index-url" in caught.value.hint


def test_self_including_requirements_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "req.txt").write_text("-r req.txt\n")
    with pytest.raises(UsageError, match="includes itself"):
        read_requirements(tmp_path / "req.txt")


def test_defaults_are_the_payload_pins_for_python311_x86_64() -> None:
    spec = spec_from_settings({}, {})
    assert spec.requirements == (
        "numpy==1.26.4",
        "pandas==1.5.3",
        "matplotlib==3.8.4",
        "seaborn==0.12.2",
    )
    assert spec.runtime.name == "python3.11"
    assert spec.architecture is Architecture.X86_64
    assert spec.backend is Backend.AUTO
    assert spec.output == Path("dist/layer-python3.11-x86_64.zip")


def test_pyproject_settings_apply_and_flags_win(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        "[tool.layerforge]\n"
        'runtime = "python3.12"\narch = "arm64"\nrequirements = ["numpy==2.1.3"]\n'
        'max-unzipped = 1000\nstrip = false\noutput = "out/layer.zip"\n'
    )
    config = load_pyproject_settings(pyproject)
    spec = spec_from_settings({}, config, config_dir=tmp_path)
    assert (spec.runtime.name, spec.architecture) == ("python3.12", Architecture.ARM64)
    assert spec.requirements == ("numpy==2.1.3",)
    assert spec.max_unzipped == 1000
    assert spec.strip_binaries is False
    flagged = spec_from_settings(
        {"runtime": "python3.11", "requirements": ("pandas",), "strip": None}, config
    )
    assert flagged.runtime.name == "python3.11"
    assert flagged.requirements == ("pandas",)
    assert flagged.architecture is Architecture.ARM64


def test_requirements_file_in_pyproject_is_relative_to_it(tmp_path: Path) -> None:
    (tmp_path / "reqs.txt").write_text("numpy==1.26.4\n")
    settings = {"requirements_file": "reqs.txt"}
    assert spec_from_settings({}, settings, config_dir=tmp_path).requirements == ("numpy==1.26.4",)


def test_unknown_pyproject_key_is_refused(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.layerforge]\nruntmie = "python3.11"\n')
    with pytest.raises(UsageError, match="runtmie"):
        load_pyproject_settings(pyproject)


def test_bad_values_in_settings_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="unknown runtime"):
        spec_from_settings({}, {"runtime": "python2.7"})
    with pytest.raises(UsageError, match="unknown backend"):
        spec_from_settings({}, {"backend": "podman"})
