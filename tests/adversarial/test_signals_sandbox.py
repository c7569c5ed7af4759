"""Real signals sent to commands whose work runs in a sandbox or a container: ``invoke-local
--shards`` (bubblewrap and Docker) and a docker-backend build. They stop at once: no queued
shard runs, the running shards' sandboxed processes are killed and their container removed,
and nothing of the run is left (processes found by the run's marker and by the handler's own
name, containers by the label naming the run's pid).
"""

from __future__ import annotations

import signal
import uuid
from pathlib import Path
from typing import Any

import pytest

from layerforge.containers import OWNER_LABEL
from layerforge.sandbox.bwrap import bwrap_available
from tests.adversarial.conftest import interrupted_cleanly, zip_of
from tests.adversarial.harness import Run, in_folder, ram_folder
from tests.conftest import sandbox_required

pytestmark = [pytest.mark.adversarial, pytest.mark.slow]

needs_bwrap = pytest.mark.skipif(
    bwrap_available() is None and not sandbox_required(), reason="needs bubblewrap"
)
#: Each shard would take this long: a run that waited for its shards could not end in time.
SHARD_SECONDS = 60


def _container_of(client: Any, run: Run) -> list[str]:
    found = client.containers.list(all=True, filters={"label": f"{OWNER_LABEL}={run.pid}"})
    return [c.id for c in found]


def _running(marker: str) -> list[str]:
    """Processes whose command line names ``marker`` (the handler: the sandboxed interpreter
    runs with a cleared environment, so the run's own marker is not in it)."""
    alive = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes():
                alive.append(cmdline.parent.name)
        except OSError:
            continue
    return alive


def _slow_function(folder: Path) -> tuple[Path, str]:
    """A handler that sleeps, in a module named for this run alone."""
    module = f"slow_{uuid.uuid4().hex[:12]}"
    code = folder / "function"
    code.mkdir(parents=True)
    (code / f"{module}.py").write_text(
        f"import time\n\n\ndef main(event, context):\n    time.sleep({SHARD_SECONDS})\n"
        "    return {'ok': True}\n"
    )
    return code, f"{module}.main"


def _fan_out(folder: Path, engine: list[str]) -> tuple[Run, str]:
    layer = zip_of(
        folder / "small.zip",
        {
            "python/marker/__init__.py": b"VALUE = 1\n",
            "python/marker-1.0.dist-info/METADATA": b"Name: marker\nVersion: 1.0\n",
            "python/marker-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nTag: py3-none-any\n",
        },
    )
    code, handler = _slow_function(folder)
    argv = ["invoke-local", "--layer", str(layer), "--function-dir", str(code)]
    argv += ["--handler", handler, "--shards", "6", "--max-concurrency", "2", *engine]
    run = in_folder(
        folder, argv, interrupt_on=r"6 shards .* at once", signum=signal.SIGINT, delay=1.5
    )
    return run, handler.split(".")[0]


@needs_bwrap
def test_ctrl_c_during_local_shards_in_bubblewrap_stops_them_all() -> None:
    with ram_folder("layerforge-shards-") as folder:
        run, module = _fan_out(folder, ["--sandbox", "bwrap"])
        interrupted_cleanly(run, signal.SIGINT)
        assert _running(module) == [], run.describe()
        assert "shard" not in run.err.split(run.before_signal, 1)[-1], run.describe()


def test_ctrl_c_during_local_shards_in_docker_removes_the_container(
    docker_client: Any, lambda_image: str
) -> None:
    with ram_folder("layerforge-shards-") as folder:
        run, module = _fan_out(folder, ["--sandbox", "docker", "--image", lambda_image])
        interrupted_cleanly(run, signal.SIGINT)
        assert _container_of(docker_client, run) == [], run.describe()
        assert _running(module) == [], run.describe()


@pytest.mark.network
def test_sigterm_during_a_docker_build_removes_its_container(
    docker_client: Any, lambda_image: str
) -> None:
    with ram_folder("layerforge-docker-build-") as folder:
        argv = ["build", "six==1.16.0", "pandas==1.5.3", "--backend", "docker"]
        argv += ["--image", lambda_image, "-o", "dist/layer.zip"]
        run = in_folder(
            folder,
            argv,
            interrupt_on=r"Resolving and installing wheels \.\.\.",
            signum=signal.SIGTERM,
            delay=1.0,
        )
        interrupted_cleanly(run, signal.SIGTERM)
        assert _container_of(docker_client, run) == [], run.describe()
        assert "not written: dist/layer.zip; nothing was replaced" in run.error_lines[0]
