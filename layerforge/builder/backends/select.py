"""Choosing the backend for a spec: cross or docker as asked, or auto (docker when an engine
answers and has the image, asked over its socket without loading the Docker SDK)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from layerforge import containers
from layerforge.builder.backends import BuildBackend
from layerforge.builder.install.choice import choose_installer
from layerforge.builder.request import BackendChoice, InstallerChoice, LayerSpec
from layerforge.containers import platform_of
from layerforge.errors import ContainerError, UsageError
from layerforge.events import Event, EventKind, EventSink
from layerforge.interpreters import Interpreter, find_interpreter, require_interpreter

if TYPE_CHECKING:  # each backend loads only when chosen (a docker build never loads pip's side)
    from layerforge.builder.backends.cross import CrossBackend
    from layerforge.builder.backends.docker import DockerBackend

__all__ = ["select_backend"]


def _bytecode_interpreter(spec: LayerSpec) -> Interpreter | None:
    if spec.python is not None:
        return require_interpreter(spec.python, spec.runtime.python)
    return find_interpreter(spec.runtime.python)


def _cross(spec: LayerSpec) -> CrossBackend:
    from layerforge.builder.backends.cross import CrossBackend  # pip's side, for cross only

    return CrossBackend(spec, _bytecode_interpreter(spec))


def _docker(spec: LayerSpec, sink: EventSink, *, pull: bool) -> DockerBackend:
    from layerforge.builder.backends.docker import DockerBackend  # docker builds only

    image = spec.image or spec.runtime.image
    client = containers.connect()
    if pull:
        containers.ensure_image(client, image, platform=platform_of(spec.architecture), sink=sink)
    elif not containers.has_image(client, image):
        raise ContainerError(f"image {image} is not present locally")
    plan = choose_installer(spec, image_pip=True)
    return DockerBackend(client, image, plan=plan, network=spec.network)


def _known_image(spec: LayerSpec, probe: containers.LocalImage) -> DockerBackend | None:
    """A docker backend for an image the socket says is here, the SDK left for a miss."""
    from layerforge.builder.backends.docker import DockerBackend  # docker builds only

    if not probe.present or probe.id is None:
        return None
    image = spec.image or spec.runtime.image
    plan = choose_installer(spec, image_pip=True)
    return DockerBackend(None, image, plan=plan, network=spec.network, image_id=probe.id)


def select_backend(spec: LayerSpec, sink: EventSink) -> BuildBackend:
    """cross or docker as asked; auto takes docker when a daemon answers and has the image
    (and cross when --installer uv asks for the host's uv)."""
    if spec.installer is InstallerChoice.UV:
        if spec.backend is BackendChoice.DOCKER:
            raise UsageError(
                "--installer uv runs on the host: it goes with --backend cross",
                hint="drop --installer uv, or use --backend cross (or auto)",
            )
        return _cross(spec)
    if spec.backend is BackendChoice.CROSS:
        return _cross(spec)
    image = spec.image or spec.runtime.image
    probe = containers.probe_local_image(image)  # the socket: no SDK loaded for this
    if spec.backend is BackendChoice.DOCKER:
        return _known_image(spec, probe) or _docker(spec, sink, pull=True)
    if probe.present is False:
        note = f"backend auto: using cross (docker unavailable: no local engine has {image})"
        sink(Event(EventKind.NOTE, "backend", note))
        return _cross(spec)
    try:
        backend = _known_image(spec, probe) or _docker(spec, sink, pull=False)
    except ContainerError as unavailable:
        note = f"backend auto: using cross (docker unavailable: {unavailable.message})"
        sink(Event(EventKind.NOTE, "backend", note))
        return _cross(spec)
    sink(Event(EventKind.NOTE, "backend", f"backend auto: using docker ({backend.image})"))
    return backend
