"""One rule for a layer's manifest in every command: it is read only when it describes that
very zip (its sha256 and size); one that does not is ignored, said so, and --runtime/--arch
are then required. Flags win over a manifest."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.adversarial.conftest import LF, failed_cleanly, zip_of
from tests.conftest import compile_shared_library

pytestmark = [pytest.mark.adversarial, pytest.mark.slow]

REGION = "us-east-1"


def _manifest_for(layer: Path, runtime: str, arch: str, *, of: bytes | None = None) -> Path:
    """A manifest beside ``layer`` as a build writes it (the fields commands read), describing
    ``of`` (another zip's bytes) if given."""
    data = layer.read_bytes() if of is None else of
    manifest = layer.with_name(layer.name.removesuffix(".zip") + ".manifest.json")
    document = {
        "runtime": runtime,
        "architecture": arch,
        "sha256": hashlib.sha256(data).hexdigest(),
        "zipped_bytes": len(data),
    }
    manifest.write_text(json.dumps(document))
    return manifest


CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@pytest.fixture
def aws(moto_endpoint: str) -> dict[str, Any]:
    """The moto server, as the command (its environment) and this test (a client) see it."""
    client = boto3.Session(*CREDENTIALS.values(), region_name=REGION).client(
        "lambda", endpoint_url=moto_endpoint
    )
    env = {**CREDENTIALS, "AWS_DEFAULT_REGION": REGION}
    return {"env": env, "endpoint": moto_endpoint, "lambda": client}


def _publish(lf: LF, aws: dict[str, Any], layer: Path, name: str, *flags: str) -> Any:
    argv = ["publish", str(layer), "--layer-name", name, "--region", REGION]
    return lf(*argv, "--endpoint-url", aws["endpoint"], "--json", *flags, env=aws["env"])


def _compatible(aws: dict[str, Any], name: str) -> list[tuple[list[str], list[str]]]:
    versions = aws["lambda"].list_layer_versions(LayerName=name)["LayerVersions"]
    return [(v["CompatibleRuntimes"], v["CompatibleArchitectures"]) for v in versions]


def test_publish_ignores_a_manifest_of_another_zip_and_requires_the_flags(
    lf: LF, work: Path, small_layer: Path, aws: dict[str, Any]
) -> None:
    """The field case: a python3.11 layer beside a python3.12 build's manifest."""
    _manifest_for(small_layer, "python3.12", "arm64", of=b"PK another build's zip")
    name = f"mismatch-{uuid.uuid4().hex[:8]}"
    refused = _publish(lf, aws, small_layer, name)
    failed_cleanly(refused, 2, "ignoring", "small.manifest.json", "give --runtime and --arch")
    assert _compatible(aws, name) == []  # nothing was published
    one_flag = _publish(lf, aws, small_layer, name, "--runtime", "python3.11")
    failed_cleanly(one_flag, 2, "give --arch")
    published = _publish(lf, aws, small_layer, name, "--runtime", "python3.11", "--arch", "x86_64")
    assert published.code == 0, published.describe()
    assert _compatible(aws, name) == [(["python3.11"], ["x86_64"])]


def test_publish_takes_the_targets_of_a_manifest_that_describes_the_zip(
    lf: LF, work: Path, small_layer: Path, aws: dict[str, Any]
) -> None:
    _manifest_for(small_layer, "python3.12", "arm64")
    name = f"described-{uuid.uuid4().hex[:8]}"
    published = _publish(lf, aws, small_layer, name)
    assert published.code == 0, published.describe()
    assert _compatible(aws, name) == [(["python3.12"], ["arm64"])]


@pytest.fixture
def x86_extension_layer(work: Path) -> Path:
    """A layer whose one extension module is a real x86_64 shared object (gcc, here)."""
    built = compile_shared_library("int answer(void) { return 42; }\n", work / "answer.so")
    return zip_of(
        work / "ext.zip", {"python/answer.cpython-311-x86_64-linux-gnu.so": built.read_bytes()}
    )


def test_verify_abi_checks_the_architecture_its_manifest_records(
    lf: LF, work: Path, x86_extension_layer: Path
) -> None:
    plain = lf("verify-abi", "ext.zip", "--json")  # no manifest: python3.11/x86_64
    assert plain.code == 0, plain.describe()
    _manifest_for(x86_extension_layer, "python3.11", "arm64")
    as_arm = lf("verify-abi", "ext.zip", "--json")
    assert as_arm.code == 1, as_arm.describe()
    report = as_arm.json()
    assert (report["runtime"], report["architecture"]) == ("python3.11", "arm64")
    assert "elf-arch" in {f["rule"] for f in report["findings"]}
    flagged = lf("verify-abi", "ext.zip", "--arch", "x86_64", "--json")  # a flag wins
    assert flagged.code == 0 and flagged.json()["architecture"] == "x86_64", flagged.describe()


def test_verify_abi_refuses_to_guess_when_the_manifest_is_anothers(
    lf: LF, work: Path, x86_extension_layer: Path
) -> None:
    _manifest_for(x86_extension_layer, "python3.11", "arm64", of=b"PK not this zip")
    failed_cleanly(lf("verify-abi", "ext.zip"), 2, "ignoring ext.manifest.json", "--runtime")
    both = lf("verify-abi", "ext.zip", "--runtime", "python3.11", "--arch", "x86_64")
    assert both.code == 0, both.describe()


@pytest.mark.parametrize(
    "command",
    [
        ["smoke", "small.zip"],
        ["invoke-local", "--layer", "small.zip"],
        ["publish-and-invoke", "--layer", "small.zip", "--bucket", "results", "--dry-run"],
    ],
)
def test_the_other_commands_follow_the_same_rule(
    lf: LF, work: Path, small_layer: Path, command: list[str]
) -> None:
    """Refused before any sandbox starts or AWS is asked anything."""
    _manifest_for(small_layer, "python3.12", "arm64", of=b"PK another build's zip")
    failed_cleanly(lf(*command), 2, "ignoring small.manifest.json", "give --runtime and --arch")
