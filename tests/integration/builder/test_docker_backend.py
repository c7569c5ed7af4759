"""layerforge build --backend docker against a real Docker engine and a locally built image."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest

from layerforge.builder.backends.docker import (
    CA_BUNDLE,
    forwarded_environment,
)
from layerforge.builder.backends.docker import (
    DockerBackend as DockerInstaller,
)
from layerforge.builder.install.choice import InstallPlan
from layerforge.builder.request import LayerSpec
from layerforge.cli import main
from layerforge.containers import Container
from layerforge.events import Event
from layerforge.inputs import InputRequirement, Inputs
from layerforge.runtimes import Architecture, get_runtime
from tests.conftest import make_private_wheel, managed_containers

pytestmark = [pytest.mark.network, pytest.mark.slow]

#: A registry on loopback that is not there: pulls fail at once and no traffic leaves the host.
MISSING_IMAGE = "127.0.0.1:9/layerforge/no-such-image:0"


def _ignore(_event: Event) -> None:
    return None


def test_docker_build_matches_cross_and_compiles_with_the_image_python(
    lambda_image: str,
    seed_build: dict[str, Any],
    private_cache: Path,
    capsys: pytest.CaptureFixture[str],
    docker_client: Any,
) -> None:
    output = private_cache / "docker" / "seed.zip"
    argv = ["build", "--backend", "docker", "--image", lambda_image, "--json", "-o", str(output)]
    code = main([*argv, "--no-cache"])  # built here, whichever test built it first
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert code == 0, document
    assert document["backend"] == "docker" and document["installer"] == "pip+uv"
    assert "the image's pip resolves and downloads, uv installs exactly" in captured.err
    versions = {(p["name"], p["version"]) for p in document["packages"]}
    assert versions == {(p["name"], p["version"]) for p in seed_build["packages"]}
    bytecode = next(s for s in document["steps"] if s["name"] == "bytecode")
    assert f"in {lambda_image}" in bytecode["detail"]
    with zipfile.ZipFile(output) as archive:
        magics = {archive.read(n)[:4] for n in archive.namelist() if n.endswith(".pyc")}
    assert magics == {importlib.util.MAGIC_NUMBER}  # 3.11's, from the image's own 3.11
    assert document["verification"]["passed"] is True
    assert managed_containers(docker_client) == []


def test_image_pip_alone_and_image_pip_with_uv_unpacking_give_the_same_layer(
    lambda_image: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # fonttools brings console scripts and data files (share/man) that pip moves to the root
    built = {}
    for installer in ("pip", "auto"):
        output = tmp_path / installer / "layer.zip"
        argv = ["build", "fonttools==4.68.0", "six==1.17.0", "--backend", "docker"]
        argv += ["--image", lambda_image, "--installer", installer, "--no-cache", "--json"]
        code = main([*argv, "-o", str(output)])
        document = json.loads(capsys.readouterr().out)
        assert code == 0, document
        built[installer] = (document, output.read_bytes())
    assert built["pip"][0]["installer"] == "pip" and built["auto"][0]["installer"] == "pip+uv"
    assert built["auto"][0]["packages"] == built["pip"][0]["packages"]  # wheels and sha256s
    assert built["auto"][1] == built["pip"][1]  # byte-identical zips


def test_local_wheels_by_path_and_find_links_go_through_the_image_pip_and_uv(
    lambda_image: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], docker_client: Any
) -> None:
    wheels = tmp_path / "private wheels"  # a space: the mount and pip's paths must quote it
    wheel = make_private_wheel(wheels)
    common = ["--backend", "docker", "--image", lambda_image, "--no-cache", "--json"]
    code = main(["build", str(wheel), "six==1.17.0", *common, "-o", str(tmp_path / "a.zip")])
    by_path = json.loads(capsys.readouterr().out)
    assert code == 0, by_path
    links = ["private-pkg==1.0", "--find-links", str(wheels)]
    code = main(["build", *links, *common, "-o", str(tmp_path / "b.zip")])
    by_links = json.loads(capsys.readouterr().out)
    assert code == 0, by_links
    for document in (by_path, by_links):
        assert document["installer"] == "pip+uv"
        private = next(p for p in document["packages"] if p["name"].lower() == "private-pkg")
        assert private["wheel"] == wheel.name
        assert private["sha256"] == hashlib.sha256(wheel.read_bytes()).hexdigest()
    with zipfile.ZipFile(tmp_path / "b.zip") as archive:
        assert archive.read("python/private_pkg/__init__.py") == b"ANSWER = 42\n"
    assert managed_containers(docker_client) == []


def test_container_is_unprivileged_and_sees_only_work_and_ca(
    lambda_image: str, docker_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = tmp_path / "corp-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("PIP_CERT", str(ca))
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    spec = LayerSpec(
        inputs=Inputs(requirements=(InputRequirement("six"),)),
        runtime=get_runtime("python3.11"),
        architecture=Architecture.X86_64,
    )
    installer = DockerInstaller(docker_client, lambda_image, plan=InstallPlan("pip", "asked"))
    work = tmp_path / "work"
    work.mkdir()
    with installer.session(spec, work, _ignore) as session:
        attrs = docker_client.containers.get(session.container.id).attrs
        seen = session.container.call(
            ["sh", "-c", 'echo "$PIP_CERT $HTTPS_PROXY"; id -u; touch /x']
        )
        session.container.call(["sh", "-c", "touch /work/made-inside"])
    host = attrs["HostConfig"]
    assert host["CapDrop"] == ["ALL"] and host["ReadonlyRootfs"] is True
    assert "no-new-privileges" in host["SecurityOpt"]
    assert host["NetworkMode"] == "host"  # this daemon has no bridge
    mounts = {(m["Source"], m["Destination"], m["RW"]) for m in attrs["Mounts"]}
    assert mounts == {(str(work), "/work", True), (str(ca), CA_BUNDLE, False)}
    assert seen.stdout.split()[:3] == [CA_BUNDLE, "http://127.0.0.1:3128", str(os.getuid())]
    assert seen.returncode != 0  # the root filesystem is read-only
    assert (work / "made-inside").stat().st_uid == os.getuid()
    assert managed_containers(docker_client) == []


def test_forwarded_environment_carries_index_proxy_and_ca(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    env = forwarded_environment(
        {
            "PIP_INDEX_URL": "https://mirror.invalid/simple",
            "https_proxy": "http://proxy:3128",
            "REQUESTS_CA_BUNDLE": str(ca),
            "AWS_SECRET_ACCESS_KEY": "never-forwarded",
        }
    )
    assert env["PIP_INDEX_URL"] == "https://mirror.invalid/simple"
    assert env["https_proxy"] == "http://proxy:3128"
    assert env["PIP_CERT"] == CA_BUNDLE
    assert "AWS_SECRET_ACCESS_KEY" not in env


def test_failed_build_removes_its_container_and_keeps_the_last_layer(
    lambda_image: str, docker_client: Any, private_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = private_cache / "docker-fail" / "layer.zip"
    args = ["build", "--backend", "docker", "--image", lambda_image, "-o", str(output)]
    assert main([*args, "six==1.16.0"]) == 0
    good = output.read_bytes()
    assert main([*args, "docopt==0.6.2"]) == 1
    err = capsys.readouterr().err
    assert "docopt==0.6.2" in err and "Traceback" not in err
    assert output.read_bytes() == good
    assert managed_containers(docker_client) == []


def test_interrupt_removes_the_container(lambda_image: str, docker_client: Any) -> None:
    with pytest.raises(KeyboardInterrupt), Container(docker_client, lambda_image) as container:
        assert managed_containers(docker_client) == [container.id]
        raise KeyboardInterrupt
    assert managed_containers(docker_client) == []


def test_missing_image_is_a_clear_error(
    docker_client: Any, private_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "build",
            "--backend",
            "docker",
            "--image",
            MISSING_IMAGE,
            "six",
            "-o",
            str(private_cache / "m" / "l.zip"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 3
    assert MISSING_IMAGE in err and "could not be pulled" in err
    assert "--backend cross" in err and "Traceback" not in err


def test_unreachable_daemon_is_a_clear_error(
    private_cache: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{private_cache}/no-docker.sock")
    code = main(["build", "--backend", "docker", "six", "-o", str(private_cache / "u" / "l.zip")])
    err = capsys.readouterr().err
    assert code == 3
    assert "cannot reach the Docker daemon" in err and "--backend cross" in err
    assert "Traceback" not in err


def test_auto_takes_docker_when_the_image_is_there_and_cross_when_not(
    lambda_image: str, private_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = private_cache / "auto"
    assert main(["build", "six==1.16.0", "--image", lambda_image, "-o", str(out / "a.zip")]) == 0
    assert f"backend auto: using docker ({lambda_image})" in capsys.readouterr().err
    # an image that cannot be pulled: cross it is
    assert main(["build", "six==1.16.0", "--image", MISSING_IMAGE, "-o", str(out / "b.zip")]) == 0
    err = capsys.readouterr().err
    assert "backend auto: using cross (docker unavailable" in err
