"""Real builds from the files lock tools write: hashes enforced, markers for the target, local
wheels, pyproject dependencies, PEP 751 locks converted with the same pins and hashes."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest

from layerforge.cli import main
from tests.conftest import make_private_wheel

pytestmark = [pytest.mark.network, pytest.mark.slow]

DATA = Path(__file__).parents[1] / "data" / "inputs"


def _build(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(["build", "--backend", "cross", "--json", *argv])
    return code, json.loads(capsys.readouterr().out)


def _hashes(path: Path) -> set[str]:
    return set(re.findall(r"sha256[:=]\s*\"?([0-9a-f]{64})", path.read_text()))


def test_uv_export_with_hashes_records_the_locked_wheels(
    private_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, document = _build(
        capsys, "-r", str(DATA / "uv-export.txt"), "-o", str(private_cache / "uv" / "layer.zip")
    )
    assert code == 0, document
    assert {p["name"] for p in document["packages"]} == {"attrs", "six"}
    assert {p["sha256"] for p in document["packages"]} <= _hashes(DATA / "uv-export.txt")


def test_a_pylock_builds_the_same_layer_as_its_requirements_export(
    private_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, exported = _build(
        capsys, "-r", str(DATA / "uv-export.txt"), "-o", str(private_cache / "a" / "layer.zip")
    )
    code, locked = _build(
        capsys, "-r", str(DATA / "pylock.toml"), "-o", str(private_cache / "b" / "layer.zip")
    )
    assert code == 0, locked
    assert locked["sha256"] == exported["sha256"]
    assert any("PEP 751" in note for note in locked["notes"])


def test_poetry_export_markers_follow_the_architecture(
    private_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = str(DATA / "poetry-export.txt")
    code, x86 = _build(capsys, "-r", export, "-o", str(private_cache / "p-x86" / "l.zip"))
    assert code == 0, x86
    assert {p["name"].lower() for p in x86["packages"]} == {"attrs", "markupsafe"}
    code, arm = _build(
        capsys, "-r", export, "--arch", "arm64", "-o", str(private_cache / "p-arm" / "l.zip")
    )
    assert code == 0, arm
    assert {p["name"].lower() for p in arm["packages"]} == {"attrs", "six"}


def test_a_local_private_wheel_by_path_and_through_find_links(
    private_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wheels = private_cache / "private-wheels"
    wheel = make_private_wheel(wheels)
    code, by_path = _build(
        capsys, str(wheel), "six==1.16.0", "-o", str(private_cache / "pw1" / "l.zip")
    )
    assert code == 0, by_path
    code, by_links = _build(
        capsys,
        "private-pkg==1.0",
        "--find-links",
        str(wheels),
        "-o",
        str(private_cache / "pw2" / "l.zip"),
    )
    assert code == 0, by_links
    for document in (by_path, by_links):
        assert "private-pkg" in {p["name"].lower() for p in document["packages"]}
        assert document["verification"]["passed"]
    with zipfile.ZipFile(by_links["output"]) as archive:
        assert "python/private_pkg/__init__.py" in archive.namelist()


def test_pyproject_dependencies_as_input(
    private_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = private_cache / "deps-project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "app"\nversion = "1"\ndependencies = ["six==1.16.0"]\n'
        '[project.optional-dependencies]\nextra = ["attrs==23.2.0"]\n'
    )
    code, document = _build(
        capsys,
        "-r",
        str(project / "pyproject.toml"),
        "--extra",
        "extra",
        "-o",
        str(project / "dist" / "l.zip"),
    )
    assert code == 0, document
    assert {p["name"] for p in document["packages"]} == {"six", "attrs"}
