"""examples/iac/main.tf for real: ``terraform init`` from the hashicorp/aws provider mirror (no
registry), ``fmt -check``, ``validate``, ``apply`` against the moto server with a layerforge-built
layer staged through S3, then ``plan -detailed-exitcode``: no changes.

The example is copied as it is; only an override file (``moto_override.tf``, Terraform's own
merge) points its provider at moto: endpoints for lambda, iam, s3 and sts, test credentials,
path-style S3, and no account-id or credential lookups. moto needs nothing more from it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.integration.iac.conftest import (
    IAC,
    aws_provider_mirror,
    clean_env,
    output_of,
    place,
    require,
    run,
)

pytestmark = [pytest.mark.slow, pytest.mark.network]  # the build asks PyPI too
REGION = "eu-west-1"  # the example's default region

CLI_CONFIG = """provider_installation {{
  filesystem_mirror {{
    path    = "{mirror}"
    include = ["registry.terraform.io/hashicorp/aws"]
  }}
  direct {{
    exclude = ["registry.terraform.io/hashicorp/aws"]
  }}
}}
"""

MOTO_OVERRIDE = """provider "aws" {{
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true
  endpoints {{
    iam    = "{endpoint}"
    lambda = "{endpoint}"
    s3     = "{endpoint}"
    sts    = "{endpoint}"
  }}
}}
"""


@dataclass(frozen=True)
class Applied:
    """The applied example: its folder, its tool's environment and what it was given."""

    terraform: str
    work: Path
    env: dict[str, str]
    endpoint: str
    bucket: str
    function: str

    def run(self, *argv: str) -> Any:
        variables = [
            "-var",
            f"artifact_bucket={self.bucket}",
            "-var",
            f"function_name={self.function}",
        ]
        return run([self.terraform, *argv, "-no-color", *variables], self.work, self.env)

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


def _workspace(work: Path, layer: Path, function_zip: Path, mirror: str, endpoint: str) -> None:
    """The example as a user copies it, the layer and function zip it names, and the two files
    only this test adds: the moto override and the CLI configuration naming the mirror."""
    shutil.copyfile(IAC / "main.tf", work / "main.tf")
    place(layer, work)
    shutil.copyfile(function_zip, work / "function.zip")
    (work / "moto_override.tf").write_text(MOTO_OVERRIDE.format(endpoint=endpoint))
    (work / "cli.tfrc").write_text(CLI_CONFIG.format(mirror=mirror))


@pytest.fixture(scope="module")
def applied(
    moto_endpoint: str,
    iac_layer: Path,
    function_zip: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Applied:
    terraform = require(shutil.which("terraform"), "terraform is not on PATH")
    mirror = require(
        aws_provider_mirror(),
        "no hashicorp/aws provider mirror (registry.terraform.io/hashicorp/aws/...) found: "
        "set LAYERFORGE_TF_PROVIDER_MIRROR to the folder that holds registry.terraform.io",
    )
    work = tmp_path_factory.mktemp("terraform")
    _workspace(work, iac_layer, function_zip, mirror, moto_endpoint)
    env = clean_env(
        work / "home",
        TF_CLI_CONFIG_FILE=str(work / "cli.tfrc"),
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
        CHECKPOINT_DISABLE="1",  # no version check against HashiCorp
    )
    name = f"iac-tf-{uuid.uuid4().hex[:10]}"  # the session's moto server is shared
    state = Applied(terraform, work, env, moto_endpoint, bucket=name, function=name)
    state.client("s3").create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    for step in (["init", "-no-color"], ["fmt", "-check", "-diff", "main.tf"], ["validate"]):
        done = run([terraform, *step], work, env)
        assert done.returncode == 0, output_of(done)
    done = state.run("apply", "-auto-approve")
    assert done.returncode == 0, output_of(done)
    return state


def test_a_second_plan_finds_nothing_to_change(applied: Applied) -> None:
    done = applied.run("plan", "-detailed-exitcode")
    assert done.returncode == 0, output_of(done)  # 2 would mean changes, 1 an error
    assert "No changes." in done.stdout


def test_the_layer_is_the_layerforge_zip_staged_through_s3(
    applied: Applied, iac_layer: Path
) -> None:
    data = iac_layer.read_bytes()
    state = json.loads((applied.work / "terraform.tfstate").read_text())
    (layer,) = [r for r in state["resources"] if r["type"] == "aws_lambda_layer_version"]
    given = layer["instances"][0]["attributes"]
    assert given["filename"] is None  # no direct upload: AWS refuses one over 50 MiB
    assert given["s3_bucket"] == applied.bucket
    staged = applied.client("s3").get_object(Bucket=applied.bucket, Key=given["s3_key"])
    assert staged["Body"].read() == data
    function = applied.client("lambda").get_function(FunctionName=applied.function)
    (arn,) = [attached["Arn"] for attached in function["Configuration"]["Layers"]]
    name, number = arn.split(":")[-2:]  # moto has no GetLayerVersionByArn
    version = applied.client("lambda").get_layer_version(LayerName=name, VersionNumber=int(number))
    digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert version["Content"]["CodeSha256"] == digest
    assert version["CompatibleRuntimes"] == ["python3.12"]
    assert version["CompatibleArchitectures"] == ["x86_64"]


def test_the_function_has_the_memory_time_and_bucket_it_needs(applied: Applied) -> None:
    config = applied.client("lambda").get_function_configuration(FunctionName=applied.function)
    assert (config["MemorySize"], config["Timeout"]) == (1024, 300)
    assert config["Environment"]["Variables"] == {"ARTIFACT_BUCKET": applied.bucket}
    role = config["Role"].rsplit("/", 1)[-1]
    iam = applied.client("iam")
    (name,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
    statements = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]["Statement"]
    by_action = {action: s["Resource"] for s in statements for action in s["Action"]}
    assert by_action["s3:PutObject"] == f"arn:aws:s3:::{applied.bucket}/*"
    account = applied.client("sts").get_caller_identity()["Account"]
    group = f"arn:aws:logs:{REGION}:{account}:log-group:/aws/lambda/{applied.function}"
    assert by_action["logs:PutLogEvents"] == [group, f"{group}:*"]
