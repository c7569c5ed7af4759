"""examples/iac/cdk_stack.py for real: the aws-cdk CLI synthesizes an app with both branches of
the stack (the layer as an asset zip, and an ARN ``layerforge publish`` printed), offline (no
credentials, no version check, notices or telemetry), and cfn-lint checks both templates."""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.iac.conftest import (
    IAC,
    INSTALL,
    SALES_REPORT,
    TOOLS,
    clean_env,
    output_of,
    place,
    require,
    run,
    tool,
)

pytestmark = [pytest.mark.slow, pytest.mark.network]  # the build asks PyPI too
LAYER_ARN = "arn:aws:lambda:eu-west-1:123456789012:layer:analytics-deps:7"
BUCKET = "my-results"

APP = f"""from aws_cdk import App

from cdk_stack import AnalyticsStack

app = App()
AnalyticsStack(app, "AnalyticsAsset", artifact_bucket="{BUCKET}")
AnalyticsStack(
    app, "AnalyticsArn", artifact_bucket="{BUCKET}", layer_arn=app.node.get_context("layer_arn")
)
app.synth()
"""


@dataclass(frozen=True)
class Synthesized:
    out: Path
    layer: Path

    def template(self, stack: str) -> dict[str, Any]:
        document: dict[str, Any] = json.loads((self.out / f"{stack}.template.json").read_text())
        return document

    def resources(self, stack: str, kind: str) -> list[dict[str, Any]]:
        found = self.template(stack)["Resources"].values()
        return [r["Properties"] for r in found if r["Type"] == kind]


def _cdk_python() -> Path | None:
    """The interpreter the app runs under: tools.sh's virtualenv with aws-cdk-lib."""
    python = TOOLS / "cdk" / "bin" / "python"
    return python if any((TOOLS / "cdk").glob("lib/python*/site-packages/aws_cdk")) else None


@pytest.fixture(scope="module")
def synthesized(iac_layer: Path, tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    cdk = require(
        tool("cdk", installed_at="npm/node_modules/.bin/cdk"), f"no aws-cdk CLI: {INSTALL}"
    )
    python = require(_cdk_python(), f"no virtualenv with aws-cdk-lib: {INSTALL}")
    require(shutil.which("node"), "no Node.js on PATH (the aws-cdk CLI and jsii run on it)")
    work = tmp_path_factory.mktemp("cdk")
    shutil.copyfile(IAC / "cdk_stack.py", work / "cdk_stack.py")
    (work / "app.py").write_text(APP)
    (work / "cdk.json").write_text(json.dumps({"app": f"{python} app.py"}))
    layer = place(iac_layer, work)
    shutil.copytree(SALES_REPORT, work / "sales_report_src" / SALES_REPORT.name)
    env = clean_env(work / "home", CDK_DISABLE_VERSION_CHECK="1", CDK_DISABLE_CLI_TELEMETRY="true")
    argv = [cdk, "synth", "--no-notices", "--ec2creds", "false", "--quiet", "-o", "cdk.out"]
    done = run([*argv, "-c", f"layer_arn={LAYER_ARN}"], work, env)
    assert done.returncode == 0, output_of(done)
    return Synthesized(work / "cdk.out", layer)


def test_cfn_lint_accepts_both_synthesized_templates(synthesized: Synthesized) -> None:
    templates = [
        str(synthesized.out / f"{s}.template.json") for s in ("AnalyticsAsset", "AnalyticsArn")
    ]
    # W3005: CDK itself adds a DependsOn on the role beside the function's GetAtt of it
    lint = [str(Path(sys.executable).with_name("cfn-lint")), *templates, "--ignore-checks", "W3005"]
    done = run(lint, synthesized.out, clean_env(synthesized.out.parent / "home"))
    assert done.returncode == 0, output_of(done)


def test_the_asset_branch_ships_the_layerforge_zip_as_it_is(synthesized: Synthesized) -> None:
    resources = synthesized.template("AnalyticsAsset")["Resources"]
    (name,) = [n for n, r in resources.items() if r["Type"] == "AWS::Lambda::LayerVersion"]
    layer = resources[name]["Properties"]
    assert set(layer["Content"]) == {"S3Bucket", "S3Key"}  # an S3 asset: no 50 MiB limit
    assert layer["CompatibleRuntimes"] == ["python3.12"]
    assert layer["CompatibleArchitectures"] == ["x86_64"]
    asset = synthesized.out / resources[name]["Metadata"]["aws:asset:path"]
    assert asset.read_bytes() == synthesized.layer.read_bytes()  # not zipped again
    (function,) = synthesized.resources("AnalyticsAsset", "AWS::Lambda::Function")
    assert function["Layers"] == [{"Ref": name}]


def test_the_arn_branch_attaches_the_published_version(synthesized: Synthesized) -> None:
    assert synthesized.resources("AnalyticsArn", "AWS::Lambda::LayerVersion") == []
    (function,) = synthesized.resources("AnalyticsArn", "AWS::Lambda::Function")
    assert function["Layers"] == [LAYER_ARN]


@pytest.mark.parametrize("stack", ["AnalyticsAsset", "AnalyticsArn"])
def test_the_function_has_the_memory_time_bucket_and_access_it_needs(
    synthesized: Synthesized, stack: str
) -> None:
    (function,) = synthesized.resources(stack, "AWS::Lambda::Function")
    assert (function["MemorySize"], function["Timeout"]) == (1024, 300)
    assert function["Environment"]["Variables"] == {"ARTIFACT_BUCKET": BUCKET}
    (policy,) = synthesized.resources(stack, "AWS::IAM::Policy")
    granted = {
        action
        for statement in policy["PolicyDocument"]["Statement"]
        for action in statement["Action"]
        if json.dumps(statement["Resource"]).count(f":s3:::{BUCKET}/*")
    }
    assert {"s3:GetObject*", "s3:PutObject"} <= granted
    assert not any(action.startswith("s3:Delete") for action in granted)
