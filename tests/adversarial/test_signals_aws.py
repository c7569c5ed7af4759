"""A real Ctrl-C while a layer over 50 MiB is published in two regions at once (each region on
a thread of its own, the zip going through a staging object in each region's bucket, against
the moto server): the command ends within the bound, no AWS call starts after the signal but
the ones that clean up, and no staging object or unfinished multipart upload is left."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.adversarial.conftest import interrupted_cleanly, zip_of
from tests.adversarial.harness import in_folder, ram_folder

pytestmark = [pytest.mark.adversarial, pytest.mark.slow]

REGIONS = ("us-east-1", "eu-west-1")


@pytest.fixture(scope="module")
def big_layer() -> Iterator[Path]:
    with ram_folder("layerforge-publish-signals-") as folder:
        yield zip_of(folder / "big.zip", {"python/blob.bin": os.urandom(53 * 2**20)})


@pytest.fixture
def staging(moto_endpoint: str) -> dict[str, Any]:
    """A staging bucket per region, named for this test alone."""
    name = f"adv-stage-{uuid.uuid4().hex[:8]}"
    buckets = {}
    for region in REGIONS:
        s3 = boto3.client(
            "s3",
            endpoint_url=moto_endpoint,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        where = {} if region == "us-east-1" else {"LocationConstraint": region}
        s3.create_bucket(Bucket=f"{name}-{region}", CreateBucketConfiguration=where)
        buckets[region] = (s3, f"{name}-{region}")
    return {"name": name, "buckets": buckets, "endpoint": moto_endpoint}


@pytest.mark.parametrize("delay", [1.5, 3.0])
def test_ctrl_c_while_publishing_in_two_regions(
    big_layer: Path, staging: dict[str, Any], delay: float
) -> None:
    argv = ["publish", str(big_layer), "--layer-name", staging["name"]]
    for region in REGIONS:
        argv += ["--region", region]
    argv += [
        "--endpoint-url",
        staging["endpoint"],
        "--staging-bucket",
        staging["name"] + "-{region}",
    ]
    argv += ["--runtime", "python3.11", "--arch", "x86_64"]
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": staging["endpoint"],
    }
    with ram_folder("layerforge-publish-run-") as folder:
        run = in_folder(folder, argv, env=env, interrupt_on="^", signum=signal.SIGINT, delay=delay)
    if run.code == 0:  # published before the signal came: nothing to judge
        return
    interrupted_cleanly(run, signal.SIGINT)
    for s3, bucket in staging["buckets"].values():
        assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0, run.describe()
        assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == [], run.describe()
