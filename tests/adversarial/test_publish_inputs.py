"""publish-and-invoke and cleanup with bad input, against a moto server: the pre-flight refuses
before anything in AWS changes, and a dry run fails exactly where the real run would."""

from __future__ import annotations

import json
import os
import signal
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.adversarial.conftest import LF, failed_cleanly, zip_of

pytestmark = [pytest.mark.adversarial, pytest.mark.slow]

REGION = "us-east-1"


@pytest.fixture
def aws(moto_endpoint: str) -> dict[str, Any]:
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": moto_endpoint,
    }
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    clients = {
        name: session.client(name, endpoint_url=moto_endpoint) for name in ("s3", "lambda", "iam")
    }
    bucket = f"adv-{uuid.uuid4().hex[:12]}"
    clients["s3"].create_bucket(Bucket=bucket)
    return {"env": env, "endpoint": moto_endpoint, "bucket": bucket, **clients}


def _publish(lf: LF, aws: dict[str, Any], layer: Path, *extra: str, **options: Any):  # type: ignore[no-untyped-def]
    name = f"adv-{uuid.uuid4().hex[:8]}"
    argv = [
        "publish-and-invoke",
        "--layer",
        str(layer),
        "--bucket",
        aws["bucket"],
        "--region",
        REGION,
        "--endpoint-url",
        aws["endpoint"],
        "--function-name",
        name,
        "--layer-name",
        name,
        *extra,
    ]
    return name, lf(*argv, env=aws["env"], **options)


def _nothing_created(aws: dict[str, Any], name: str) -> None:
    assert aws["lambda"].list_layer_versions(LayerName=name)["LayerVersions"] == []
    functions = [f["FunctionName"] for f in aws["lambda"].list_functions()["Functions"]]
    assert name not in functions
    roles = [r["RoleName"] for r in aws["iam"].list_roles()["Roles"]]
    assert f"{name}-role" not in roles


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--role-arn", "not-an-arn"], "is not an IAM role ARN"),
        (["--role-arn", "arn:aws:iam::123456789012:role/absent-role"], "does not exist"),
        (["--create-role", "--role-arn", "arn:aws:iam::123456789012:role/x"], "exactly one of"),
        ([], "exactly one of"),
        (["--create-role", "--layer-name", "bad name!"], "--layer-name"),
        (["--create-role", "--function-name", "bad name!"], "--function-name"),
        (["--create-role", "--prefix", "./runs"], "is not allowed"),
        (["--create-role", "--event", '{"bucket": "someone-elses-bucket"}'], "is not --bucket"),
        (["--create-role", "--event", '{"prefix": "elsewhere"}'], "outside --prefix"),
        (["--create-role", "--event", '{"rows": "many"}'], "rows must be an integer"),
        (
            ["--create-role", "--env", "AWS_SECRET_ACCESS_KEY=abc"],
            "refusing to put AWS credentials",
        ),
        (["--create-role", "--region", "bad region!"], "is not an AWS region"),
        (["--create-role", "--endpoint-url", "not a url"], "is not a URL"),
    ],
)
def test_bad_options_change_nothing(
    lf: LF, aws: dict[str, Any], small_layer: Path, extra: list[str], fragment: str
) -> None:
    start = os.times().elapsed
    name, run = _publish(lf, aws, small_layer, *extra)
    failed_cleanly(run, 2, fragment, bound=20)
    assert os.times().elapsed - start < 20  # no retry loop meant for fresh roles
    _nothing_created(aws, name)


def test_a_missing_bucket_fails_the_pre_flight_and_the_dry_run(
    lf: LF, aws: dict[str, Any], small_layer: Path
) -> None:
    aws = {**aws, "bucket": f"absent-{uuid.uuid4().hex[:10]}"}
    for extra in (["--create-role"], ["--create-role", "--dry-run"]):
        name, run = _publish(lf, aws, small_layer, *extra)
        failed_cleanly(run, 2, "does not exist", "--bucket", bound=20)
        _nothing_created(aws, name)


def test_a_layer_that_would_not_load_fails_the_dry_run(
    lf: LF, aws: dict[str, Any], work: Path
) -> None:
    bad = zip_of(work / "bad.zip", {"python/pkg/_fast.so": b"not an ELF at all"})
    name, run = _publish(lf, aws, bad, "--create-role", "--dry-run")
    failed_cleanly(run, 1, "would not load", bound=20)
    _nothing_created(aws, name)


