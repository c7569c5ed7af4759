"""publish-and-invoke in several regions against the moto server: each region gets its layer
version, function and proof (its own bucket through the {region} template); a region whose
pre-flight fails stops the run before anything changes anywhere; a rerun after one region
failed runs only that region (as publish publishes only where the layer is missing)."""

from __future__ import annotations

import json
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest

from layerforge.aws.clients import AwsClients, AwsTarget, connect_aws
from tests.conftest import run_cli

pytestmark = [pytest.mark.slow]

REGIONS = ("us-east-1", "eu-west-1")


def _bucket(region: str, name: str, endpoint: str) -> None:
    s3 = connect_aws(AwsTarget(region=region, endpoint_url=endpoint)).s3
    extra = (
        {}
        if region == "us-east-1"
        else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    )
    s3.create_bucket(Bucket=name, **extra)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    return run_cli(capsys, "publish-and-invoke", *argv)


def test_the_proof_in_every_region_and_a_failed_preflight_changes_nothing(
    seed_build: dict[str, Any], aws_env: str, lambda_image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tag = uuid.uuid4().hex[:8]
    for region in REGIONS:
        _bucket(region, f"proof-{tag}-{region}", aws_env)
    function = f"fn-{tag}"
    common = [
        "--layer",
        seed_build["output"],
        "--bucket",
        f"proof-{tag}-{{region}}",
        "--function-name",
        function,
        "--layer-name",
        f"layer-{tag}",
        "--create-role",
        "--event",
        json.dumps({"rows": 2000, "seed": 3}),
        "--endpoint-url",
        aws_env,
        "--json",
    ]
    # a third region without its bucket: every pre-flight runs first, so nothing is published
    code, document, err = _run(
        capsys, *common, *[a for r in (*REGIONS, "ap-southeast-2") for a in ("--region", r)]
    )
    assert code == 2, (document, err)
    assert "does not exist" in document["error"]
    for region in REGIONS:
        lambda_ = connect_aws(AwsTarget(region=region, endpoint_url=aws_env)).lambda_
        assert lambda_.list_layer_versions(LayerName=f"layer-{tag}")["LayerVersions"] == []

    code, document, err = _run(capsys, *common, *[a for r in REGIONS for a in ("--region", r)])
    assert code == 0, (json.dumps(document)[:3000], err[-3000:])
    assert document["passed"] is True
    assert sorted(document["regions"]) == sorted(REGIONS)
    for region, proof in document["regions"].items():
        assert proof["passed"] is True
        assert f":{region}:" in proof["layer"]["arn"]
        assert f":{region}:" in proof["function"]["arn"]
        assert all(a["bucket"] == f"proof-{tag}-{region}" for a in proof["artifacts"])
        # IAM is global: each region's role may write only to that region's bucket
        assert proof["role"]["arn"].endswith(f"role/{function}-role-{region}")


def test_a_rerun_after_one_region_failed_runs_only_that_region(
    tmp_path: Path,
    aws_env: str,
    lambda_image: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """MOCKED FAULT: moto cannot make one region fail; eu-west-1's Invoke answers 503 once."""
    from botocore.awsrequest import AWSResponse

    from layerforge.aws import clients as clients_module

    tag = uuid.uuid4().hex[:8]
    for region in REGIONS:
        _bucket(region, f"rerun-{tag}-{region}", aws_env)
    layer, code = tmp_path / "layer.zip", tmp_path / "code.zip"
    with zipfile.ZipFile(layer, "w") as archive:
        archive.writestr("python/marker.py", f"TOKEN = {tag!r}\n")
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("code.py", "def handler(event, context):\n    return {'ok': True}\n")
    function = f"fn-{tag}"
    argv = [
        *("--layer", str(layer), "--bucket", f"rerun-{tag}-{{region}}", "--create-role"),
        *("--function-name", function, "--layer-name", f"layer-{tag}", "--json"),
        *("--function-zip", str(code), "--handler", "code.handler", "--endpoint-url", aws_env),
        *[a for r in REGIONS for a in ("--region", r)],
    ]
    real_connect = clients_module.connect_aws

    def unavailable(request: Any, **_: Any) -> Any:
        body = b'{"__type": "ServiceException", "message": "Service unavailable"}'
        return AWSResponse(request.url, 503, {"x-amzn-errortype": "ServiceException"}, _Raw(body))

    def connect_with_fault(target: AwsTarget) -> AwsClients:
        connected = real_connect(target)
        if target.region == REGIONS[1]:
            connected.lambda_invoke.meta.events.register("before-send.lambda.Invoke", unavailable)
        return connected

    monkeypatch.setattr(clients_module, "connect_aws", connect_with_fault)
    code_, failed, err = _run(capsys, *argv)
    assert code_ == 3, (failed, err)
    assert set(failed) == {"error", "hint", "details", "exit_code"}  # the error document
    assert failed["error"].startswith(f"1 region failed: {REGIONS[1]}: invoking the function")
    assert "regions already proven with these inputs are reported" in failed["hint"]
    assert failed["details"]["regions"][REGIONS[0]]["passed"] is True
    first = failed["details"]["regions"][REGIONS[0]]

    monkeypatch.setattr(clients_module, "connect_aws", real_connect)
    lambdas = {r: real_connect(AwsTarget(region=r, endpoint_url=aws_env)).lambda_ for r in REGIONS}
    before = lambdas[REGIONS[0]].get_function(FunctionName=function)["Configuration"]
    code_, healed, err = _run(capsys, *argv)
    assert code_ == 0, (healed, err)
    proven, rerun = healed["regions"][REGIONS[0]], healed["regions"][REGIONS[1]]
    # the region proven before is reported, not updated or invoked again
    assert [c["name"] for c in proven["checks"]] == ["proof"]
    assert proven["proven"]["request_id"] == first["invocation"]["request_id"]
    after = lambdas[REGIONS[0]].get_function(FunctionName=function)["Configuration"]
    assert after["LastModified"] == before["LastModified"]
    # the region that failed is proven now
    assert [c["name"] for c in rerun["checks"]] == ["execution", "artifacts", "logs"]
    assert rerun["passed"] is True and "invocation" in rerun
    # --prove-again invokes every region again
    code_, again, err = _run(capsys, *argv, "--prove-again")
    assert code_ == 0, (again, err)
    assert all("invocation" in again["regions"][r] for r in REGIONS)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body
