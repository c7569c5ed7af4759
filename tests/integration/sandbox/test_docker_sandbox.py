"""The Lambda-like sandbox catches what static checks cannot: broken imports, missing
libraries, writes outside /tmp, GUI backends. And the real payload runs in it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sysconfig
import uuid
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest

from layerforge.cli import main
from layerforge.events import Event
from layerforge.functions import HANDLER, bundled_function
from layerforge.runtimes import Architecture, get_runtime
from layerforge.sandbox import SandboxSpec, docker_sandbox
from tests.conftest import compile_shared_library, json_document, managed_containers

pytestmark = [pytest.mark.slow]

PY311 = get_runtime("python3.11")


def _ignore(_event: Event) -> None:
    return None


def _spec(image: str, **extra: Any) -> SandboxSpec:
    return SandboxSpec(runtime=PY311, architecture=Architecture.X86_64, image=image, **extra)


def _rewrite(
    layer: Path,
    destination: Path,
    *,
    drop: tuple[str, ...] = (),
    add: dict[str, bytes] | None = None,
) -> Path:
    with zipfile.ZipFile(layer) as source, zipfile.ZipFile(destination, "w") as target:
        for info in source.infolist():
            if not info.filename.startswith(drop) or not drop:
                target.writestr(info, source.read(info))
        for name, data in (add or {}).items():
            target.writestr(name, data)
    return destination


def test_reference_layer_imports_cleanly(
    seed_build: dict[str, Any],
    lambda_image: str,
    capsys: pytest.CaptureFixture[str],
    docker_client: Any,
) -> None:
    assert main(["smoke", seed_build["output"], "--image", lambda_image, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    modules = {m["module"]: m for m in report["modules"]}
    assert {"numpy", "pandas", "matplotlib", "seaborn"} <= set(modules)
    assert all(m["ok"] for m in modules.values())
    assert all(m["seconds"] > 0 for m in (modules["pandas"], modules["seaborn"]))
    assert managed_containers(docker_client) == []


def test_module_deleted_from_a_package_fails_naming_it(
    seed_build: dict[str, Any],
    lambda_image: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dropped = ("python/seaborn/utils.py", "python/seaborn/__pycache__/utils.")
    broken = _rewrite(Path(seed_build["output"]), tmp_path / "broken.zip", drop=dropped)
    assert main(["smoke", str(broken), "--image", lambda_image]) == 1
    out = capsys.readouterr().out
    assert "seaborn" in out and "FAIL" in out and "seaborn.utils" in out


def _extension_needing(tmp_path: Path, library: str) -> bytes:
    """A real CPython extension module linked against lib<library>.so (compiled here)."""
    build = tmp_path / "ext"
    build.mkdir()
    compile_shared_library("int helper(void){return 1;}\n", build / f"lib{library}.so")
    source = (
        "#include <Python.h>\nextern int helper(void);\n"
        'static struct PyModuleDef m = {PyModuleDef_HEAD_INIT, "needslib", 0, -1, 0};\n'
        "PyMODINIT_FUNC PyInit_needslib(void){ helper(); return PyModule_Create(&m); }\n"
    )
    include = sysconfig.get_paths()["include"]
    return compile_shared_library(
        source, build / "needslib.so", f"-I{include}", f"-L{build}", f"-l{library}"
    ).read_bytes()


def test_extension_whose_library_is_absent_fails_naming_the_module(
    seed_build: dict[str, Any], lambda_image: str, tmp_path: Path, docker_client: Any
) -> None:
    extension = _extension_needing(tmp_path, "layerforgeabsent")
    layer = _rewrite(
        Path(seed_build["output"]),
        tmp_path / "l.zip",
        add={
            "python/needslib.cpython-311-x86_64-linux-gnu.so": extension,
            "python/needslib-1.0.dist-info/RECORD": b"needslib.cpython-311-x86_64-linux-gnu.so,,\n",
        },
    )
    from layerforge.sandbox import smoke_test

    report = smoke_test(layer, _spec(lambda_image), engine="docker", sink=_ignore)
    assert [m.module for m in report.failed] == ["needslib"]
    assert "liblayerforgeabsent.so" in report.failed[0].error


@pytest.fixture
def task(tmp_path: Path) -> Path:
    folder = tmp_path / "task"
    folder.mkdir(mode=0o755)
    (folder / "misbehaving.py").write_text(
        "def write_task_root(event, context):\n"
        "    open('/var/task/result.csv', 'w').write('x')\n"
        "def write_tmp(event, context):\n"
        "    open('/tmp/result.csv', 'w').write('x'); return {'ok': True}\n"
        "def show_plot(event, context):\n"
        "    import matplotlib\n"
        "    matplotlib.use('TkAgg')\n"
        "    import matplotlib.pyplot as plt\n"
        "    plt.plot([1, 2]); plt.show()\n"
    )
    (folder / "misbehaving.py").chmod(0o644)
    return folder


def test_writes_outside_tmp_and_gui_backends_fail_as_in_lambda(
    seed_build: dict[str, Any], lambda_image: str, task: Path, docker_client: Any
) -> None:
    layer = Path(seed_build["output"])
    with docker_sandbox(docker_client, layer, _spec(lambda_image), code=task, sink=_ignore) as box:
        to_task = box.invoke("misbehaving.write_task_root", {})
        to_tmp = box.invoke("misbehaving.write_tmp", {})
        gui = box.invoke("misbehaving.show_plot", {})
    assert not to_task.succeeded
    assert to_task.result["errorType"] in ("OSError", "PermissionError")
    assert "Read-only file system" in to_task.result["errorMessage"] or (
        "Permission denied" in to_task.result["errorMessage"]
    )
    assert to_tmp.succeeded and to_tmp.result == {"ok": True}
    assert not gui.succeeded
    assert gui.result["errorType"] in ("ImportError", "ModuleNotFoundError")  # no tk, no display
    assert managed_containers(docker_client) == []


def test_payload_runs_with_the_built_layer_in_the_read_only_sandbox(
    seed_build: dict[str, Any],
    lambda_image: str,
    tmp_path: Path,
    docker_client: Any,
    aws_env: str,
) -> None:
    bucket = f"sandbox-{uuid.uuid4().hex[:10]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    code = bundled_function().stage(tmp_path / "function")
    environment = {
        "AWS_ENDPOINT_URL": aws_env,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "ARTIFACT_BUCKET": bucket,
    }
    spec = _spec(lambda_image, network="host", environment=environment)
    layer = Path(seed_build["output"])
    with docker_sandbox(docker_client, layer, spec, code=code, sink=_ignore) as box:
        home = box.call(["sh", "-c", 'echo "HOME=$HOME DISPLAY=${DISPLAY:-}"; touch "$HOME/x"'])
        invocation = box.invoke(HANDLER, {"rows": 5000, "seed": 9})
    assert home.stdout.strip() == "HOME=/home/sbx_user1051 DISPLAY=" and home.returncode != 0
    assert invocation.succeeded, invocation.logs
    response = invocation.result
    assert response["status"] == "ok", response
    assert response["library_versions"]["pandas"] == "1.5.3"
    assert response["library_versions"]["numpy"] == "1.26.4"
    keys = {o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket)["Contents"]}
    assert keys == {a["key"] for a in response["artifacts"]}
    events = [json.loads(line)["event"] for line in invocation.logs if line.startswith("{")]
    assert "headless" in events and events.count("uploaded") == 3


def test_gcc_and_python_headers_exist_for_fixtures() -> None:
    assert shutil.which("gcc") is not None
    assert Path(sysconfig.get_paths()["include"], "Python.h").exists()
    subprocess.run(["gcc", "--version"], check=True, capture_output=True)


def test_invoke_local_passes_the_three_checks_in_docker(
    seed_build: dict[str, Any], lambda_image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "invoke-local",
            "--layer",
            seed_build["output"],
            "--image",
            lambda_image,
            "--sandbox",
            "docker",
            "--event",
            '{"rows": 4000, "seed": 2}',
            "--json",
        ]
    )
    proof = json_document(capsys.readouterr().out)
    assert code == 0, proof
    assert all(c["passed"] for c in proof["checks"]) and len(proof["checks"]) == 3
    assert proof["engine"] == f"docker ({lambda_image})"
    assert {a["key"].rsplit("/", 1)[1] for a in proof["artifacts"]} == {
        "data.csv",
        "stats.json",
        "plot.png",
    }


def test_build_smoke_imports_what_it_built(
    lambda_image: str, private_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = private_cache / "smoked" / "six.zip"
    code = main(
        [
            "build",
            "--backend",
            "cross",
            "six==1.16.0",
            "--image",
            lambda_image,
            "--smoke",
            "--sandbox",
            "docker",
            "--json",
            "-o",
            str(output),
        ]
    )
    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert document["smoke"]["passed"] is True
    assert [m["module"] for m in document["smoke"]["modules"]] == ["six"]
