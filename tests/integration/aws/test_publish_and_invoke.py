"""publish-and-invoke end to end against a moto server over HTTP, with moto running the real
payload in Docker (the local Lambda-like image) and the layer that layerforge build made."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from layerforge.aws.clients import AwsClients, AwsTarget, connect_aws
from layerforge.aws.deploy import FunctionConfig, deploy_function
from layerforge.aws.invoke import invoke_function
from layerforge.aws.preflight import ProofRun
from layerforge.aws.publish import STAGING_PREFIX, PublishedLayer
from layerforge.aws.role import TRUST_POLICY, ensure_role, execution_policy
from layerforge.aws.run import proof_log_lines
from layerforge.functions import HANDLER, bundled_function
from layerforge.proof import Outcome, Templates, bundled_spec, check_all, check_logs
from layerforge.runtimes import Architecture, get_runtime
from tests.conftest import run_cli
from tests.integration.aws.fixtures import publish_zip

pytestmark = [pytest.mark.slow]

PY311, X86 = get_runtime("python3.11"), Architecture.X86_64
REGION = "us-east-1"
MINIMAL_POLICY = execution_policy(
    write=["b/p/"], function="f", region=REGION, account="123456789012"
)


def _publish_cli(
    capsys: pytest.CaptureFixture[str], endpoint: str, layer: Path | str, bucket: str, *extra: str
) -> tuple[int, Any, str]:
    """publish-and-invoke against the moto server, with the given layer and bucket."""
    args = ["--layer", str(layer), "--bucket", bucket, "--region", REGION]
    return run_cli(capsys, "publish-and-invoke", *args, "--endpoint-url", endpoint, *extra)


def _publish(clients: AwsClients, layer: Path, name: str, bucket: str) -> PublishedLayer:
    return publish_zip(clients, layer, name, staging_bucket=bucket)


def _small_zip(path: Path, content: str) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("python/marker.py", content)
    return path


def test_end_to_end_proof_then_dedupe_on_republish(
    seed_build: dict[str, Any],
    clients: AwsClients,
    bucket: str,
    aws_env: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    function = f"fn-{uuid.uuid4().hex[:8]}"
    layer, name = seed_build["output"], f"layer-{function}"
    extra = [
        "--function-name",
        function,
        "--layer-name",
        name,
        "--create-role",
        "--event",
        '{"rows": 3000, "seed": 5}',
        "--json",
    ]
    code, proof, err = _publish_cli(capsys, aws_env, layer, bucket, *extra)
    assert code == 0, (proof, err)
    assert proof["passed"] is True
    assert [c["name"] for c in proof["checks"]] == ["execution", "artifacts", "logs"]
    assert all(c["passed"] for c in proof["checks"])
    assert proof["layer"]["via_s3"] is True  # the seed layer's zip is over 50 MiB
    assert proof["layer"]["sha256"] == seed_build["sha256"]
    assert proof["function"]["created"] is True and proof["role"]["created"] is True
    assert {a["key"].rsplit("/", 1)[1] for a in proof["artifacts"]} == {
        "data.csv",
        "stats.json",
        "plot.png",
    }
    assert proof["invocation"]["status_code"] == 200
    assert "duration_ms" in proof["invocation"]
    staging = clients.s3.list_objects_v2(Bucket=bucket, Prefix=STAGING_PREFIX)
    assert staging.get("KeyCount", 0) == 0  # the staging copy was removed
    description = clients.lambda_.list_layer_versions(LayerName=f"layer-{function}")
    assert f"sha256:{seed_build['sha256']}" in description["LayerVersions"][0]["Description"]

    code, again, err = _publish_cli(capsys, aws_env, layer, bucket, *extra)
    assert code == 0, (again, err)
    # the same inputs were proven: the rerun reports that proof and changes nothing
    assert [c["name"] for c in again["checks"]] == ["proof"] and again["passed"] is True
    assert again["proven"]["request_id"] == proof["invocation"]["request_id"]
    assert again["layer"]["reused"] is True
    assert again["layer"]["version"] == proof["layer"]["version"]
    assert again["function"]["created"] is False and again["role"]["created"] is False
    versions = clients.lambda_.list_layer_versions(LayerName=f"layer-{function}")
    assert len(versions["LayerVersions"]) == 1


def test_small_layer_is_uploaded_directly(clients: AwsClients, tmp_path: Path, bucket: str) -> None:
    layer = _small_zip(tmp_path / "small.zip", "VALUE = 1\n")
    published = _publish(clients, layer, "small-layer", bucket)
    assert not published.via_s3 and not published.reused
    info = clients.lambda_.get_layer_version(
        LayerName="small-layer", VersionNumber=published.version
    )
    assert info["CompatibleRuntimes"] == ["python3.11"]
    assert info["CompatibleArchitectures"] == ["x86_64"]


def test_created_role_allows_exactly_putobject_and_own_logs(
    clients: AwsClients,
    bucket: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    aws_env: str,
) -> None:
    layer = _small_zip(tmp_path / "l.zip", "X = 1\n")
    code, plan, _ = _publish_cli(
        capsys,
        aws_env,
        str(layer),
        bucket,
        "--prefix",
        "runs",
        "--function-name",
        "fn-plan",
        "--create-role",
        "--dry-run",
        "--json",
    )
    assert code == 0
    statements = plan["policy"]["Statement"]
    assert statements[0] == {
        "Sid": "PutArtifacts",
        "Effect": "Allow",
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{bucket}/runs/*",
    }
    actions = {
        a
        for s in statements
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert actions == {
        "s3:PutObject",
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }
    assert all("/aws/lambda/fn-plan" in s["Resource"] for s in statements[1:])
    with pytest.raises(botocore.exceptions.ClientError):  # the dry run created nothing
        clients.iam.get_role(RoleName="fn-plan-role")
    role_made = ensure_role(clients.iam, "fn-plan-role", plan["policy"], function="fn-plan")
    assert role_made.created and role_made.arn.endswith(":role/fn-plan-role")
    role = clients.iam.get_role(RoleName="fn-plan-role")["Role"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert trust == TRUST_POLICY
    stored = clients.iam.get_role_policy(RoleName="fn-plan-role", PolicyName=plan["policy_name"])
    document = stored["PolicyDocument"]
    assert (json.loads(document) if isinstance(document, str) else document) == plan["policy"]


def test_payload_that_raises_is_a_failed_check_with_its_log(
    seed_build: dict[str, Any],
    clients: AwsClients,
    bucket: str,
    tmp_path: Path,
    aws_env: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    function_zip = tmp_path / "boom.zip"
    with zipfile.ZipFile(function_zip, "w") as archive:
        archive.writestr(
            "boom.py",
            "def handler(event, context):\n"
            "    print('about to fail')\n"
            "    raise RuntimeError('the analysis exploded')\n",
        )
    spec = tmp_path / "proof.json"  # an artifact the response locates: there is no response
    spec.write_text(
        json.dumps({"artifacts": [{"name": "out.json", "prefix": "{response.prefix}"}]})
    )
    code, out, err = _publish_cli(
        capsys,
        aws_env,
        seed_build["output"],
        bucket,
        "--function-name",
        "fn-boom",
        "--create-role",
        "--function-zip",
        str(function_zip),
        "--handler",
        "boom.handler",
        "--proof",
        str(spec),
    )
    assert code == 1
    assert "PROOF FAILED" in out
    cells = " ".join(out.translate(str.maketrans("│┃┏┓┗┛━─┡┩└┘┳┻╇", " " * 15)).split())
    assert "out.json: no response (FunctionError " in cells  # moto says Handled, AWS Unhandled
    assert "so {response.prefix} is unknown" in cells
    assert "outside the prefixes" not in cells
    assert "FunctionError" in out and "the analysis exploded" in out
    assert "about to fail" in out  # the function's own log lines are shown
    assert "Traceback (most recent call last)" not in err


def test_artifact_deleted_before_the_check_fails_that_check(
    seed_build: dict[str, Any], clients: AwsClients, bucket: str
) -> None:
    layer = _publish(clients, Path(seed_build["output"]), "layer-deleted", bucket)
    policy = execution_policy(
        write=[f"{bucket}/automated-analysis/"],
        function="fn-deleted",
        region=REGION,
        account="123456789012",
    )
    role = ensure_role(clients.iam, "fn-deleted-role", policy, function="fn-deleted").arn
    with_code = bundled_function().package(Path(seed_build["output"]).with_name("fn.zip"))
    config = FunctionConfig(
        name="fn-deleted",
        role_arn=role,
        runtime=PY311,
        architecture=X86,
        handler=HANDLER,
        environment={"ARTIFACT_BUCKET": bucket},
        layers=(layer.version_arn,),
    )
    deploy_function(clients.lambda_, config, with_code.path.read_bytes())
    result = invoke_function(clients.lambda_, "fn-deleted", {"rows": 200, "seed": 1})
    assert result.payload["status"] == "ok", result.log_tail
    plot = next(a["key"] for a in result.payload["artifacts"] if a["name"] == "plot.png")
    clients.s3.delete_object(Bucket=bucket, Key=plot)
    outcome = Outcome(result.status_code, result.function_error, result.payload, result.log_lines)
    spec = bundled_spec()
    templates = Templates({"bucket": bucket, "prefix": "automated-analysis"}, event={})
    report = check_all(outcome, clients.s3, spec, templates)
    checks = {c.name: c for c in report.checks}
    assert checks["execution"].passed and checks["logs"].passed
    assert not checks["artifacts"].passed and plot in checks["artifacts"].evidence
    assert not report.passed
    # a tail cut before the milestones (Lambda keeps only the last 4 KB): CloudWatch Logs,
    # where moto stored the function's output, supplies the lines instead
    cut = replace(result, log_tail="x" * 5000)
    assert not check_logs(cut.log_lines, spec, templates).passed
    run = ProofRun(
        layer=Path(seed_build["output"]),
        bucket=bucket,
        runtime=PY311,
        architecture=X86,
        function=bundled_function(),
        proof=spec,
        function_name="fn-deleted",
    )
    lines = proof_log_lines(run, clients, cut)
    assert check_logs(lines, spec, templates).passed


def test_cleanup_keeps_the_newest_versions_and_removes_function_and_role(
    clients: AwsClients,
    tmp_path: Path,
    bucket: str,
    aws_env: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for number in range(3):
        layer = _small_zip(tmp_path / f"v{number}.zip", f"VALUE = {number}\n")
        _publish(clients, layer, "layer-cleanup", bucket)
    policy = execution_policy(
        write=[f"{bucket}/p/"], function="fn-cleanup", region=REGION, account="123456789012"
    )
    role = ensure_role(clients.iam, "fn-cleanup-role", policy, function="fn-cleanup").arn
    code_zip = _small_zip(tmp_path / "code.zip", "def h(e, c):\n    return {}\n")
    config = FunctionConfig(
        name="fn-cleanup", role_arn=role, runtime=PY311, architecture=X86, handler="marker.h"
    )
    deploy_function(clients.lambda_, config, code_zip.read_bytes())
    code, result, _ = run_cli(
        capsys,
        "cleanup",
        "--layer-name",
        "layer-cleanup",
        "--keep",
        "1",
        "--function-name",
        "fn-cleanup",
        "--role-name",
        "fn-cleanup-role",
        "--region",
        REGION,
        "--endpoint-url",
        aws_env,
        "--json",
    )
    assert code == 0
    assert result["deleted_layer_versions"] == [2, 1] and result["kept_layer_versions"] == [3]
    assert result["deleted_function"] is True and result["deleted_role"] is True
    remaining = clients.lambda_.list_layer_versions(LayerName="layer-cleanup")["LayerVersions"]
    assert [v["Version"] for v in remaining] == [3]
    with pytest.raises(botocore.exceptions.ClientError):
        clients.iam.get_role(RoleName="fn-cleanup-role")


def test_function_creation_waits_for_a_role_that_is_still_propagating(
    clients: AwsClients, tmp_path: Path
) -> None:
    """Real, not mocked: the role appears in IAM only after the first CreateFunction fails."""
    account = clients.sts.get_caller_identity()["Account"]
    arn = f"arn:aws:iam::{account}:role/late-role"
    code_zip = _small_zip(tmp_path / "code.zip", "def h(e, c):\n    return {}\n")
    config = FunctionConfig(
        name="fn-late", role_arn=arn, runtime=PY311, architecture=X86, handler="marker.h"
    )
    calls: list[float] = []

    def pause(seconds: float) -> None:
        calls.append(seconds)
        if len(calls) == 2:
            ensure_role(clients.iam, "late-role", MINIMAL_POLICY, function="fn-late")

    deployed = deploy_function(
        clients.lambda_,
        config,
        code_zip.read_bytes(),
        new_role=True,
        role_attempts=5,
        role_pause=0.01,
        sleep=pause,
    )
    assert deployed.created and len(calls) == 2


def test_a_role_not_made_in_this_run_is_not_waited_for(clients: AwsClients, tmp_path: Path) -> None:
    """Only a role created by this run may still be propagating: any other fails at once."""
    account = clients.sts.get_caller_identity()["Account"]
    config = FunctionConfig(
        name="fn-never",
        role_arn=f"arn:aws:iam::{account}:role/never-made",
        runtime=PY311,
        architecture=X86,
        handler="marker.h",
    )
    code_zip = _small_zip(tmp_path / "code.zip", "def h(e, c):\n    return {}\n")
    calls: list[float] = []
    with pytest.raises(botocore.exceptions.ClientError):
        deploy_function(
            clients.lambda_, config, code_zip.read_bytes(), role_pause=0.01, sleep=calls.append
        )
    assert calls == []


def test_credentials_in_the_environment_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], aws_env: str
) -> None:
    layer = _small_zip(tmp_path / "l.zip", "X = 1\n")
    code, _, err = _publish_cli(
        capsys,
        aws_env,
        str(layer),
        "b-bucket",
        "--create-role",
        "--env",
        "AWS_SECRET_ACCESS_KEY=abc",
    )
    assert code == 2 and "refusing to put AWS credentials" in err


def test_missing_bucket_fails_clearly_and_leaves_nothing_half_made(
    seed_build: dict[str, Any],
    clients: AwsClients,
    aws_env: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = _publish_cli(
        capsys,
        aws_env,
        seed_build["output"],
        "no-such-bucket-here",
        "--layer-name",
        "layer-nobucket",
        "--create-role",
    )
    assert code == 2
    assert "NoSuchBucket" in err and "--bucket" in err and "Traceback" not in err
    versions = clients.lambda_.list_layer_versions(LayerName="layer-nobucket")["LayerVersions"]
    assert versions == []
    roles = [r["RoleName"] for r in clients.iam.list_roles()["Roles"]]
    assert "layerforge-analytics-role" not in roles  # the pre-flight stopped before the role


def _inject(client: Any, event: str, respond: Any) -> None:
    client.meta.events.register(event, respond)


def _fault_in_cli(monkeypatch: pytest.MonkeyPatch, client: str, event: str, fault: Any) -> None:
    """Make the CLI's AWS clients meet ``fault`` on ``event`` (botocore's stubbing hook)."""
    real_connect = connect_aws

    def connect_with_fault(target: AwsTarget) -> AwsClients:
        connected = real_connect(target)
        _inject(getattr(connected, client), event, fault)
        return connected

    monkeypatch.setattr("layerforge.aws.clients.connect_aws", connect_with_fault)


def test_throttling_is_retried(clients: AwsClients, tmp_path: Path, bucket: str) -> None:
    """MOCKED FAULT: moto cannot throttle. The first two ListLayerVersions calls answer 429
    TooManyRequestsException (botocore's stubbing hook); the standard retry mode does the rest."""
    from botocore.awsrequest import AWSResponse

    calls: list[str] = []

    def throttle(request: Any, **_: Any) -> Any:
        calls.append(request.url)
        if len(calls) <= 2:
            body = b'{"__type": "TooManyRequestsException", "message": "Rate exceeded"}'
            return AWSResponse(
                request.url, 429, {"x-amzn-errortype": "TooManyRequestsException"}, _Raw(body)
            )
        return None

    _inject(clients.lambda_, "before-send.lambda.ListLayerVersions", throttle)
    layer = _small_zip(tmp_path / "t.zip", "T = 1\n")
    published = _publish(clients, layer, "layer-throttled", bucket)
    # two throttled and one answered before publishing, one after it (runs converge)
    assert published.version >= 1 and len(calls) == 4


class _Raw(io.BytesIO):
    def stream(self, **_: Any) -> Any:
        yield self.getvalue()


def test_access_denied_is_one_clear_error(
    clients: AwsClients,
    tmp_path: Path,
    bucket: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    aws_env: str,
) -> None:
    """MOCKED FAULT: moto does not enforce IAM here; PublishLayerVersion answers 403."""
    from botocore.awsrequest import AWSResponse

    def deny(request: Any, **_: Any) -> Any:
        body = (
            b'{"__type": "AccessDeniedException",'
            b' "Message": "not authorized to perform lambda:PublishLayerVersion"}'
        )
        return AWSResponse(
            request.url, 403, {"x-amzn-errortype": "AccessDeniedException"}, _Raw(body)
        )

    _fault_in_cli(monkeypatch, "lambda_", "before-send.lambda.PublishLayerVersion", deny)
    layer = _small_zip(tmp_path / "d.zip", "D = 1\n")
    code, _, err = _publish_cli(
        capsys, aws_env, str(layer), bucket, "--layer-name", "layer-denied", "--create-role"
    )
    assert code == 3
    assert "publishing the layer: AccessDeniedException" in err and "permission" in err
    assert "Traceback" not in err


def test_update_in_progress_is_waited_out(clients: AwsClients, tmp_path: Path) -> None:
    """MOCKED FAULT: moto finishes updates instantly; the first UpdateFunctionCode answers
    409 ResourceConflictException as Lambda does while an update is in progress."""
    from botocore.awsrequest import AWSResponse

    role = ensure_role(clients.iam, "busy-role", MINIMAL_POLICY, function="fn-busy").arn
    code_zip = _small_zip(tmp_path / "code.zip", "def h(e, c):\n    return {}\n")
    config = FunctionConfig(
        name="fn-busy", role_arn=role, runtime=PY311, architecture=X86, handler="marker.h"
    )
    deploy_function(clients.lambda_, config, code_zip.read_bytes())
    conflicts: list[int] = []

    def busy(request: Any, **_: Any) -> Any:
        if not conflicts:
            conflicts.append(1)
            body = b'{"__type": "ResourceConflictException", "message": "An update is in progress"}'
            return AWSResponse(
                request.url, 409, {"x-amzn-errortype": "ResourceConflictException"}, _Raw(body)
            )
        return None

    _inject(clients.lambda_, "before-send.lambda.UpdateFunctionCode", busy)
    deployed = deploy_function(clients.lambda_, config, code_zip.read_bytes())
    assert not deployed.created and conflicts == [1]


def test_proof_run_defaults_are_sane(tmp_path: Path) -> None:
    run = ProofRun(
        layer=tmp_path / "x.zip",
        bucket="b",
        runtime=PY311,
        architecture=X86,
        function=bundled_function(),
        proof=bundled_spec(),
    )
    assert run.event == {"rows": 10_000} and run.effective_role_name == "layerforge-analytics-role"


def test_invoke_timeout_is_one_clear_error(
    clients: AwsClients,
    tmp_path: Path,
    bucket: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    aws_env: str,
) -> None:
    """MOCKED FAULT: moto does not enforce function timeouts; the Invoke call's read times out
    as botocore reports it when a synchronous invocation outlives the client's read timeout."""
    from botocore.exceptions import ReadTimeoutError

    def time_out(request: Any, **_: Any) -> Any:
        raise ReadTimeoutError(endpoint_url=request.url)

    _fault_in_cli(monkeypatch, "lambda_invoke", "before-send.lambda.Invoke", time_out)
    function_zip = _small_zip(tmp_path / "fn.zip", "def h(e, c):\n    return {}\n")
    layer = _small_zip(tmp_path / "layer.zip", "X = 1\n")
    code, _, err = _publish_cli(
        capsys,
        aws_env,
        str(layer),
        bucket,
        "--function-name",
        "fn-timeout",
        "--layer-name",
        "layer-timeout",
        "--create-role",
        "--function-zip",
        str(function_zip),
        "--handler",
        "marker.h",
    )
    assert code == 3
    assert "invoking the function: Read timeout" in err and "Traceback" not in err
