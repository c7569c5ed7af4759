"""Real builds against the package index: nothing resolved, downloaded or compiled is faked."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

from layerforge.cli import main
from layerforge.interpreters import find_interpreter
from tests.conftest import run_on_read_only_copy

pytestmark = [pytest.mark.network, pytest.mark.slow]

SEED = {"numpy": "1.26.4", "pandas": "1.5.3", "matplotlib": "3.8.4", "seaborn": "0.12.2"}


def build_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(["build", "--backend", "cross", "--json", *argv])
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_default_build_resolves_the_seed_pins_for_python311_x86_64(
    seed_build: dict[str, Any],
) -> None:
    versions = {p["name"].lower(): p["version"] for p in seed_build["packages"]}
    for name, version in SEED.items():
        assert versions[name] == version
    assert seed_build["runtime"] == "python3.11"
    assert seed_build["architecture"] == "x86_64"
    assert seed_build["backend"] == "cross"
    numpy = next(p for p in seed_build["packages"] if p["name"] == "numpy")
    assert (
        numpy["wheel"] == "numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    )
    assert numpy["sha256"] == "666dbfb6ec68962c033a450943ded891bed2d54e6755e35e5835d63f4f6931d5"
    assert {s["name"] for s in seed_build["steps"]} == {
        "prune",
        "strip",
        "record",
        "bytecode",
        "fontcache",
    }
    assert set(seed_build["timings"]) >= {"resolve", "prune", "strip", "bytecode", "zip", "verify"}


def test_manifest_matches_the_zip_and_the_budget(seed_build: dict[str, Any]) -> None:
    layer = Path(seed_build["output"])
    assert seed_build["zipped_bytes"] == layer.stat().st_size
    assert seed_build["sha256"] == hashlib.sha256(layer.read_bytes()).hexdigest()
    with zipfile.ZipFile(layer) as archive:
        infos = archive.infolist()
    assert seed_build["unzipped_bytes"] == sum(i.file_size for i in infos)
    assert seed_build["file_count"] == len(infos)
    names = [i.filename for i in infos]
    assert all(n.startswith("python/") for n in names)
    assert "python/numpy/__init__.py" in names
    assert not [n for n in names if "/tests/" in n]
    assert any(n.startswith("python/pandas-1.5.3.dist-info/") for n in names)
    # the plain recipe's layer is 256.7 MB unzipped; ours must be at most 70% of it
    assert seed_build["unzipped_bytes"] <= 0.7 * 256_700_000
    assert seed_build["unzipped_budget"] == 262_144_000
    assert 0 < seed_build["budget_fraction"] < 1


def test_platform_drift_is_reported_per_package(seed_build: dict[str, Any]) -> None:
    drift = {d["name"]: d for d in seed_build["drift"]}
    # numpy >= 2.3 ships x86_64 wheels for glibc 2.27+ only: AL2 stops at 2.2.6
    assert drift["numpy"]["latest_compatible"] == "2.2.6"
    assert Version(drift["numpy"]["latest"]) > Version("2.2.6")
    assert drift["numpy"]["installed"] == "1.26.4"


def test_rebuild_without_cache_is_byte_identical(
    seed_build: dict[str, Any],
    private_cache: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the first build worked where the default put it (RAM where /dev/shm has room); this one
    # works on disk: where a build works never reaches the bytes
    disk = private_cache / "scratch-on-disk"
    disk.mkdir()
    monkeypatch.setenv("LAYERFORGE_SCRATCH", str(disk))
    again = private_cache / "again" / "seed.zip"
    code = main(["build", "--backend", "cross", "--json", "--no-cache", "--output", str(again)])
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert f"working in LAYERFORGE_SCRATCH={disk}" in captured.err
    assert not list(disk.iterdir())  # and nothing left there
    assert code == 0 and document["cached"] is False
    assert document["sha256"] == seed_build["sha256"]
    assert again.read_bytes() == Path(seed_build["output"]).read_bytes()


def test_unchanged_inputs_reuse_the_cached_build(
    seed_build: dict[str, Any], private_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    warm = private_cache / "warm" / "seed.zip"
    code, document = build_json(capsys, "--output", str(warm))
    assert code == 0
    assert document["cached"] is True
    assert document["sha256"] == seed_build["sha256"]
    assert document["output"] == str(warm)
    assert warm.read_bytes() == Path(seed_build["output"]).read_bytes()


def _pyc_headers(layer: Path) -> set[tuple[bytes, int]]:
    with zipfile.ZipFile(layer) as archive:
        return {
            (data[:4], struct.unpack("<I", data[4:8])[0])
            for name in archive.namelist()
            if name.endswith(".pyc")
            for data in [archive.read(name)[:16]]
        }


def test_bytecode_is_unchecked_hash_for_python311(seed_build: dict[str, Any]) -> None:
    assert sys.version_info[:2] == (3, 11), "the seed layer's bytecode is checked with 3.11"
    assert _pyc_headers(Path(seed_build["output"])) == {(importlib.util.MAGIC_NUMBER, 0b01)}


@pytest.mark.skipif(os.geteuid() != 0, reason="read-only bind mounts need root (CI runs as root)")
def test_layer_imports_from_a_read_only_copy_using_its_bytecode(
    seed_build: dict[str, Any], tmp_path: Path
) -> None:
    with zipfile.ZipFile(seed_build["output"]) as archive:
        archive.extractall(tmp_path)
    before = sorted(p.as_posix() for p in tmp_path.rglob("*"))
    # Unchecked-hash bytecode is used even if the source changes: break a source to prove it.
    (tmp_path / "python" / "seaborn" / "__init__.py").write_text("raise ImportError('source')\n")
    probe = (
        "import matplotlib; matplotlib.use('Agg'); import pandas, seaborn, numpy; "
        "print(pandas.__version__, seaborn.__version__, numpy.__version__)"
    )
    done = run_on_read_only_copy(
        tmp_path,
        [sys.executable, "-c", probe],
        env={"PYTHONPATH": str(tmp_path / "python"), "MPLCONFIGDIR": str(tmp_path / "mpl")},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1.5.3", "0.12.2", "1.26.4"]
    assert sorted(p.as_posix() for p in tmp_path.rglob("*")) == before


def test_python312_arm64_build_from_an_x86_64_host(
    private_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = private_cache / "arm" / "numpy.zip"
    code, document = build_json(
        capsys, "numpy==2.1.3", "--runtime", "python3.12", "--arch", "arm64", "-o", str(output)
    )
    assert code == 0, document
    assert document["packages"][0]["wheel"].endswith(
        "manylinux_2_17_aarch64.manylinux2014_aarch64.whl"
    )
    with zipfile.ZipFile(output) as archive:
        extension = next(
            n for n in archive.namelist() if n.endswith(".cpython-312-aarch64-linux-gnu.so")
        )
        header = archive.read(extension)[:20]
        pyc = next(archive.read(n) for n in archive.namelist() if n.endswith(".pyc"))
    assert header[:4] == b"\x7fELF"
    assert struct.unpack("<H", header[18:20])[0] == 183  # EM_AARCH64
    python312 = find_interpreter((3, 12))
    bytecode = next(step for step in document["steps"] if step["name"] == "bytecode")
    if python312 is None:
        assert not bytecode["applied"] and "without bytecode" in bytecode["detail"]
    else:
        magic = subprocess.run(
            [python312.path, "-c", "import importlib.util as u; print(u.MAGIC_NUMBER.hex())"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert pyc[:4].hex() == magic


def test_sdist_only_requirement_fails_naming_package_runtime_and_glibc(
    private_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = private_cache / "x" / "docopt.zip"
    code = main(["build", "--backend", "cross", "docopt==0.6.2", "-o", str(output)])
    err = capsys.readouterr().err
    assert code == 1
    assert "docopt==0.6.2" in err and "python3.11" in err and "x86_64" in err
    assert "glibc 2.26" in err
    assert "never compiles from source" in err
    assert "Traceback" not in err


def test_too_new_requirement_names_the_newest_compatible_version(
    private_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, document = build_json(capsys, "numpy>=2.3", "-o", str(private_cache / "y" / "np.zip"))
    assert code == 1
    assert "numpy>=2.3" in document["error"] and "glibc 2.26" in document["error"]
    assert "2.2.6" in document["hint"]


def test_failed_build_keeps_the_last_good_layer(
    private_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = private_cache / "atomic" / "layer.zip"
    code, _first = build_json(capsys, "six==1.16.0", "-o", str(output))
    assert code == 0
    good = output.read_bytes()
    manifest = output.with_name("layer.manifest.json").read_text()
    code, _failed = build_json(capsys, "docopt==0.6.2", "-o", str(output))
    assert code == 1
    code, over = build_json(
        capsys, "six==1.16.0", "--no-cache", "--max-unzipped", "1000", "-o", str(output)
    )
    assert code == 1 and "--max-unzipped" in over["error"]
    assert output.read_bytes() == good
    assert output.with_name("layer.manifest.json").read_text() == manifest
    # beside them, only the over-budget report the error names (no layer, no manifest)
    report = output.with_name("layer.zip.over-budget.json")
    assert over["details"]["report_file"] == str(report) and str(report) in over["hint"]
    assert sorted(p.name for p in output.parent.iterdir()) == [
        "layer.manifest.json",
        "layer.zip",
        report.name,
    ]


def test_unreachable_index_is_one_clear_error(
    private_cache: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    code = main(
        [
            "build",
            "--backend",
            "cross",
            "six==1.16.0",
            "--index-url",
            "http://127.0.0.1:9/simple",
            "-o",
            str(private_cache / "net" / "l.zip"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 3
    assert "cannot reach the package index" in err and "Traceback" not in err
