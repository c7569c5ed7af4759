"""Choosing the sandbox engine: Docker (the runtime image) when it answers, else bubblewrap."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from layerforge import containers
from layerforge.containers import platform_of
from layerforge.errors import (
    CheckFailedError,
    ContainerError,
    LayerforgeError,
    SandboxError,
    UsageError,
)
from layerforge.events import Event, EventKind, EventSink
from layerforge.sandbox.base import Sandbox
from layerforge.sandbox.bwrap import bwrap_sandbox
from layerforge.sandbox.docker_sandbox import docker_sandbox
from layerforge.sandbox.environment import SandboxSpec

__all__ = ["ENGINES", "open_sandbox"]

ENGINES = ("auto", "docker", "bwrap")
#: Docker's errors name the build's way around Docker; the sandbox's is another engine.
_BUILD_ALTERNATIVE = re.compile(r",? or (?:use )?--backend cross\b")


def sandbox_hint(hint: str | None) -> str:
    """A Docker error's hint as it applies to the sandbox (never a build option)."""
    if not hint:
        return "check the engine (Docker image, bubblewrap, emulation) and retry"
    return _BUILD_ALTERNATIVE.sub(", or use --sandbox bwrap", hint)


def _not_started(error: LayerforgeError) -> SandboxError:
    message = error.message
    if not message.startswith("the sandbox could not start"):
        message = f"the sandbox could not start: {message}"
    return SandboxError(message, hint=sandbox_hint(error.hint), details=error.details)


def _docker_client(spec: SandboxSpec, engine: str, sink: EventSink) -> Any:
    image = spec.image or spec.runtime.image
    try:
        client = containers.connect()
        if engine == "docker":
            containers.ensure_image(
                client, image, platform=platform_of(spec.architecture), sink=sink
            )
        elif not containers.has_image(client, image):
            raise ContainerError(f"image {image} is not present locally")
    except ContainerError as unavailable:
        if engine == "docker":
            raise _not_started(unavailable) from None
        note = f"sandbox auto: using bwrap (docker unavailable: {unavailable.message})"
        sink(Event(EventKind.NOTE, "sandbox", note))
        return None
    return client


@contextmanager
def open_sandbox(
    layer: Path,
    spec: SandboxSpec,
    *,
    code: Path | None = None,
    engine: str = "auto",
    sink: EventSink,
) -> Iterator[Sandbox]:
    """``docker``, ``bwrap``, or ``auto``: Docker when a daemon answers and has the image."""
    if engine not in ENGINES:
        raise UsageError(f"unknown sandbox {engine!r}", hint="choose auto, docker or bwrap")
    client = _docker_client(spec, engine, sink) if engine in ("auto", "docker") else None
    if client is None:
        with bwrap_sandbox(layer, spec, code=code) as sandbox:
            yield sandbox
        return
    started = False
    try:
        with docker_sandbox(client, layer, spec, code=code, sink=sink) as sandbox:
            started = True
            yield sandbox
    except LayerforgeError as error:
        # a failure of what ran inside, or of the input, is not one of starting the sandbox
        if started or isinstance(error, (UsageError, CheckFailedError)):
            raise
        raise _not_started(error) from None
