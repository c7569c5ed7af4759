"""Settings and specs: [tool.layerforge] goes through the flags' own converters."""

from __future__ import annotations

from pathlib import Path

import pytest

from layerforge.builder.request import BackendChoice, specs_from_settings
from layerforge.errors import UsageError
from layerforge.runtimes import Architecture, get_runtime
from layerforge.settings import read_settings, to_bool, to_region, to_size, to_url


def _settings(tmp_path: Path, body: str) -> dict[str, object]:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(body)
    return read_settings(pyproject, explicit=True)


def test_defaults_are_the_payload_pins_for_python311_x86_64() -> None:
    (spec,) = specs_from_settings({}, {})
    assert spec.requirements == (
        "numpy==1.26.4",
        "pandas==1.5.3",
        "matplotlib==3.8.4",
        "seaborn==0.12.2",
    )
    assert spec.runtime.name == "python3.11"
    assert spec.architecture is Architecture.X86_64
    assert spec.backend is BackendChoice.AUTO
    assert spec.output == Path("dist/layer-python3.11-x86_64.zip")


def test_settings_use_the_flags_spellings(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        "[tool.layerforge]\n"
        'runtime = "3.12"\narch = "aarch64"\nrequirements = ["six==1.16.0"]\n'
        'max-unzipped = "200MiB"\nstrip = "no"\nbytecode = "false"\ncache = "off"\n'
        'output = "out/layer.zip"\n',
    )
    (spec,) = specs_from_settings({}, settings)
    assert (spec.runtime.name, spec.architecture) == ("python3.12", Architecture.ARM64)
    assert spec.requirements == ("six==1.16.0",)
    assert spec.max_unzipped == 200 * 2**20
    assert (spec.strip_binaries, spec.compile_bytecode, spec.use_cache) == (False, False, False)
    assert spec.output == tmp_path / "out" / "layer.zip"  # relative to the file, like every path


def test_flags_win_over_settings(tmp_path: Path) -> None:
    settings = _settings(tmp_path, '[tool.layerforge]\nruntime = "python3.12"\narch = "arm64"\n')
    flags = {"runtime": (get_runtime("python3.11"),), "requirements": ("six",), "strip": None}
    (spec,) = specs_from_settings(flags, settings)
    assert spec.runtime.name == "python3.11" and spec.architecture is Architecture.ARM64
    assert spec.requirements == ("six",)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ('strip = "maybe"', "is not a boolean"),
        ("max-unzipped = true", "expected a size"),
        ('max-unzipped = "lots"', "is not a size"),
        ("requirements = 5", "expected a requirement string or a list of them"),
        ("output = 5", "[tool.layerforge].output: expected a non-empty string"),
        ("extra-index-urls = 7", "extra-index-urls: expected a string or a list of strings"),
        ('index-url = "not a url"', "is not a URL"),
        ('runtime = "python2.7"', "unknown runtime"),
        ('arch = "sparc"', "unknown architecture"),
        ('backend = "podman"', "is not one of"),
        ("runtmie = 'python3.11'", "did you mean 'runtime'"),
    ],
)
def test_bad_settings_name_the_file_and_key(tmp_path: Path, body: str, fragment: str) -> None:
    with pytest.raises(UsageError) as caught:
        _settings(tmp_path, f"[tool.layerforge]\n{body}\n")
    text = f"{caught.value.message} {caught.value.hint}"
    assert fragment in text and "pyproject.toml" in caught.value.message


def test_a_top_level_tool_that_is_not_a_table_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"\[tool\]: expected a table, got 5"):
        _settings(tmp_path, "tool = 5\n")


def test_an_explicit_config_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    assert read_settings(tmp_path / "pyproject.toml", explicit=False) == {}
    with pytest.raises(UsageError, match="no such file"):
        read_settings(tmp_path / "pyproject.toml", explicit=True)


def test_converters_accept_what_users_type() -> None:
    assert to_size("250MiB") == 250 * 2**20 and to_size(1000) == 1000
    assert to_bool("Yes") is True and to_bool(0) is False
    assert to_region("eu-west-2") == "eu-west-2"
    assert to_url("http://127.0.0.1:9/simple") == "http://127.0.0.1:9/simple"
    for bad in ("bad region!", "US-EAST-1"):
        with pytest.raises(ValueError, match="not an AWS region"):
            to_region(bad)


def test_matrix_outputs_need_a_folder_or_template(tmp_path: Path) -> None:
    flags = {
        "runtime": (get_runtime("python3.11"), get_runtime("python3.12")),
        "requirements": ("six",),
        "output": tmp_path / "one.zip",
    }
    with pytest.raises(UsageError, match="names one file"):
        specs_from_settings(flags, {})
    flags["output"] = Path(str(tmp_path) + "/{runtime}-{arch}.zip")
    outputs = [s.output.name for s in specs_from_settings(flags, {})]
    assert outputs == ["python3.11-x86_64.zip", "python3.12-x86_64.zip"]
