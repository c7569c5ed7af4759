"""The CLI's contract: exit codes and one clear line per bad input, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli as _run


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--version")
    assert code == 0 and "layerforge" in out
    code, out, _ = _run(capsys, "build", "--help")
    assert code == 0 and "--runtime" in out and "--max-unzipped" in out


def test_unknown_runtime_flag_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "build", "--runtime", "python2.7")
    assert code == 2
    assert "python2.7" in err and "Traceback" not in err


def test_unknown_arch_flag_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "build", "--arch", "sparc")
    assert code == 2 and "sparc" in err


def test_unparsable_requirement_is_one_error_line(
    capsys: pytest.CaptureFixture[str], chdir_tmp: Path
) -> None:
    code, out, err = _run(capsys, "build", "numpy>=>1")
    assert code == 2
    assert "ERROR cannot parse requirement 'numpy>=>1'" in err
    assert "Traceback" not in err + out


def test_missing_requirements_file(capsys: pytest.CaptureFixture[str], chdir_tmp: Path) -> None:
    code, _, err = _run(capsys, "build", "-r", "nope.txt")
    assert code == 2 and "cannot read requirements file" in err


def test_bad_pyproject_setting_is_usage_error_in_json_too(
    capsys: pytest.CaptureFixture[str], chdir_tmp: Path
) -> None:
    (chdir_tmp / "pyproject.toml").write_text('[tool.layerforge]\nruntime = "python9"\n')
    code, document, err = _run(capsys, "build", "--json")
    assert code == 2
    assert document["exit_code"] == 2 and "unknown runtime" in document["error"]
    assert "unknown runtime 'python9'" in err


def test_bad_size_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "build", "--max-unzipped", "lots")
    assert code == 2 and "250MiB" in err


def test_out_of_disk_during_install_is_named() -> None:
    from layerforge.builder.install.pip import explain_pip_failure
    from layerforge.builder.install.target import PipTarget
    from layerforge.runtimes import Architecture, get_runtime

    output = "Installing collected packages: numpy\nERROR: [Errno 28] No space left on device\n"
    target = PipTarget(get_runtime("python3.11"), Architecture.X86_64)
    error = explain_pip_failure(output, target, index=None)
    assert (
        error.message.startswith("out of disk space in /") and "while installing" in error.message
    )
    assert error.hint is not None and "free space" in error.hint
    assert "No space left on device" in error.details
