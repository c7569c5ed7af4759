# AWS CDK (Python), untested here: no CDK toolchain runs in this project's CI.
from aws_cdk import Stack
from aws_cdk import aws_lambda as lambda_
from constructs import Construct


class AnalyticsStack(Stack):
    def __init__(self, scope: Construct, name: str, *, layer_arn: str | None = None) -> None:
        super().__init__(scope, name)
        layer = (
            lambda_.LayerVersion.from_layer_version_arn(self, "Deps", layer_arn)
            if layer_arn  # what `layerforge publish --json` printed
            else lambda_.LayerVersion(
                self,
                "Deps",
                code=lambda_.Code.from_asset("dist/layer-python3.12-x86_64.zip"),
                compatible_runtimes=[lambda_.Runtime.PYTHON_3_12],
                compatible_architectures=[lambda_.Architecture.X86_64],
            )
        )
        lambda_.Function(
            self,
            "Analytics",
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=lambda_.Architecture.X86_64,
            handler="sales_report.handler.main",
            code=lambda_.Code.from_asset("sales_report_src"),
            layers=[layer],
        )
