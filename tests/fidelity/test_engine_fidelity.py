"""Proof you can trust, with a real engine: arm64 layers are imported by arm64 Python (under
qemu), images of the wrong architecture are refused, signals remove containers, a killed build
says so, and the same wheels give the same bytes whatever built them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from layerforge.cli import main
from layerforge.containers import LABEL, OWNER_LABEL
from tests.adversarial.conftest import failed_cleanly
from tests.adversarial.harness import Run, run_layerforge
from tests.conftest import json_document, managed_containers

pytestmark = [pytest.mark.slow, pytest.mark.network]

ARM_PINS = ["numpy==1.26.4", "six==1.16.0"]


@pytest.fixture(scope="module")
def arm_layer(private_cache: Path) -> Path:
    output = private_cache / "arm64" / "layer.zip"
    code = main(["build", *ARM_PINS, "--arch", "arm64", "--backend", "cross", "-o", str(output)])
    assert code == 0
    return output


def test_an_arm64_layer_is_imported_by_arm64_python(
    arm_layer: Path, arm64_image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["smoke", str(arm_layer), "--image", arm64_image, "--sandbox", "docker", "--json"])
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["architecture"] == "arm64" and report["emulated"] is True
    assert "emulated" in report["engine"]
    assert {m["module"] for m in report["modules"] if m["ok"]} == {"numpy", "six"}


def test_an_x86_64_layer_fails_when_imported_as_arm64(
    seed_build: dict[str, Any], arm64_image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "smoke",
            seed_build["output"],
            "--arch",
            "arm64",
            "--image",
            arm64_image,
            "--sandbox",
            "docker",
            "--json",
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    failed = {m["module"]: m["error"] for m in report["modules"] if not m["ok"]}
    assert "numpy" in failed and "pandas" in failed


def test_the_bwrap_sandbox_runs_arm64_in_an_arm64_root(
    arm_layer: Path, arm64_rootfs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["smoke", str(arm_layer), "--sandbox", "bwrap", "--rootfs", str(arm64_rootfs), "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["emulated"] is True and "arm64 root" in report["engine"]


def test_an_image_of_the_wrong_architecture_is_refused(
    arm_layer: Path, lambda_image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["smoke", str(arm_layer), "--image", lambda_image, "--sandbox", "docker"]) == 3
    err = capsys.readouterr().err
    assert "is for amd64, but the layer is for arm64" in err


def test_the_docker_backend_builds_arm64_in_an_arm64_image_with_the_same_bytes(
    arm_layer: Path,
    arm64_image: str,
    private_cache: Path,
    capsys: pytest.CaptureFixture[str],
    docker_client: Any,
) -> None:
    output = private_cache / "arm64-docker" / "layer.zip"
    code = main(
        [
            "build",
            *ARM_PINS,
            "--arch",
            "arm64",
            "--backend",
            "docker",
            "--image",
            arm64_image,
            "--json",
            "-o",
            str(output),
        ]
    )
    document = json.loads(capsys.readouterr().out)
    assert code == 0, document
    assert document["backend"] == "docker"
    assert output.read_bytes() == arm_layer.read_bytes()  # cross and docker: one sha256
    assert managed_containers(docker_client) == []


def test_cross_and_docker_builds_of_the_seed_are_the_same_bytes(
    seed_build: dict[str, Any],
    lambda_image: str,
    private_cache: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    output = private_cache / "docker-same" / "seed.zip"
    code = main(
        ["build", "--backend", "docker", "--image", lambda_image, "--json", "-o", str(output)]
    )
    document = json.loads(capsys.readouterr().out)
    assert code == 0, document
    assert document["sha256"] == seed_build["sha256"]


def test_builds_from_two_virtualenvs_are_the_same_bytes(tmp_path: Path) -> None:
    """numpy ships a console script (f2py) whose shebang names the installing interpreter."""
    outputs = []
    import layerforge

    site = next(p for p in sys.path if p.endswith("site-packages"))
    site += os.pathsep + str(Path(layerforge.__file__).parents[1])
    for name in ("first-venv", "second-venv-with-a-longer-path"):
        venv = tmp_path / name
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        output = tmp_path / f"{name}.zip"
        done = subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-m",
                "layerforge",
                "build",
                "numpy==1.26.4",
                "--backend",
                "cross",
                "--no-cache",
                "-o",
                str(output),
            ],
            env={**os.environ, "PYTHONPATH": site},
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        outputs.append(output.read_bytes())
    assert outputs[0] == outputs[1]


def _labelled(docker_client: Any, run: Run) -> list[str]:
    """The containers of that run still there (others on the engine are not its)."""
    mine = {"label": [LABEL, f"{OWNER_LABEL}={run.pid}"]}
    return [c.id for c in docker_client.containers.list(all=True, filters=mine)]


@pytest.mark.parametrize(
    ("argv", "phase"),
    [
        (
            ["build", "six==1.16.0", "pandas==1.5.3", "--backend", "docker", "-o", "l.zip"],
            r"Resolving and installing wheels \.\.\.",
        ),
        (["smoke", "{seed}", "--sandbox", "docker"], r"Importing modules in the sandbox \.\.\."),
    ],
)
def test_sigterm_removes_the_container(
    argv: list[str],
    phase: str,
    lambda_image: str,
    seed_build: dict[str, Any],
    tmp_path: Path,
    docker_client: Any,
) -> None:
    argv = [a.format(seed=seed_build["output"]) for a in argv] + ["--image", lambda_image]
    run = run_layerforge(argv, tmp=tmp_path, interrupt_on=phase, timeout=300)
    failed_cleanly(run, 143, "interrupted by SIGTERM", bound=300)
    assert _labelled(docker_client, run) == []


def test_a_build_container_killed_during_pip_is_reported_as_killed(
    lambda_image: str, tmp_path: Path, docker_client: Any
) -> None:
    """Real: pip's process in the container is SIGKILLed from the host, as the OOM killer does."""
    stop = threading.Event()

    def kill_pip() -> None:
        while not stop.is_set():
            for container in docker_client.containers.list(filters={"label": LABEL}):
                for process in container.top().get("Processes", []):
                    command = " ".join(process[7:])  # pip downloads (pip+uv) or installs
                    if "pip" in command and ("install" in command or "download" in command):
                        os.kill(int(process[1]), signal.SIGKILL)
                        return
            time.sleep(0.2)

    killer = threading.Thread(target=kill_pip, daemon=True)
    killer.start()
    try:
        run = run_layerforge(
            [
                "build",
                "pandas==1.5.3",
                "--backend",
                "docker",
                "--image",
                lambda_image,
                "--no-cache",
                "-o",
                "l.zip",
            ],
            tmp=tmp_path,
            timeout=300,
        )
    finally:
        stop.set()
    failed_cleanly(run, 3, "was killed during pip (exit 137)", bound=300)
    assert "memory" in run.hint_lines[0]
    assert _labelled(docker_client, run) == []


def test_invoke_local_runs_arm64_for_real(
    arm_layer: Path, arm64_image: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "app.py").write_text(
        "import platform\nimport numpy\n"
        "def main(event, context):\n"
        "    return {'machine': platform.machine(), 'sum': int(numpy.arange(10).sum())}\n"
    )
    (tmp_path / "proof.toml").write_text(
        "[response]\nassert = [{path = 'machine', equals = 'aarch64'},"
        " {path = 'sum', equals = 45}]\n"
    )
    code = main(
        [
            "invoke-local",
            "--layer",
            str(arm_layer),
            "--function-dir",
            str(tmp_path),
            "--handler",
            "app.main",
            "--proof",
            str(tmp_path / "proof.toml"),
            "--image",
            arm64_image,
            "--sandbox",
            "docker",
            "--json",
        ]
    )
    proof = json_document(capsys.readouterr().out)
    assert code == 0, proof
    assert proof["architecture"] == "arm64" and "emulated" in proof["engine"]
