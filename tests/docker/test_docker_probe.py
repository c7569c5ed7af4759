"""``--backend auto`` asks the engine's socket whether it has the image, without the Docker SDK:
the quick answer agrees with the SDK, and says "cannot tell" rather than guess."""

from __future__ import annotations

from pathlib import Path

import pytest

from layerforge.containers import local_image_state


def test_the_socket_answer_agrees_with_the_sdk(lambda_image: str) -> None:
    assert local_image_state(lambda_image) is True
    assert local_image_state("layerforge/no-such-image:0") is False


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
