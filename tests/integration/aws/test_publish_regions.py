"""publish-and-invoke in several regions against the moto server: each region gets its layer
version, function and proof (its own bucket through the {region} template); a region whose
pre-flight fails stops the run before anything changes anywhere."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from layerforge.aws.clients import AwsTarget, connect_aws
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
