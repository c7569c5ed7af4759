"""``--backend auto`` asks the engine's socket whether it has the image, without the Docker SDK:
the quick answer agrees with the SDK, and says "cannot tell" rather than guess; a warm docker
build finds its cache entry from that answer alone and never loads the SDK."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from layerforge.containers import local_image_state, probe_local_image


def test_the_socket_answer_agrees_with_the_sdk(lambda_image: str) -> None:
    assert local_image_state(lambda_image) is True
    assert local_image_state("layerforge/no-such-image:0") is False


def test_the_socket_gives_the_id_the_sdk_gives(docker_client: Any, lambda_image: str) -> None:
    assert probe_local_image(lambda_image).id == docker_client.images.get(lambda_image).id


_WARM = """
import json, sys
from layerforge.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "sdk": "docker" in sys.modules}), file=sys.stderr)
"""


def test_a_warm_docker_build_never_loads_the_sdk(lambda_image: str, tmp_path: Path) -> None:
    argv = ["build", "six==1.16.0", "--backend", "docker", "--image", lambda_image]
    argv += ["-o", str(tmp_path / "layer.zip"), "--json"]
    env = {**os.environ, "LAYERFORGE_CACHE_DIR": str(tmp_path / "cache")}
    seen = []
    for _ in range(2):  # cold, then warm
        done = subprocess.run(
            [sys.executable, "-c", _WARM, *argv],
            check=False,
            env=env,
            capture_output=True,
            text=True,
        )
        seen.append(json.loads(done.stderr.strip().splitlines()[-1]))
        assert seen[-1]["code"] == 0, done.stderr
    assert json.loads(done.stdout)["cached"] is True
    assert seen == [{"code": 0, "sdk": True}, {"code": 0, "sdk": False}]


def test_no_socket_means_no_engine_and_another_host_means_cannot_tell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'absent.sock'}")
    assert local_image_state("busybox:latest") is False
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
    assert local_image_state("busybox:latest") is None
    (tmp_path / "not-a-socket").write_text("")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'not-a-socket'}")
    assert local_image_state("busybox:latest") is None  # a file, not an engine: cannot tell
