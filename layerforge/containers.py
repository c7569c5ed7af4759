"""Docker, behind one small interface: connect, make sure an image is there, run a container.

``Container`` is a context manager (the cibuildwheel model): it starts an idle container,
``call`` runs commands in it, and leaving the block removes it, also after an error or Ctrl-C.
The Docker client is passed in, so the same code talks to any daemon the SDK can reach.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from layerforge.errors import ContainerError, LayerforgeError
from layerforge.events import Event, EventKind, EventSink
from layerforge.interrupts import deferred
from layerforge.processes import Completed
from layerforge.runtimes import Architecture

__all__ = [
    "LABEL",
    "Completed",
    "Container",
    "ContainerError",
    "LocalImage",
    "Mount",
    "connect",
    "daemon_has_bridge",
    "ensure_image",
    "find_python",
    "has_image",
    "image_id",
    "local_image_state",
    "platform_of",
    "probe_local_image",
]

#: Every container layerforge starts carries this label, so leftovers are easy to find.
LABEL = "org.layerforge.managed"


@dataclass(frozen=True)
class Mount:
    source: Path
    target: str
    read_only: bool = True


@dataclass(frozen=True)
class LocalImage:
    """What the local engine's socket says of an image: ``present`` is None when this quick
    look cannot tell (another DOCKER_HOST, no answer); ``id`` is its content id if present."""

    present: bool | None
    id: str | None = None


def platform_of(arch: Architecture) -> str:
    """The Docker platform of an architecture's images (``linux/amd64``, ``linux/arm64``)."""
    return f"linux/{'arm64' if arch is Architecture.ARM64 else 'amd64'}"


