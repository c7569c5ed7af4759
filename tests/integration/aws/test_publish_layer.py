"""layerforge publish (layer only, one region or many) against a moto server over HTTP."""

from __future__ import annotations

import json
import os
import uuid
import zipfile
from importlib import resources
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest

from layerforge.aws.clients import AwsClients, AwsTarget
from layerforge.cli import main
from tests.conftest import json_document

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
SCHEMA = json.loads(
    resources.files("layerforge.data").joinpath("publish-report.schema.json").read_text()
)


@pytest.fixture
def layer(tmp_path: Path) -> Path:
    path = tmp_path / "layer.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("python/shared_helpers.py", f"TOKEN = {uuid.uuid4().hex!r}\n")
    return path


def _publish(capsys: pytest.CaptureFixture[str], endpoint: str, *argv: str) -> tuple[int, Any]:
    """publish --json: the report when every region has the layer; otherwise the documented
    error document, whose details are that report (returned here, the error beside it)."""
    code = main(["publish", *argv, "--endpoint-url", endpoint, "--json"])
    document = json_document(capsys.readouterr().out)
    if isinstance(document, dict) and "error" in document:
        assert set(document) == {"error", "hint", "details", "exit_code"}, document
        assert document["exit_code"] == code and document["hint"]
        document = {**document["details"], "failure": document}
    if isinstance(document, dict) and "regions" in document:
        jsonschema.validate({k: v for k, v in document.items() if k != "failure"}, SCHEMA)
    return code, document


def _versions(endpoint: str, region: str, name: str) -> list[dict[str, Any]]:
    client = boto3.client("lambda", region_name=region, endpoint_url=endpoint)
    return list(client.list_layer_versions(LayerName=name)["LayerVersions"])


def test_publish_prints_the_arn_and_a_rerun_reuses_it(
    aws_env: str, layer: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"shared-{uuid.uuid4().hex[:8]}"
    code, first = _publish(
        capsys,
        aws_env,
        str(layer),
        "--layer-name",
        name,
        "--region",
        REGIONS[0],
        "--license-info",
        "MIT",
    )
    assert code == 0, first
    published = first["regions"][REGIONS[0]]
    assert published["arn"].endswith(f":layer:{name}:1") and published["reused"] is False
    code, again = _publish(
        capsys, aws_env, str(layer), "--layer-name", name, "--region", REGIONS[0]
    )
    assert code == 0 and again["regions"][REGIONS[0]]["reused"] is True
    assert again["regions"][REGIONS[0]]["arn"] == published["arn"]
    (version,) = _versions(aws_env, REGIONS[0], name)
    assert version["CompatibleRuntimes"] == ["python3.11"] and version["LicenseInfo"] == "MIT"


def test_three_regions_and_a_rerun_after_one_failed(
    aws_env: str, layer: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """MOCKED FAULT: moto cannot make one region fail; its PublishLayerVersion answers 503."""
    from botocore.awsrequest import AWSResponse

    from layerforge.aws import clients as clients_module

    real_connect = clients_module.connect_aws
    broken = REGIONS[1]

    def unavailable(request: Any, **_: Any) -> Any:
        body = b'{"__type": "ServiceException", "message": "Service unavailable"}'
        return AWSResponse(request.url, 503, {"x-amzn-errortype": "ServiceException"}, _Raw(body))

    def connect_with_fault(target: AwsTarget) -> AwsClients:
        connected = real_connect(target)
        if target.region == broken:
            connected.lambda_.meta.events.register(
                "before-send.lambda.PublishLayerVersion", unavailable
            )
        return connected

    name = f"multi-{uuid.uuid4().hex[:8]}"
    argv = [str(layer), "--layer-name", name, *(a for r in REGIONS for a in ("--region", r))]
    monkeypatch.setattr(clients_module, "connect_aws", connect_with_fault)
    code, partial = _publish(capsys, aws_env, *argv)
    assert code == 3 and partial["passed"] is False
    assert partial["failure"]["error"].startswith(f"1 region failed: {broken}: ")
    assert "only where the layer is still missing" in partial["failure"]["hint"]
    assert set(partial["regions"]) == set(REGIONS)
    assert (
        "error" in partial["regions"][broken]
        and "ServiceException" in partial["regions"][broken]["error"]
    )
    for region in (REGIONS[0], REGIONS[2]):
        assert partial["regions"][region]["reused"] is False
    monkeypatch.setattr(clients_module, "connect_aws", real_connect)
    code, healed = _publish(capsys, aws_env, *argv)
    assert code == 0 and healed["passed"] is True
    assert {r: healed["regions"][r]["reused"] for r in REGIONS} == {
        REGIONS[0]: True,
        REGIONS[1]: False,
        REGIONS[2]: True,
    }
    for region in REGIONS:
        assert len(_versions(aws_env, region, name)) == 1  # one digest, one version per region


def test_a_big_layer_is_staged_in_each_regions_own_bucket(
    aws_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big = tmp_path / "big.zip"
    with zipfile.ZipFile(big, "w") as archive:
        archive.writestr("python/blob.bin", os.urandom(51 * 2**20))
    suffix = uuid.uuid4().hex[:6]
    for region in REGIONS[:2]:
        s3 = boto3.client("s3", region_name=region, endpoint_url=aws_env)
        config = (
            {}
            if region == "us-east-1"
            else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        )
        s3.create_bucket(Bucket=f"stage-{suffix}-{region}", **config)
    name = f"big-{suffix}"
    code, result = _publish(
        capsys,
        aws_env,
        str(big),
        "--layer-name",
        name,
        "--region",
        REGIONS[0],
        "--region",
        REGIONS[1],
        "--region",
        REGIONS[2],
        "--staging-bucket",
        f"stage-{suffix}-{{region}}",
    )
    assert code != 0
    assert result["regions"][REGIONS[0]]["via_s3"] is True
    assert result["regions"][REGIONS[1]]["via_s3"] is True
    assert "does not exist" in result["regions"][REGIONS[2]]["error"]
    for region in REGIONS[:2]:
        s3 = boto3.client("s3", region_name=region, endpoint_url=aws_env)
        listed = s3.list_objects_v2(Bucket=f"stage-{suffix}-{region}")
        assert listed.get("KeyCount", 0) == 0  # staging removed


def test_sharing_with_an_account_or_everyone(
    aws_env: str, layer: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"public-{uuid.uuid4().hex[:8]}"
    code, result = _publish(
        capsys,
        aws_env,
        str(layer),
        "--layer-name",
        name,
        "--region",
        REGIONS[0],
        "--public",
        "--principal",
        "210987654321",
    )
    assert code == 0, result
    assert result["regions"][REGIONS[0]]["shared_with"] == ["*", "210987654321"]
    client = boto3.client("lambda", region_name=REGIONS[0], endpoint_url=aws_env)
    policy = json.loads(client.get_layer_version_policy(LayerName=name, VersionNumber=1)["Policy"])
    assert {s["Principal"] for s in policy["Statement"]} >= {"*"}


def test_bad_input_is_refused_before_anything_is_published(
    aws_env: str, layer: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["publish", str(layer), "--layer-name", "bad name!", "--endpoint-url", aws_env]) == 2
    )
    assert (
        main(
            [
                "publish",
                str(layer),
                "--layer-name",
                "x",
                "--principal",
                "me",
                "--endpoint-url",
                aws_env,
            ]
        )
        == 2
    )
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("python/_x.so", b"not an ELF")
    assert main(["publish", str(bad), "--layer-name", "never", "--endpoint-url", aws_env]) == 1
    assert _versions(aws_env, "us-east-1", "never") == []
    capsys.readouterr()


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body
