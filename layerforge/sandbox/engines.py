"""Choosing the sandbox engine: Docker (the runtime image) when it answers, else bubblewrap."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from layerforge import containers
from layerforge.builder.docker import platform_of
from layerforge.errors import UsageError
from layerforge.events import Event, EventKind, EventSink
from layerforge.sandbox.bwrap import bwrap_sandbox
from layerforge.sandbox.docker import Sandbox, docker_sandbox
from layerforge.sandbox.environment import SandboxSpec

__all__ = ["ENGINES", "open_sandbox"]

ENGINES = ("auto", "docker", "bwrap")


@contextmanager
def open_sandbox(
    layer: Path, spec: SandboxSpec, *, code: Path | None = None, engine: str = "auto",
    sink: EventSink,
) -> Iterator[Sandbox]:  # fmt: skip
    """``docker``, ``bwrap``, or ``auto``: Docker when a daemon answers and has the image."""
    if engine not in ENGINES:
        raise UsageError(f"unknown sandbox {engine!r}", hint="choose auto, docker or bwrap")
    client = None
    if engine in ("auto", "docker"):
        image = spec.image or spec.runtime.image
        try:
            client = containers.connect()
            containers.ensure_image(client, image, platform=platform_of(spec.architecture),
                                    sink=sink)  # fmt: skip
        except containers.ContainerError as unavailable:
            if engine == "docker":
                raise
            note = f"sandbox auto: using bwrap (docker unavailable: {unavailable.message})"
            sink(Event(EventKind.NOTE, "sandbox", note))
            client = None
    if client is None:
        with bwrap_sandbox(layer, spec, code=code) as sandbox:
            yield sandbox
        return
    with docker_sandbox(client, layer, spec, code=code, sink=sink) as sandbox:
        yield sandbox
