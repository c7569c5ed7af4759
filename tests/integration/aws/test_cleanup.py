"""cleanup against the moto server: a layer version that any function version or alias uses is
kept, ``--function-name F`` removes what layerforge made for F (F-role included), a dry run
reports exactly what the real run then does, and nothing layerforge did not make is touched."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from layerforge.aws.clients import AwsClients
from layerforge.aws.deploy import FunctionConfig, deploy_function
from layerforge.aws.ownership import function_policy_name
from layerforge.aws.publish import STAGING_PREFIX, staging_key
from layerforge.aws.role import ensure_role
from tests.conftest import run_cli
from tests.integration.aws.fixtures import (
    HANDLER_CODE,
    PY311,
    REGION,
    X86,
    foreign_function,
    foreign_role,
    policy_for,
    small_zip,
    unique,
)


def _cleanup(
    capsys: pytest.CaptureFixture[str], endpoint: str, *argv: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The dry run's document, then the real run's (both exit 0)."""
    common = ["cleanup", *argv, "--region", REGION, "--endpoint-url", endpoint, "--json"]
    code, dry, err = run_cli(capsys, *common, "--dry-run")
    assert code == 0, (dry, err)
    code, real, err = run_cli(capsys, *common)
    assert code == 0, (real, err)
    return dry, real


def _same_but_dry(dry: dict[str, Any], real: dict[str, Any]) -> None:
    assert dry.pop("dry_run") is True and real.pop("dry_run") is False
    assert dry == real  # the dry run said exactly what the real run did


def _layer(clients: AwsClients, tmp_path: Path, name: str, *, ours: bool = True) -> str:
    content = small_zip(tmp_path / f"{uuid.uuid4().hex}.zip", {"python/m.py": uuid.uuid4().hex})
    description = f"layerforge sha256:{'0' * 64}" if ours else "made by hand"
    published = clients.lambda_.publish_layer_version(
        LayerName=name, Content={"ZipFile": content.read_bytes()}, Description=description
    )
    return str(published["LayerVersionArn"])


def _function(
    clients: AwsClients, tmp_path: Path, name: str, layers: tuple[str, ...], role: str = ""
) -> FunctionConfig:
    role_name = role or f"{name}-role"
    arn = ensure_role(clients.iam, role_name, policy_for(name), function=name).arn
    config = FunctionConfig(
        name=name,
        role_arn=arn,
        runtime=PY311,
        architecture=X86,
        handler="code.handler",
        layers=layers,
    )
    code = small_zip(tmp_path / f"{name}.zip", {"code.py": HANDLER_CODE})
    deploy_function(clients.lambda_, config, code.read_bytes())
    return config


@pytest.fixture
def held(clients: AwsClients, tmp_path: Path) -> dict[str, Any]:
    """Layer versions 1-5: 1 held by version 1 of the function (alias prod points at it), 2 by
    its published version 2, 3 unused, 4 unused but not layerforge's, 5 on $LATEST."""
    layer, function = unique("layer"), unique("fn")
    arns = [_layer(clients, tmp_path, layer, ours=number != 4) for number in range(1, 6)]
    _function(clients, tmp_path, function, (arns[0],))
    lambda_ = clients.lambda_
    first = lambda_.publish_version(FunctionName=function)["Version"]
    lambda_.create_alias(FunctionName=function, Name="prod", FunctionVersion=first)
    lambda_.update_function_configuration(FunctionName=function, Layers=[arns[1]])
    lambda_.get_waiter("function_updated_v2").wait(FunctionName=function)
    second = lambda_.publish_version(FunctionName=function)["Version"]
    lambda_.update_function_configuration(FunctionName=function, Layers=[arns[4]])
    return {"layer": layer, "function": function, "versions": (first, second)}


