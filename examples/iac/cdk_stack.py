# AWS CDK v2 (Python): `cdk synth` of both branches, then cfn-lint, in this project's tests.
# app.py:  app = App()
#          AnalyticsStack(app, "Analytics", artifact_bucket="my-results",
#                         layer_arn=app.node.try_get_context("layer_arn"))
#          app.synth()
from aws_cdk import Duration, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct


class AnalyticsStack(Stack):
    def __init__(
        self, scope: Construct, name: str, *, artifact_bucket: str, layer_arn: str | None = None
    ) -> None:
        super().__init__(scope, name)
        layer = (
            lambda_.LayerVersion.from_layer_version_arn(self, "Deps", layer_arn)
            if layer_arn  # what `layerforge publish --json` printed
            else lambda_.LayerVersion(  # an asset: CDK uploads it to S3, so 50 MiB is no limit
                self,
                "Deps",
                code=lambda_.Code.from_asset("dist/layer-python3.12-x86_64.zip"),
                compatible_runtimes=[lambda_.Runtime.PYTHON_3_12],
                compatible_architectures=[lambda_.Architecture.X86_64],
            )
        )
        bucket = s3.Bucket.from_bucket_name(self, "Artifacts", artifact_bucket)
        function = lambda_.Function(
            self,
            "Analytics",
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=lambda_.Architecture.X86_64,
            handler="sales_report.handler.main",
            code=lambda_.Code.from_asset("sales_report_src"),
            layers=[layer],
            memory_size=1024,  # imports alone take ~200 MB and seconds: 128 MB / 3 s fail
            timeout=Duration.minutes(5),
            environment={"ARTIFACT_BUCKET": bucket.bucket_name},
        )
        bucket.grant_read(function)
        bucket.grant_put(function)
