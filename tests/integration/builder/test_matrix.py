"""Several runtimes and architectures in one build: each layer as built alone, isolated failures."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from layerforge.cli import main

pytestmark = [pytest.mark.network, pytest.mark.slow]


def test_four_layers_from_one_command_are_each_the_layer_built_alone(
    private_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = private_cache / "matrix"
    code = main(
        [
            "build",
            "six==1.16.0",
            "markupsafe==2.1.5",
            "--runtime",
            "3.11",
            "--runtime",
            "3.12",
            "--arch",
            "x86_64",
            "--arch",
            "arm64",
            "--backend",
            "cross",
            "-o",
            str(out),
            "--json",
        ]
    )
    document = json.loads(capsys.readouterr().out)
    assert code == 0 and document["passed"], document
    layers = {(d["runtime"], d["architecture"]): d for d in document["layers"]}
    assert set(layers) == {
        (r, a) for r in ("python3.11", "python3.12") for a in ("x86_64", "arm64")
    }
    for (runtime, arch), layer in layers.items():
        path = Path(layer["output"])
        assert path.name == f"layer-{runtime}-{arch}.zip"
        manifest = json.loads(path.with_name(f"{path.stem}.manifest.json").read_text())
        assert (manifest["runtime"], manifest["architecture"]) == (runtime, arch)
        assert manifest["verification"]["passed"]
        with zipfile.ZipFile(path) as archive:
            machine = "aarch64" if arch == "arm64" else "x86_64"
            assert any(machine in n for n in archive.namelist() if n.endswith(".so"))
    # each combination is the layer a build of it alone gives, byte for byte
    alone = private_cache / "matrix-alone" / "layer.zip"
    argv = ["build", "six==1.16.0", "markupsafe==2.1.5", "--runtime", "3.12", "--arch", "arm64"]
    assert main([*argv, "--backend", "cross", "--no-cache", "-o", str(alone)]) == 0
    capsys.readouterr()
    assert alone.read_bytes() == Path(layers[("python3.12", "arm64")]["output"]).read_bytes()


def test_a_combination_that_cannot_be_built_fails_alone(
    private_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = private_cache / "matrix-partial"
    code = main(
        [
            "build",
            "numpy==2.1.3",
            "--runtime",
            "3.9",
            "--runtime",
            "3.12",
            "--arch",
            "arm64",
            "--backend",
            "cross",
            "-o",
            str(out),
            "--json",
        ]
    )
    document = json.loads(capsys.readouterr().out)
    assert code == 1 and document["passed"] is False
    status = {d["runtime"]: d for d in document["layers"]}
    assert status["python3.12"]["status"] == "built"
    assert status["python3.9"]["status"] == "failed"
    assert "numpy==2.1.3" in status["python3.9"]["error"]["error"]
    assert (out / "layer-python3.12-arm64.zip").is_file()
    assert not (out / "layer-python3.9-arm64.zip").exists()


def test_matrix_from_settings(private_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = private_cache / "matrix-project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[tool.layerforge]\nrequirements = ["six==1.16.0"]\nbackend = "cross"\n'
        'matrix = { runtimes = ["3.11", "3.12"], archs = ["x86_64"] }\n'
    )
    code = main(
        [
            "build",
            "--config",
            str(project / "pyproject.toml"),
            "-o",
            str(project / "dist"),
            "--json",
        ]
    )
    document = json.loads(capsys.readouterr().out)
    assert code == 0, document
    assert sorted(d["runtime"] for d in document["layers"]) == ["python3.11", "python3.12"]