def probe_local_image(image: str, timeout: float = 2.0) -> LocalImage:
    """Ask the local engine over its Unix socket about ``image``, without loading the Docker
    SDK (a few milliseconds, where the SDK costs a third of a second). ``--backend auto``
    decides with it, and a warm docker build finds its cache entry (the key holds the image's
    id) before anything heavier is loaded."""
    import http.client  # with ssl, 5 ms: only this probe, never --help

    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        return LocalImage(None)
    path = host.removeprefix("unix://")
    if not Path(path).exists():
        return LocalImage(False)

    class _UnixConnection(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(path)

    connection = _UnixConnection("localhost", timeout=timeout)
    try:
        connection.request("GET", f"/images/{urllib.parse.quote(image, safe='')}/json")
        response = connection.getresponse()
        body = response.read(1 << 20)
    except OSError:
        return LocalImage(None)
    finally:
        connection.close()
    if response.status == 404:
        return LocalImage(False)
    try:
        found = json.loads(body).get("Id") if response.status == 200 else None
    except (ValueError, AttributeError):
        found = None
    return LocalImage(True, found) if isinstance(found, str) else LocalImage(None)


def local_image_state(image: str, timeout: float = 2.0) -> bool | None:
    """Whether the local engine has ``image`` (None: cannot tell), from ``probe_local_image``."""
    return probe_local_image(image, timeout).present


def connect(client_factory: Callable[[], Any] | None = None) -> Any:
    """A Docker client that has answered a ping, or a one-line error saying what to do."""
    import docker  # the SDK (and requests) load only when Docker is used

    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        client = (client_factory or docker.from_env)()
        client.ping()
    except docker.errors.DockerException as exc:
        reason = str(exc)
        if "Permission denied" in reason or "PermissionError" in reason:
            raise ContainerError(
                f"permission denied on the Docker socket ({host})",
                hint="add your user to the docker group, or use --backend cross",
            ) from None
        raise ContainerError(
            f"cannot reach the Docker daemon at {host}",
            hint="start Docker (or set DOCKER_HOST), or use --backend cross",
            details=reason,
        ) from None
    return client


def daemon_has_bridge(client: Any) -> bool:
    """False when the daemon runs without its default bridge (then host networking it is)."""
    import docker.errors  # the SDK, loaded by connect() already

    try:
        return bool(client.networks.list(names=["bridge"]))
    except docker.errors.DockerException:
        return False


def _pull(client: Any, image: str, platform: str | None, sink: EventSink) -> None:
    import docker.errors  # the SDK, loaded by connect() already
    import docker.utils  # the SDK, loaded by connect() already

    repository, tag = docker.utils.parse_repository_tag(image)
    layers: dict[str, tuple[int, int]] = {}
    sink(Event(EventKind.STARTED, "pull", image))
    stream = client.api.pull(
        repository, tag=tag or "latest", stream=True, decode=True, platform=platform
    )
    for message in stream:
        if "error" in message:
            raise docker.errors.APIError(message["error"])
        detail = message.get("progressDetail") or {}
        if "id" in message and detail.get("total"):
            layers[message["id"]] = (int(detail.get("current", 0)), int(detail["total"]))
            done = sum(c for c, _ in layers.values())
            total = sum(t for _, t in layers.values())
            sink(Event(EventKind.PROGRESS, "pull", message.get("status", ""), done, total))
    sink(Event(EventKind.FINISHED, "pull", image))


def ensure_image(client: Any, image: str, *, platform: str | None = None, sink: EventSink) -> None:
    """Use the local image, or pull it with progress events; a clear error if neither works."""
    import docker.errors  # the SDK, loaded by connect() already

    try:
        client.images.get(image)
        return
    except docker.errors.ImageNotFound:
        pass
    except docker.errors.DockerException as exc:
        raise ContainerError(f"cannot inspect image {image}: {exc}") from None
    try:
        _pull(client, image, platform, sink)
    except docker.errors.DockerException as exc:
        raise ContainerError(
            f"image {image} is not available locally and could not be pulled"
            + (f" for {platform}" if platform else ""),
            hint="pass --image with an image you have, or use --backend cross",
            details=str(exc),
        ) from None


@dataclass
class Container:
    """An idle container to run commands in; removed when the ``with`` block ends."""

    client: Any
    image: str
    mounts: Sequence[Mount] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    network_mode: str | None = None
    user: str | None = None
    read_only: bool = False
    tmpfs: Mapping[str, str] = field(default_factory=dict)
    memory: str | None = None
    platform: str | None = None
    working_dir: str | None = None
    _container: Any = None

    def __enter__(self) -> Container:
        import docker.errors  # the SDK, loaded by connect() already

        volumes = {
            str(m.source): {"bind": m.target, "mode": "ro" if m.read_only else "rw"}
            for m in self.mounts
        }
        try:
            self._container = self.client.containers.run(
                self.image,
                entrypoint=["sleep", "infinity"],
                command=[],
                detach=True,
                volumes=volumes,
                environment=dict(self.environment),
                network_mode=self.network_mode,
                user=self.user,
                read_only=self.read_only,
                tmpfs=dict(self.tmpfs),
                mem_limit=self.memory,
                platform=self.platform,
                working_dir=self.working_dir,
                cap_drop=["ALL"],
                security_opt=["no-new-privileges"],
                labels={LABEL: "1"},
            )
        except docker.errors.DockerException as exc:
            self.__exit__(None, None, None)
            raise ContainerError(f"cannot start a container from {self.image}: {exc}") from None
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        import docker.errors  # the SDK, loaded by connect() already

        if self._container is not None:
            with deferred(), contextlib.suppress(docker.errors.DockerException):  # already gone
                self._container.remove(force=True)
            self._container = None

    @property
    def id(self) -> str:
        return str(self._container.id)

    def call(
        self,
        command: Sequence[str],
        *,
        environment: Mapping[str, str] | None = None,
        on_line: Callable[[str], None] | None = None,
        workdir: str | None = None,
    ) -> Completed:
        """Run ``command``; ``on_line`` sees each output line as it comes."""
        import docker.errors  # the SDK, loaded by connect() already

        api = self.client.api
        try:
            exec_id = api.exec_create(
                self._container.id,
                list(command),
                environment=dict(environment or {}),
                workdir=workdir,
                stdout=True,
                stderr=True,
            )["Id"]
            stdout: list[str] = []
            stderr: list[str] = []
            for out, err in api.exec_start(exec_id, stream=True, demux=True):
                for chunk, sink in ((out, stdout), (err, stderr)):
                    if chunk:
                        text = chunk.decode("utf-8", "replace")
                        sink.append(text)
                        if on_line is not None:
                            for line in text.splitlines():
                                on_line(line)
            code = api.exec_inspect(exec_id)["ExitCode"]
        except docker.errors.DockerException as exc:
            raise ContainerError(f"running {command[0]} in {self.image} failed: {exc}") from None
        return Completed(int(code if code is not None else -1), "".join(stdout), "".join(stderr))


def find_python(container: Container, version: str) -> str:
    """The image's own interpreter of ``version`` (Lambda images keep it in /var/lang/bin)."""
    candidates = [f"/var/lang/bin/python{version}", f"python{version}", "python3"]
    script = (
        'for p in "$@"; do command -v "$p" >/dev/null 2>&1 && '
        '"$p" -c "import sys; print(sys.executable, \'%d.%d\' % sys.version_info[:2])"; '
        "done; true"
    )
    found = container.call(["sh", "-c", script, "sh", *candidates])
    for line in found.stdout.splitlines():
        path, _, reported = line.rpartition(" ")
        if reported == version:
            return path
    raise LayerforgeError(
        f"no Python {version} in image {container.image}",
        hint="choose the image of the runtime you build for (--image), or --backend cross",
        details=found.tail(),
    )


def has_image(client: Any, image: str) -> bool:
    """Whether the daemon has ``image`` locally (nothing is pulled)."""
    import docker.errors  # the SDK, loaded by connect() already

    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        return False
    except docker.errors.DockerException as exc:
        raise ContainerError(f"cannot inspect image {image}: {exc}") from None
    return True


def image_id(client: Any, image: str) -> str:
    """The content id of a local image (a tag can move; the id cannot)."""
    import docker.errors  # the SDK, loaded by connect() already

    try:
        return str(client.images.get(image).id)
    except docker.errors.DockerException as exc:
        raise ContainerError(f"cannot inspect image {image}: {exc}") from None


def iter_labelled(client: Any) -> Iterator[Any]:
    """Containers layerforge started that still exist (for cleanup checks)."""
    yield from client.containers.list(all=True, filters={"label": LABEL})
