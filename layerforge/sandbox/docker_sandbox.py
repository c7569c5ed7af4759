"""A Lambda-like container: the runtime image, the layer read-only at /opt, read-only root,
a tmpfs /tmp of the ephemeral size, the memory limit, Lambda's variables, an unprivileged user.

Unlike the AWS runtime interface emulator, it enforces the read-only filesystem. An image must be
of the layer's architecture; a foreign one runs only under a registered emulator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from layerforge import containers
from layerforge.containers import Container, Mount, platform_of
from layerforge.errors import SandboxError
from layerforge.events import EventSink
from layerforge.processes import Completed
from layerforge.runtimes import Architecture
from layerforge.sandbox.base import Sandbox
from layerforge.sandbox.emulation import is_emulated, require_emulation
from layerforge.sandbox.environment import (
    RUNNER_DIR,
    TASK_ROOT,
    SandboxSpec,
    lambda_environment,
    prepare_tree,
)
from layerforge.scratch import scratch_dir

__all__ = ["LAMBDA_USER", "docker_sandbox", "require_image_architecture"]

#: Lambda's user (sbx_user1051); not in the image's passwd, so HOME is "/" (read-only).
LAMBDA_USER = "993:990"
_DOCKER_ARCH = {Architecture.X86_64: "amd64", Architecture.ARM64: "arm64"}


def require_image_architecture(client: Any, image: str, arch: Architecture) -> None:
    """The image must be built for the layer's architecture (Docker would otherwise run it,
    under emulation or not at all, and the layer would be judged by the wrong machine)."""
    import docker.errors  # the SDK (80 ms): Docker sandboxes only

    try:
        found = str(client.images.get(image).attrs.get("Architecture", ""))
    except docker.errors.DockerException as exc:
        raise SandboxError(f"cannot inspect image {image}: {exc}") from None
    wanted = _DOCKER_ARCH[arch]
    if found and found != wanted:
        raise SandboxError(
            f"image {image} is for {found}, but the layer is for {arch.value}",
            hint=f"give an {wanted} image with --image (for example one built with "
            f"--platform linux/{wanted})",
        )


def _runner(container: Container) -> Callable[..., Completed]:
    def call(
        command: Sequence[str],
        *,
        timeout: float | None = None,
        on_line: Callable[[str], None] | None = None,
    ) -> Completed:
        # the harness and the runner bound their own time inside the container
        return container.call(command, on_line=on_line)

    return call


@contextmanager
def docker_sandbox(
    client: Any, layer: Path, spec: SandboxSpec, *, code: Path | None = None, sink: EventSink
) -> Iterator[Sandbox]:
    """A running sandbox with ``layer`` at /opt and ``code`` (if any) at /var/task."""
    image = spec.image or spec.runtime.image
    platform = platform_of(spec.architecture)
    containers.ensure_image(client, image, platform=platform, sink=sink)
    require_image_architecture(client, image, spec.architecture)
    require_emulation(spec.architecture)
    with scratch_dir("layerforge-sandbox-") as scratch:
        opt, runner, task = prepare_tree(scratch, layer, code)
        mounts = [Mount(opt, "/opt"), Mount(runner, RUNNER_DIR), Mount(task, TASK_ROOT)]
        container = Container(
            client,
            image,
            mounts=mounts,
            environment=lambda_environment(spec),
            network_mode=spec.network,
            user=LAMBDA_USER,
            read_only=True,
            tmpfs={"/tmp": f"rw,exec,size={spec.ephemeral_mb}m,mode=1777"},
            memory=f"{spec.memory_mb}m",
            platform=platform,
            working_dir=TASK_ROOT,
        )
        with container:
            python = containers.find_python(container, spec.runtime.python_version)
            emulated = is_emulated(spec.architecture)
            engine = f"docker ({image}{', emulated' if emulated else ''})"
            sandbox = Sandbox(_runner(container), [python], spec, engine=engine, emulated=emulated)
            sandbox.check_started()
            yield sandbox
