"""examples/sales-report, a team's own project: its hashed requirements, its own function and its
own proof spec, proven with invoke-local and against a moto server running it in Docker."""

from __future__ import annotations

import json
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from layerforge.cli import main
from tests.conftest import json_document

pytestmark = [pytest.mark.network, pytest.mark.slow]

EXAMPLE = Path(__file__).parents[3] / "examples" / "sales-report"
HANDLER = "sales_report.handler.main"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, private_cache: Path) -> Path:
    """A copy of the example, built with its own settings (layerforge build, no flags)."""
    copy = tmp_path_factory.mktemp("example") / "sales-report"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("dist", "__pycache__"))
    assert main(["build", "--config", str(copy / "pyproject.toml"), "--backend", "cross"]) == 0
    return copy


def _layer(project: Path) -> str:
    return str(project / "dist" / "layer-python3.11-x86_64.zip")


def test_the_layer_holds_exactly_the_locked_wheels(project: Path) -> None:
    manifest = json.loads((project / "dist" / "layer-python3.11-x86_64.manifest.json").read_text())
    locked = set(re.findall(r"sha256:([0-9a-f]{64})", (project / "requirements.txt").read_text()))
    assert {p["name"] for p in manifest["packages"]} >= {"pandas", "numpy"}
    assert all(p["sha256"] in locked for p in manifest["packages"])
    strip = next(s for s in manifest["steps"] if s["name"] == "strip")
    assert "stripping would break them" in strip["detail"]  # numpy 2.2's patchelf'd libraries


def test_invoke_local_proves_it_with_its_own_spec(
    project: Path, lambda_image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "invoke-local",
            "--layer",
            _layer(project),
            "--function-dir",
            str(project),
            "--handler",
            HANDLER,
            "--config",
            str(project / "pyproject.toml"),
            "--image",
            lambda_image,
            "--sandbox",
            "docker",
            "--prefix",
            "reports",
            "--json",
        ]
    )
    proof = json_document(capsys.readouterr().out)
    assert code == 0, proof
    assert proof["proof_spec"].endswith("[tool.layerforge.proof]")
    assert {a["key"].rsplit("/", 1)[1] for a in proof["artifacts"]} == {
        "summary.json",
        "top_products.csv",
    }
    assert proof["inputs"][0]["key"] == "inputs/sales.csv"


def test_a_spec_the_function_does_not_meet_names_the_unmet_assertion(
    project: Path, lambda_image: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    strict = tmp_path / "strict.toml"
    strict.write_text(
        f'inputs = [{{ file = "{project / "data" / "sales.csv"}", key = "inputs/sales.csv", '
        "allow_outside = true }]\n"
        '[response]\nassert = [{ path = "rows", at_least = 1000 }]\n'
        '[[artifacts]]\nname = "forecast.parquet"\nprefix = "{response.prefix}"\n'
        'parser = "parquet"\n'
    )
    code = main(
        [
            "invoke-local",
            "--layer",
            _layer(project),
            "--function-dir",
            str(project),
            "--handler",
            HANDLER,
            "--proof",
            str(strict),
            "--image",
            lambda_image,
            "--sandbox",
            "docker",
            "--json",
        ]
    )
    proof = json_document(capsys.readouterr().out)
    assert code == 1
    checks = {c["name"]: c for c in proof["checks"]}
    assert not checks["execution"]["passed"]
    assert "rows at_least 1000: found 10" in checks["execution"]["evidence"]
    assert (
        not checks["artifacts"]["passed"] and "forecast.parquet" in checks["artifacts"]["evidence"]
    )


def test_publish_and_invoke_on_moto_with_a_role_that_follows_the_spec(
    project: Path, aws_env: str, lambda_image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = f"sales-{uuid.uuid4().hex[:10]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    common = [
        "--layer",
        _layer(project),
        "--bucket",
        bucket,
        "--function-dir",
        str(project),
        "--handler",
        HANDLER,
        "--config",
        str(project / "pyproject.toml"),
        "--prefix",
        "reports",
        "--create-role",
        "--function-name",
        "sales-report",
        "--layer-name",
        "sales-report-deps",
        "--region",
        "us-east-1",
        "--endpoint-url",
        aws_env,
        "--json",
    ]
    assert main(["publish-and-invoke", *common, "--dry-run"]) == 0
    plan: dict[str, Any] = json_document(capsys.readouterr().out)
    statements = {s["Sid"]: s for s in plan["policy"]["Statement"]}
    assert statements["PutArtifacts"]["Resource"] == f"arn:aws:s3:::{bucket}/reports/*"
    assert statements["GetInputs"]["Resource"] == f"arn:aws:s3:::{bucket}/inputs/*"
    code = main(["publish-and-invoke", *common])
    proof = json_document(capsys.readouterr().out)
    assert code == 0, proof
    assert [c["name"] for c in proof["checks"] if c["passed"]] == ["execution", "artifacts", "logs"]
