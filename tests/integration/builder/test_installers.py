"""uv where it is exact, pip elsewhere: for an Amazon Linux 2023 runtime both installers resolve
the same distributions, versions and wheel files and give the byte-identical layer; for an
Amazon Linux 2 runtime pip resolves and downloads and uv only installs pip's files (the same
layer, byte for byte, as pip alone), and an explicit uv is refused (uv has no glibc 2.26)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli

pytestmark = [pytest.mark.network, pytest.mark.slow]

DATA = Path(__file__).parents[2] / "data" / "inputs"


def _build(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    return run_cli(capsys, "build", "--json", "--no-cache", *argv)


def _build_each(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, installers: tuple[str, ...], *argv: str
) -> dict[str, dict[str, Any]]:
    """The same cross build with each ``--installer``, into its own folder; each must succeed."""
    built = {}
    for installer in installers:
        output = str(tmp_path / installer / "layer.zip")
        code, document, err = _build(
            capsys, *argv, "--backend", "cross", "--installer", installer, "-o", output
        )
        assert code == 0, (document, err)
        built[installer] = document
    return built


def _same_zip(tmp_path: Path, first: str, second: str) -> bool:
    return (tmp_path / first / "layer.zip").read_bytes() == (
        tmp_path / second / "layer.zip"
    ).read_bytes()


def _resolved(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(p["name"], p["version"], p["wheel"]) for p in document["packages"]]


@pytest.mark.parametrize(
    "inputs",
    [["numpy==2.2.6", "six"], ["-r", str(DATA / "uv-export.txt")]],
    ids=["numpy-six", "hashed-uv-export"],
)
def test_uv_and_pip_resolve_the_same_wheels_and_build_the_same_bytes_for_al2023(
    inputs: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built = _build_each(capsys, tmp_path, ("pip", "uv"), *inputs, "--runtime", "python3.12")
    assert all(built[installer]["installer"] == installer for installer in built)
    assert _resolved(built["uv"]) == _resolved(built["pip"])
    assert built["uv"]["sha256"] == built["pip"]["sha256"]  # byte-identical zips
    assert _same_zip(tmp_path, "uv", "pip")


def test_pip_alone_and_pip_with_uv_installing_give_the_same_layer_for_al2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # fonttools brings console scripts and data files (share/man) that pip moves to the root
    pins = ("fonttools==4.68.0", "six==1.17.0")
    built = _build_each(capsys, tmp_path, ("pip", "auto"), *pins, "--runtime", "python3.11")
    assert built["pip"]["installer"] == "pip" and built["auto"]["installer"] == "pip+uv"
    assert built["auto"]["packages"] == built["pip"]["packages"]  # names, wheels, sha256s
    assert _same_zip(tmp_path, "auto", "pip")


def test_auto_picks_uv_for_al2023_and_pip_for_al2_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, al2023, err = _build(
        capsys, "six", "--runtime", "python3.12", "--backend", "cross", "-o", str(tmp_path / "a")
    )
    assert code == 0 and al2023["installer"] == "uv"
    assert "installer uv: uv targets x86_64-manylinux_2_34" in err
    code, al2, err = _build(
        capsys, "six", "--runtime", "python3.11", "--backend", "cross", "-o", str(tmp_path / "b")
    )
    assert code == 0 and al2["installer"] == "pip+uv"
    assert "uv has no target for glibc 2.26" in err
    assert "uv installs exactly the wheels pip chose" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--runtime", "python3.11", "--installer", "uv"], "uv has no target for glibc 2.26"),
        (
            ["--runtime", "python3.12", "--installer", "uv", "--backend", "docker"],
            "runs on the host",
        ),
    ],
)
def test_uv_where_it_is_not_exact_is_refused(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, document, _ = _build(capsys, "six", *argv, "-o", str(tmp_path / "x.zip"))
    assert code == 2
    assert message in document["error"]
    assert not (tmp_path / "x.zip").exists()
