"""Ownership, convergence and messages, run as users run them (the installed command) against
the moto server: a role layerforge did not make is refused before anything changes, two runs in
parallel converge to one role, one function and one layer version, and every failure is one
ERROR line with a hint that names an option the command has."""

from __future__ import annotations

import json
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from layerforge.aws.ownership import function_policy_name
from layerforge.aws.role import TRUST_POLICY
from tests.adversarial.conftest import LF, failed_as_json, failed_cleanly, zip_of
from tests.adversarial.harness import Run
from tests.adversarial.test_publish_inputs import REGION, aws
from tests.integration.aws.fixtures import ADMIN

pytestmark = [pytest.mark.adversarial, pytest.mark.slow]
__all__ = ["aws"]  # the moto fixture, shared with the other publish cases


def _argv(aws: dict[str, Any], layer: Path, name: str, *extra: str) -> list[str]:
    where = ("--bucket", aws["bucket"], "--region", REGION, "--endpoint-url", aws["endpoint"])
    names = ("--function-name", name, "--layer-name", name)
    return ["publish-and-invoke", "--layer", str(layer), *where, *names, *extra]


def test_a_foreign_admin_role_is_refused_before_anything_changes(
    lf: LF, aws: dict[str, Any], small_layer: Path
) -> None:
    name = f"adv-{uuid.uuid4().hex[:8]}"
    role = aws["iam"].create_role(
        RoleName=f"{name}-role", AssumeRolePolicyDocument=json.dumps(TRUST_POLICY)
    )["Role"]["Arn"]
    aws["iam"].put_role_policy(
        RoleName=f"{name}-role", PolicyName="admin", PolicyDocument=json.dumps(ADMIN)
    )
    for extra in ([], ["--dry-run"]):
        run = lf(*_argv(aws, small_layer, name, "--create-role", *extra), env=aws["env"])
        failed_cleanly(run, 2, f"role {name}-role exists and layerforge did not make it", bound=30)
        assert "inline policy admin (allows * on *)" in run.error_lines[0]
        assert f"--role-arn {role}" in run.hint_lines[0]
        assert aws["lambda"].list_layer_versions(LayerName=name)["LayerVersions"] == []
        functions = [f["FunctionName"] for f in aws["lambda"].list_functions()["Functions"]]
        assert name not in functions
    assert aws["iam"].list_role_policies(RoleName=f"{name}-role")["PolicyNames"] == ["admin"]
    tags = aws["iam"].list_role_tags(RoleName=f"{name}-role")["Tags"]
    assert tags == []  # not adopted


def _both(lf: LF, argv: list[str], env: dict[str, str]) -> list[Run]:
    """The same command twice, at the same time, as two real processes."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = [pool.submit(lf, *argv, env=env, timeout=240) for _ in range(2)]
        return [run.result() for run in runs]


def _converged(aws: dict[str, Any], name: str, runs: list[Run]) -> dict[str, Any]:
    for run in runs:
        assert run.code == 0, run.describe()
    proofs: list[dict[str, Any]] = [run.json() for run in runs]
    assert len({p["layer"]["arn"] for p in proofs}) == 1, proofs
    assert (
        len({p["function"]["arn"] for p in proofs}) == 1
        and len({p["role"]["arn"] for p in proofs}) == 1
    )
    versions = aws["lambda"].list_layer_versions(LayerName=name)["LayerVersions"]
    digests = [v["Description"] for v in versions]
    assert len(digests) == len(set(digests)), versions  # one version per sha256
    functions = [f["FunctionName"] for f in aws["lambda"].list_functions()["Functions"]]
    assert functions.count(name) == 1
    policies = aws["iam"].list_role_policies(RoleName=f"{name}-role")["PolicyNames"]
    assert policies == [function_policy_name(name)]
    return proofs[0]


def test_two_runs_in_parallel_converge_with_new_and_with_existing_names(
    lf: LF, aws: dict[str, Any], work: Path
) -> None:
    name = f"adv-{uuid.uuid4().hex[:8]}"
    code = zip_of(work / "code.zip", {"code.py": b"def handler(event, context):\n    return {}\n"})
    common = ["--create-role", "--function-zip", str(code), "--handler", "code.handler", "--json"]
    first = zip_of(work / "first.zip", {"python/m.py": f"X = {uuid.uuid4().hex!r}\n".encode()})
    proof = _converged(aws, name, _both(lf, _argv(aws, first, name, *common), aws["env"]))
    assert proof["layer"]["version"] == 1
    # the role, the function and the layer exist now; a new zip is published by both at once
    second = zip_of(work / "second.zip", {"python/m.py": f"X = {uuid.uuid4().hex!r}\n".encode()})
    proof = _converged(aws, name, _both(lf, _argv(aws, second, name, *common), aws["env"]))
    versions = aws["lambda"].list_layer_versions(LayerName=name)["LayerVersions"]
    assert len(versions) == 2 and proof["layer"]["version"] == max(v["Version"] for v in versions)


def test_the_sandbox_failure_hint_names_a_sandbox_option(lf: LF, small_layer: Path) -> None:
    run = lf(
        "invoke-local",
        "--layer",
        str(small_layer),
        "--sandbox",
        "docker",
        env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"},
    )
    failed_cleanly(run, 3, "the sandbox could not start", "--sandbox bwrap", bound=30)
    assert "--backend" not in run.err


def test_a_missing_staging_bucket_names_staging_bucket_and_json_is_the_error_document(
    lf: LF, aws: dict[str, Any], work: Path
) -> None:
    big = zip_of(work / "big.zip", {"python/blob.bin": os.urandom(51 * 2**20)})
    name = f"adv-{uuid.uuid4().hex[:8]}"
    regions = ["--region", REGION, "--region", "eu-west-1"]
    argv = ["publish", str(big), "--layer-name", name, *regions, "--endpoint-url", aws["endpoint"]]
    absent = ["--staging-bucket", f"absent-{uuid.uuid4().hex[:8]}-{{region}}"]
    run = lf(*argv, *absent, env=aws["env"], timeout=120)
    failed_cleanly(run, 2, "2 regions failed", "--staging-bucket", bound=60)
    assert "--bucket" not in run.err.replace("--staging-bucket", "")
    assert "NOT PUBLISHED" in run.out and "PARTLY" not in run.out
    document = failed_as_json(lf(*argv, *absent, "--json", env=aws["env"], timeout=120), 2)
    assert document["details"]["passed"] is False
    assert set(document["details"]["regions"]) == {REGION, "eu-west-1"}
    # with a staging bucket in one region only, that region is published
    staged = ["--staging-bucket", f"{REGION}={aws['bucket']}"]
    run = lf(*argv, *staged, env=aws["env"], timeout=120)
    failed_cleanly(run, 2, "1 region failed: eu-west-1", "--staging-bucket eu-west-1=", bound=90)
    assert "PARTLY PUBLISHED (1 of 2 regions)" in run.out