def test_a_role_lambda_cannot_assume_is_refused(
    lf: LF, aws: dict[str, Any], small_layer: Path
) -> None:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"Service": "ec2.amazonaws.com"},
            }
        ],
    }
    arn = aws["iam"].create_role(
        RoleName=f"ec2-{uuid.uuid4().hex[:6]}", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    name, run = _publish(lf, aws, small_layer, "--role-arn", arn)
    failed_cleanly(run, 2, "does not let Lambda assume it", bound=20)
    _nothing_created(aws, name)


def test_the_dry_run_normalises_the_prefix_in_the_policy(
    lf: LF, aws: dict[str, Any], small_layer: Path
) -> None:
    name, run = _publish(
        lf, aws, small_layer, "--create-role", "--prefix", "runs//daily/", "--dry-run", "--json"
    )
    assert run.code == 0, run.describe()
    plan = run.json()
    resources = [s["Resource"] for s in plan["policy"]["Statement"] if s["Sid"] == "PutArtifacts"]
    assert resources == [f"arn:aws:s3:::{aws['bucket']}/runs/daily/*"]
    _nothing_created(aws, name)


def test_ctrl_c_during_a_staged_publish_leaves_no_staging_object(
    lf: LF, aws: dict[str, Any], work: Path
) -> None:
    big = zip_of(work / "big.zip", {"python/blob.bin": os.urandom(53 * 2**20)})
    _name, run = _publish(
        lf,
        aws,
        big,
        "--create-role",
        interrupt_on=r"pre-flight:",
        signum=signal.SIGINT,
        timeout=120,
    )
    failed_cleanly(run, 130, "interrupted by SIGINT", bound=120)
    listed = aws["s3"].list_objects_v2(Bucket=aws["bucket"], Prefix="layerforge-staging/")
    assert listed.get("KeyCount", 0) == 0
    uploads = aws["s3"].list_multipart_uploads(Bucket=aws["bucket"]).get("Uploads", [])
    assert uploads == []


def test_cleanup_refuses_bad_input_and_dry_runs(
    lf: LF, aws: dict[str, Any], small_layer: Path
) -> None:
    common = ["--region", REGION, "--endpoint-url", aws["endpoint"]]
    failed_cleanly(lf("cleanup", "--keep", "-1", *common, env=aws["env"]), 2, "--keep", bound=20)
    name = f"adv-{uuid.uuid4().hex[:8]}"
    for number in range(3):
        aws["lambda"].publish_layer_version(
            LayerName=name,
            Content={"ZipFile": small_layer.read_bytes()},
            Description=f"layerforge sha256:{number:064x}",  # as layerforge publishes them
        )
    run = lf(
        "cleanup",
        "--layer-name",
        name,
        "--keep",
        "1",
        "--dry-run",
        "--json",
        *common,
        env=aws["env"],
    )
    assert run.code == 0, run.describe()
    assert run.json()["deleted_layer_versions"] == [2, 1]
    assert len(aws["lambda"].list_layer_versions(LayerName=name)["LayerVersions"]) == 3


# -- proof specs: bounded and least-privilege ----------------------------------------------------


def _project(work: Path, proof: str) -> list[str]:
    """A function folder with an input file and a proof spec; the arguments that name them."""
    (work / "app.py").write_text("def main(event, context):\n    return {}\n")
    (work / "data").mkdir(exist_ok=True)
    (work / "data" / "in.csv").write_text("a,b\n1,2\n")
    (work / "proof.toml").write_text(proof)
    return ["--function-dir", ".", "--handler", "app.main", "--proof", "proof.toml"]


@pytest.mark.parametrize(
    ("proof", "fragment"),
    [
        ("[access]\nwrite = ['*']\n", "access.write[0]: '*': '*' is a wildcard"),
        ("[access]\nwrite = ['{bucket}/{prefix}/../../']\n", "'..' segment"),
        ("[access]\nread = ['{bucket}/in/', '{event.where}/x/']\n", "the event has no field"),
        ("inputs = [{file = '../../../../etc/passwd', key = 'p'}]\n", "outside the spec's folder"),
    ],
)
def test_unfit_proof_specs_change_nothing(
    lf: LF, aws: dict[str, Any], small_layer: Path, work: Path, proof: str, fragment: str
) -> None:
    extra = _project(work, proof)
    for dry in ([], ["--dry-run"]):
        name, run = _publish(lf, aws, small_layer, "--create-role", *extra, *dry)
        failed_cleanly(run, 2, fragment, bound=20)
        _nothing_created(aws, name)


def test_the_plan_lists_uploads_and_names_scopes_outside_the_bucket(
    lf: LF, aws: dict[str, Any], small_layer: Path, work: Path
) -> None:
    extra = _project(
        work,
        "inputs = [{file = 'data/in.csv', key = 'inputs/{function}.csv'}]\n"
        "[access]\nread = ['{bucket}/inputs/', 'shared-reference/tables/']\n"
        "write = ['{bucket}/{prefix}/']\n",
    )
    name, run = _publish(lf, aws, small_layer, "--create-role", *extra, "--dry-run", "--json")
    assert run.code == 0, run.describe()
    plan = run.json()
    assert plan["uploads"] == [
        {"file": str(work / "data" / "in.csv"), "to": f"s3://{aws['bucket']}/inputs/{name}.csv"}
    ]
    assert plan["access"]["outside_bucket"] == ["shared-reference/tables/"]
    reads = next(s for s in plan["policy"]["Statement"] if s["Sid"] == "GetInputs")["Resource"]
    assert reads == [
        f"arn:aws:s3:::{aws['bucket']}/inputs/*",
        "arn:aws:s3:::shared-reference/tables/*",
    ]
    assert "*" not in json.dumps([s["Resource"] for s in plan["policy"]["Statement"]]).replace(
        "/*", ""
    ).replace(":*", "")
    listed = aws["s3"].list_objects_v2(Bucket=aws["bucket"], Prefix="inputs/")
    assert listed.get("KeyCount", 0) == 0  # a dry run uploads nothing
    _nothing_created(aws, name)
