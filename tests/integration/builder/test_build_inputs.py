"""Real builds from the files lock tools write: hashes enforced, markers for the target, local
wheels, pyproject dependencies, PEP 751 locks converted with the same pins and hashes."""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest

from layerforge.cli import main
from tests.conftest import make_private_wheel
from tests.unit.test_inputs import serving

pytestmark = [pytest.mark.network, pytest.mark.slow]

DATA = Path(__file__).parents[2] / "data" / "inputs"


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
    # pip alone installs the lock's URLs itself (and writes direct_url.json): the same bytes
    code, by_pip = _build(
        capsys,
        "-r",
        str(DATA / "pylock.toml"),
        "--installer",
        "pip",
        "-o",
        str(private_cache / "c" / "layer.zip"),
    )
    assert code == 0, by_pip
    assert by_pip["sha256"] == exported["sha256"]


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


def test_local_wheels_as_pip_freeze_and_lock_exporters_write_them(
    private_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = private_cache / "file-urls"
    wheel = make_private_wheel(project / "wheels")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    for number, line in enumerate(
        [
            f"private-pkg @ {wheel.as_uri()}",
            f"private-pkg @ file:wheels/{wheel.name} --hash=sha256:{digest}",
        ]
    ):
        (project / "requirements.txt").write_text(line + "\nsix==1.16.0\n" * (number == 0))
        code, document = _build(
            capsys,
            "-r",
            str(project / "requirements.txt"),
            "-o",
            str(project / f"dist-{number}" / "l.zip"),
        )
        assert code == 0, document
        (private,) = [p for p in document["packages"] if p["name"].lower() == "private-pkg"]
        assert (private["wheel"], private["sha256"]) == (wheel.name, digest)


def _pylock(path: str, digest: str) -> str:
    return (
        'lock-version = "1.0"\ncreated-by = "test"\n[[packages]]\nname = "private-pkg"\n'
        f'version = "1.0"\nwheels = [{{ {path}, hashes = {{ sha256 = "{digest}" }} }}]\n'
    )


def test_pylock_wheels_by_path_and_url_are_installed_as_named_and_verified(
    private_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = private_cache / "pylock-files"
    wheel = make_private_wheel(project / "wheels")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    wrong = hashlib.sha256(b"another file").hexdigest()
    with serving({f"/{wheel.name}": wheel.read_bytes()}) as url:
        locations = {
            "path": f'path = "wheels/{wheel.name}"',
            "url": f'url = "{url}/{wheel.name}"',  # on no index: only the lock names it
        }
        for kind, location in locations.items():
            lock = project / f"pylock.{kind}.toml"
            lock.write_text(_pylock(location, digest))
            code, document = _build(capsys, "-r", str(lock), "-o", str(project / kind / "l.zip"))
            assert code == 0, document
            assert [(p["wheel"], p["sha256"]) for p in document["packages"]] == [
                (wheel.name, digest)
            ]
            lock.write_text(_pylock(location, wrong))
            code, refused = _build(capsys, "-r", str(lock), "-o", str(project / "x" / "l.zip"))
            assert code == 1, refused
            assert "hash mismatch: private-pkg" in refused["error"], refused
            assert wheel.name in refused["error"] and digest in refused["error"]
    assert not (project / "x" / "l.zip").exists()


def test_a_requirements_file_including_one_by_url(
    private_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = private_cache / "remote-include"
    project.mkdir()
    with serving({"/team/base.txt": b"six==1.16.0\n"}) as url:
        (project / "requirements.txt").write_text(f"-r {url}/team/base.txt\nattrs==23.2.0\n")
        code, document = _build(
            capsys, "-r", str(project / "requirements.txt"), "-o", str(project / "l.zip")
        )
    assert code == 0, document
    assert {p["name"] for p in document["packages"]} == {"six", "attrs"}
