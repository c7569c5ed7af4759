"""Ownership and convergence against the moto server: layerforge changes only what it made, and
two runs that meet end with one role, one function and one layer version per sha256.

The races are real, not mocked: a botocore ``before-call`` hook lets "the other run" (a second
client) make the role, function or layer version just before this run's own create call is
sent, so moto answers EntityAlreadyExists, ResourceConflictException or publishes a duplicate,
exactly as AWS does when two processes meet.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from layerforge.archive import sha256_of
from layerforge.aws.clients import AwsClients
from layerforge.aws.deploy import FunctionConfig, deploy_function
from layerforge.aws.ownership import function_policy_name
from layerforge.aws.proven import code_sha256
from layerforge.aws.publish import PublishedLayer
from layerforge.aws.regions import LayerPublish, publish_everywhere
from layerforge.aws.role import ensure_role
from layerforge.errors import UsageError
from tests.conftest import run_cli
from tests.integration.aws.fixtures import (
    ADMIN,
    HANDLER_CODE,
    PY311,
    REGION,
    X86,
    foreign_function,
    foreign_role,
    policy_for,
    publish_zip,
    small_zip,
    unique,
)


def before_call(client: Any, operation: str, action: Callable[[], object]) -> None:
    """Run ``action`` once, just before ``client`` sends ``operation``."""
    done: list[bool] = []

    def hook(**_: Any) -> None:
        if not done:
            done.append(True)
            action()

    client.meta.events.register(
        f"before-call.{client.meta.service_model.service_name}.{operation}", hook
    )


def inline_policies(clients: AwsClients, role: str) -> list[str]:
    return sorted(clients.iam.list_role_policies(RoleName=role)["PolicyNames"])


# -- roles -------------------------------------------------------------------------------------


def test_a_role_layerforge_did_not_make_is_refused_and_left_as_it_was(clients: AwsClients) -> None:
    name = unique("theirs")
    foreign_role(clients, name)
    with pytest.raises(UsageError) as refused:
        ensure_role(clients.iam, name, policy_for("fn"), function="fn")
    assert f"role {name} exists and layerforge did not make it" in refused.value.message
    assert "inline policy admin (allows * on *)" in refused.value.message
    assert "--role-arn arn:aws:iam::" in str(refused.value.hint)
    assert inline_policies(clients, name) == ["admin"]  # nothing added next to it


def test_a_layerforge_role_holding_a_policy_it_did_not_write_is_refused(
    clients: AwsClients,
) -> None:
    name, function = unique("ours"), unique("fn")
    ensure_role(clients.iam, name, policy_for(function), function=function)
    managed = clients.iam.create_policy(
        PolicyName=unique("extra"), PolicyDocument=json.dumps(ADMIN)
    )["Policy"]["Arn"]
    clients.iam.attach_role_policy(RoleName=name, PolicyArn=managed)
    clients.iam.put_role_policy(RoleName=name, PolicyName="added", PolicyDocument=json.dumps(ADMIN))
    with pytest.raises(UsageError) as refused:
        ensure_role(clients.iam, name, policy_for(function), function=function)
    message = refused.value.message
    assert f"role {name} was made by layerforge but now also holds" in message
    assert "inline policy added" in message and f"managed policy {managed}" in message


def test_functions_sharing_a_role_each_keep_their_own_policy(clients: AwsClients) -> None:
    name, first, second = unique("shared"), unique("fn"), unique("fn")
    ensure_role(clients.iam, name, policy_for(first), function=first)
    again = ensure_role(clients.iam, name, policy_for(second), function=second)
    assert again.created is False
    assert inline_policies(clients, name) == sorted(
        [function_policy_name(first), function_policy_name(second)]
    )
    stored = clients.iam.get_role_policy(RoleName=name, PolicyName=function_policy_name(first))
    document = stored["PolicyDocument"]
    assert (json.loads(document) if isinstance(document, str) else document) == policy_for(first)


def test_a_role_created_beside_this_run_is_reused(clients: AwsClients, other: AwsClients) -> None:
    name, function = unique("race"), unique("fn")
    policy = policy_for(function)
    before_call(
        clients.iam,
        "CreateRole",
        lambda: ensure_role(other.iam, name, policy, function=function),
    )
    role = ensure_role(clients.iam, name, policy, function=function)
    assert role.created is False and role.fresh is True  # IAM may still be propagating it
    assert inline_policies(clients, name) == [function_policy_name(function)]


def test_a_foreign_role_created_beside_this_run_is_refused(
    clients: AwsClients, other: AwsClients
) -> None:
    name = unique("race")
    before_call(clients.iam, "CreateRole", lambda: foreign_role(other, name))
    with pytest.raises(UsageError, match="layerforge did not make it"):
        ensure_role(clients.iam, name, policy_for("fn"), function="fn")
    assert inline_policies(clients, name) == ["admin"]


# -- functions ---------------------------------------------------------------------------------


def _config(clients: AwsClients, name: str) -> FunctionConfig:
    role = ensure_role(clients.iam, f"{name}-role", policy_for(name), function=name).arn
    return FunctionConfig(
        name=name, role_arn=role, runtime=PY311, architecture=X86, handler="code.handler"
    )


def test_a_function_created_beside_this_run_is_reused(
    clients: AwsClients, other: AwsClients, tmp_path: Path
) -> None:
    name = unique("fn")
    config = _config(clients, name)
    theirs = small_zip(tmp_path / "a.zip", {"code.py": HANDLER_CODE})
    ours = small_zip(tmp_path / "b.zip", {"code.py": HANDLER_CODE.replace("1", "2")})
    before_call(
        clients.lambda_,
        "CreateFunction",
        lambda: deploy_function(other.lambda_, config, theirs.read_bytes()),
    )
    deployed = deploy_function(clients.lambda_, config, ours.read_bytes())
    assert deployed.created is False
    found = clients.lambda_.get_function(FunctionName=name)
    assert found["Tags"] == {"managed-by": "layerforge"}
    assert found["Configuration"]["CodeSha256"] == code_sha256(ours.read_bytes())  # this run's


def test_a_function_layerforge_did_not_deploy_is_never_updated(
    clients: AwsClients, tmp_path: Path
) -> None:
    name = unique("fn")
    config = _config(clients, name)
    foreign_function(clients, name, config.role_arn, tmp_path)
    with pytest.raises(UsageError, match="layerforge did not deploy it"):
        deploy_function(clients.lambda_, config, b"other code")


# -- layer versions ----------------------------------------------------------------------------


def _versions(clients: AwsClients, name: str) -> list[int]:
    listed = clients.lambda_.list_layer_versions(LayerName=name)["LayerVersions"]
    return sorted(int(v["Version"]) for v in listed)


@pytest.mark.parametrize("when", ["before-call", "after-call"])
def test_two_publishes_of_one_zip_at_once_keep_one_version(
    clients: AwsClients, other: AwsClients, tmp_path: Path, when: str
) -> None:
    """The other run publishes the same zip just before (or just after) this run's own
    PublishLayerVersion: whichever order, both end with the oldest version, and it alone."""
    layer = small_zip(tmp_path / "layer.zip", {"python/m.py": f"X = {uuid.uuid4().hex!r}\n"})
    name = unique("layer")
    theirs: list[PublishedLayer] = []
    done: list[bool] = []

    def publish_beside(**_: Any) -> None:
        if not done:
            done.append(True)
            theirs.append(publish_zip(other, layer, name))

    clients.lambda_.meta.events.register(f"{when}.lambda.PublishLayerVersion", publish_beside)
    ours = publish_zip(clients, layer, name)
    assert _versions(clients, name) == [1]
    assert ours.version == theirs[0].version == 1
    assert [ours.reused, theirs[0].reused].count(False) == 1  # one of them published it


def test_a_version_layerforge_did_not_publish_is_never_reused(
    clients: AwsClients, tmp_path: Path
) -> None:
    layer = small_zip(tmp_path / "layer.zip", {"python/m.py": f"X = {uuid.uuid4().hex!r}\n"})
    name = unique("layer")
    clients.lambda_.publish_layer_version(
        LayerName=name,
        Content={"ZipFile": layer.read_bytes()},
        Description=f"hand-made sha256:{sha256_of(layer)}",
    )
    published = publish_zip(clients, layer, name)
    assert published.reused is False and published.version == 2


# -- the pre-flight (and --dry-run) --------------------------------------------------------------


@pytest.fixture
def dry_run(
    clients: AwsClients, aws_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, Any]]:
    """``dry_run(*extra)``: publish-and-invoke --create-role --dry-run --json with a small
    layer and a bucket of its own: (exit code, the JSON document)."""
    bucket = unique("bucket")
    clients.s3.create_bucket(Bucket=bucket)
    layer = small_zip(tmp_path / "layer.zip", {"python/m.py": "X = 1\n"})
    where = ("--bucket", bucket, "--region", REGION, "--endpoint-url", aws_env)

    def run(*extra: str) -> tuple[int, Any]:
        flags = ("--create-role", "--dry-run", "--json", *extra)
        code, document, _ = run_cli(
            capsys, "publish-and-invoke", "--layer", str(layer), *where, *flags
        )
        return code, document

    return run


def test_the_dry_run_refuses_a_function_or_state_machine_layerforge_did_not_make(
    clients: AwsClients, tmp_path: Path, dry_run: Callable[..., tuple[int, Any]]
) -> None:
    name = unique("fn")
    role = foreign_role(clients, unique("theirs"))
    foreign_function(clients, name, role, tmp_path)
    status, document = dry_run("--function-name", name)
    assert status == 2, document
    assert f"function {name} exists and layerforge did not deploy it" in document["error"]
    assert "tag-resource" in document["hint"]

    machine = unique("fn")
    clients.stepfunctions.create_state_machine(
        name=f"{machine}-fanout",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        roleArn=role,
    )
    status, document = dry_run("--function-name", machine, "--shards", "2")
    assert status == 2, document
    refused = f"state machine {machine}-fanout exists and layerforge did not make it"
    assert refused in document["error"]


def test_the_dry_run_refuses_a_foreign_role_before_anything_changes(
    clients: AwsClients, dry_run: Callable[..., tuple[int, Any]]
) -> None:
    name = unique("fn")
    foreign_role(clients, f"{name}-role")
    status, document = dry_run("--function-name", name)
    assert status == 2, document
    assert f"role {name}-role exists and layerforge did not make it" in document["error"]
    assert "* on *" in document["error"] and "--role-arn" in document["hint"]


def test_a_grant_made_beside_this_run_is_reused(clients: AwsClients, tmp_path: Path) -> None:
    """MOCKED FAULT: moto accepts a statement id twice; AWS answers 409
    ResourceConflictException when a run beside this one granted the same account first."""
    from botocore.awsrequest import AWSResponse

    layer = small_zip(tmp_path / "layer.zip", {"python/m.py": f"X = {uuid.uuid4().hex!r}\n"})
    name, account = unique("layer"), "210987654321"
    answered: list[int] = []

    class Raw:
        def stream(self, **_: Any) -> Any:
            yield b'{"__type": "ResourceConflictException", "message": "statement id exists"}'

    def granted_beside(request: Any, **_: Any) -> Any:
        answered.append(409)
        return AWSResponse(
            request.url, 409, {"x-amzn-errortype": "ResourceConflictException"}, Raw()
        )

    clients.lambda_.meta.events.register(
        "before-send.lambda.AddLayerVersionPermission", granted_beside
    )
    request = LayerPublish(
        layer=layer,
        layer_name=name,
        regions=(REGION,),
        runtimes=(PY311,),
        architectures=(X86,),
        principals=(account,),
    )
    outcome = publish_everywhere(request, lambda region: clients)
    assert outcome.failed == {} and outcome.permissions == {REGION: [account]}
    assert answered == [409]