def test_versions_that_published_versions_and_aliases_use_are_kept(
    held: dict[str, Any], aws_env: str, capsys: pytest.CaptureFixture[str], clients: AwsClients
) -> None:
    function, (first, second) = held["function"], held["versions"]
    dry, real = _cleanup(capsys, aws_env, "--layer-name", held["layer"], "--keep", "1")
    assert real["deleted_layer_versions"] == [3]
    assert real["kept_in_use"] == {
        "2": [f"{function}:{second}"],
        "1": [f"{function}:{first} (alias prod)"],
    }
    assert real["kept"] == {"layer version 4": "not published by layerforge"}
    assert real["kept_layer_versions"] == [5, 4, 2, 1]
    _same_but_dry(dry, real)
    listed = clients.lambda_.list_layer_versions(LayerName=held["layer"])["LayerVersions"]
    assert sorted(v["Version"] for v in listed) == [1, 2, 4, 5]


def test_removing_the_function_removes_its_role_and_frees_its_versions(
    held: dict[str, Any], aws_env: str, capsys: pytest.CaptureFixture[str], clients: AwsClients
) -> None:
    function = held["function"]
    argv = ["--layer-name", held["layer"], "--keep", "0", "--function-name", function]
    dry, real = _cleanup(capsys, aws_env, *argv)
    assert real["deleted_function"] is True
    assert real["deleted_roles"] == [f"{function}-role"] and real["deleted_role"] is True
    assert real["deleted_layer_versions"] == [5, 3, 2, 1]  # no user left once it is gone
    assert real["kept_layer_versions"] == [4] and real["failures"] == []
    _same_but_dry(dry, real)
    roles = [r["RoleName"] for r in clients.iam.list_roles()["Roles"]]
    assert f"{function}-role" not in roles
    # a rerun finds nothing more to do, and its dry run says so
    dry, again = _cleanup(capsys, aws_env, *argv)
    assert again["deleted_function"] is False and again["deleted_roles"] == []
    assert again["deleted_layer_versions"] == []
    _same_but_dry(dry, again)


def test_a_shared_role_loses_only_the_removed_functions_policy(
    clients: AwsClients, tmp_path: Path, aws_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    role, first, second = unique("shared"), unique("fn"), unique("fn")
    _function(clients, tmp_path, first, (), role=role)
    _function(clients, tmp_path, second, (), role=role)
    argv = ["--layer-name", unique("none"), "--function-name", first, "--role-name", role]
    dry, real = _cleanup(capsys, aws_env, *argv)
    assert real["deleted_function"] is True and real["deleted_roles"] == []
    assert real["removed_role_policies"] == [f"{role}/{function_policy_name(first)}"]
    assert real["kept"] == {f"role {role}": f"still used by {second}"}
    _same_but_dry(dry, real)
    policies = clients.iam.list_role_policies(RoleName=role)["PolicyNames"]
    assert policies == [function_policy_name(second)]


def test_what_layerforge_did_not_make_is_never_deleted(
    clients: AwsClients, tmp_path: Path, aws_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    function = unique("theirs")
    role = foreign_role(clients, f"{function}-role", admin=False)
    foreign_function(clients, function, role, tmp_path)
    bucket = unique("stage")
    clients.s3.create_bucket(Bucket=bucket)
    leftover = staging_key("layer", "a" * 64)
    for key in (leftover, f"{STAGING_PREFIX}/notes.txt"):
        clients.s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    argv = ["--layer-name", unique("none"), "--function-name", function]
    dry, real = _cleanup(capsys, aws_env, *argv, "--staging-bucket", bucket)
    assert real["deleted_function"] is False and real["deleted_roles"] == []
    assert real["deleted_staging_objects"] == [leftover]
    assert real["kept"] == {
        f"function {function}": "not deployed by layerforge (no managed-by tag)",
        f"role {function}-role": f"role {function}-role exists and layerforge did not make it "
        "(it has no managed-by=layerforge tag); it holds no policies",
        f"s3://{bucket}/{STAGING_PREFIX}/notes.txt": "not a staging object layerforge names",
    }
    _same_but_dry(dry, real)
    assert clients.lambda_.get_function(FunctionName=function)["Configuration"]
    assert clients.iam.get_role(RoleName=f"{function}-role")["Role"]
    listed = clients.s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in listed] == [f"{STAGING_PREFIX}/notes.txt"]
